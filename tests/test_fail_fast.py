"""Fail fast: a request nobody can serve says so in seconds, in one line, through real processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.helpers import START_TIMEOUT_S, Processes, Service, wait_for
from tests.helpers import run_swtts as swtts
from tests.test_reliability import write_config

pytestmark = pytest.mark.e2e


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("swtts: error: "), done.stderr
    return lines[0].removeprefix("swtts: error: ")


def test_say_to_a_broker_without_workers_fails_within_the_no_worker_timeout(tmp_path: Path) -> None:
    processes = Processes(tmp_path)
    config = write_config(tmp_path / "config.toml", service={"no_worker_timeout_s": 1.0})
    try:
        service = Service(processes, config, workers=0)
        wait_for(lambda: service.status(), START_TIMEOUT_S, "the broker")
        # Without the rule the request waits for its 900 s deadline, far past this timeout.
        done = swtts(
            "say",
            "--connect",
            service.endpoint,
            "--config",
            str(config),
            "Hello?",
            "-o",
            str(tmp_path / "a.wav"),
            timeout=90,
        )
        assert one_error_line(done) == "no worker is connected; waited 1 s (service.no_worker_timeout_s) [unavailable]"
        assert not (tmp_path / "a.wav").exists()
        assert service.process.poll() is None and service.status().queue.requests == 0
    finally:
        processes.stop_all()


def test_say_to_a_dead_endpoint_fails_as_quickly_as_ping(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", service={"client_connect_timeout_s": 1.0})
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # Without the rule the client retries a silent broker: client_timeout_s x (client_retries + 1) = 40 s.
    done = swtts(
        "say", "--connect", endpoint, "--config", str(config), "Hello?", "-o", str(tmp_path / "a.wav"), timeout=30
    )
    assert one_error_line(done) == (
        f"no answer from the broker at {endpoint} within 1 s (service.client_connect_timeout_s); "
        "is it running? [unavailable]"
    )
    ping = swtts("ping", "--connect", endpoint, "--config", str(config), timeout=30)
    assert ping.returncode == 1 and "no answer from the broker" in ping.stderr
