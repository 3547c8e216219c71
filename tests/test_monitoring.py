"""Monitoring end to end: Prometheus metrics move, status lists workers, a dead worker shows dead."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swtts.config import Settings
from swtts.protocol import WorkerState, WorkerStatus
from swtts.service import EmbeddedService
from tests.helpers import cache_config, free_port, run_swtts, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def monitored(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    watched = settings.override(
        cache__dir=str(tmp_path_factory.mktemp("monitored-cache")),
        metrics__enabled=True,
        metrics__port=free_port(),
        service__heartbeat_interval_s=0.5,
    )
    with EmbeddedService(watched, workers=2) as service:
        yield service


def scrape(service: EmbeddedService) -> dict[str, float]:
    url = f"http://127.0.0.1:{service.settings.metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def test_metrics_move_as_requests_run(monitored: EmbeddedService) -> None:
    before = scrape(monitored)
    with monitored.client() as client:
        client.synthesize("Metrics should move now. Two sentences here.")
        client.synthesize("Metrics should move now. Two sentences here.")
    after = scrape(monitored)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('swtts_requests_total{outcome="completed"}') == 2
    assert delta('swtts_chunks_total{outcome="synthesized"}') >= 1
    assert delta('swtts_cache_total{result="hit"}') >= 1
    assert delta("swtts_request_latency_seconds_count") == 2
    assert delta("swtts_time_to_first_audio_seconds_count") == 2
    assert delta('swtts_stage_seconds_count{stage="synthesis"}') >= 1
    assert delta("swtts_audio_seconds_total") > 1.0
    ready = sum(v for k, v in after.items() if k.startswith("swtts_workers{") and 'device="cpu"' in k)
    assert ready == 2
    assert after["swtts_queue_chunks"] == 0


def test_status_json_lists_connected_workers(monitored: EmbeddedService) -> None:
    def status_json() -> dict[str, Any]:
        done = run_swtts("status", "--connect", monitored.endpoint, "--json", timeout=60)
        assert done.returncode == 0, done.stderr
        status: dict[str, Any] = json.loads(done.stdout)
        return status

    before = status_json()
    with monitored.client() as client:
        client.synthesize("The status counts what the cache holds.")
        stats = client.cache_stats()
    assert stats is not None
    status = status_json()
    live = [w for w in status["workers"] if w["state"] != "dead"]
    assert len(live) == 2
    assert {w["voice"] for w in live} == {"en_US-joe-medium"}
    assert {w["device"] for w in live} == {"cpu"}
    assert status["cache"]["entries"] == stats.entries > before["cache"]["entries"]
    assert set(status["queue"]) == {"requests", "pending_chunks", "in_flight_chunks"}


def test_a_killed_worker_shows_as_dead_and_is_replaced(monitored: EmbeddedService) -> None:
    with monitored.client() as client:
        victim = client.status().workers[0]
        os.kill(int(victim.worker.rsplit(":", 1)[1]), signal.SIGKILL)

        def dead_and_replaced() -> list[WorkerStatus] | None:
            workers = client.status().workers
            dead = [w for w in workers if w.state is WorkerState.DEAD and w.worker == victim.worker]
            live = [w for w in workers if w.state is not WorkerState.DEAD]
            return dead if dead and len(live) == 2 else None

        dead = wait_for(dead_and_replaced, 60, "the killed worker to show dead and the supervisor to replace it")
        assert dead[0].reason in ("heartbeat lost", "unreachable")
        assert client.synthesize("Still serving after a worker died.").duration_s > 0.5
    dead_gauge = sum(v for k, v in scrape(monitored).items() if k.startswith("swtts_workers{") and 'state="dead"' in k)
    assert dead_gauge >= 1


def test_one_info_line_per_request_without_the_text(tmp_path: Path, settings: Settings) -> None:
    config = cache_config(tmp_path / "config.toml", settings)
    secret = "The quick brown fox jumps over the lazy dog."
    done = run_swtts(
        "--log-level",
        "INFO",
        "say",
        secret,
        "-o",
        str(tmp_path / "x.wav"),
        "--workers",
        "1",
        "--no-cache",
        "--config",
        str(config),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "swtts.broker.scheduler" in line and " done: " in line]
    assert len(lines) == 1
    assert re.search(r"request \w+ done: 44 chars, 1 chunks \(0 cached\), [\d.]+ s audio, first audio \d+ ms", lines[0])
    assert secret not in done.stderr
