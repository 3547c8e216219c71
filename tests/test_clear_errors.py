"""Bad input and bad luck, told plainly: one line per CLI error, warnings that a flood cannot
multiply, and no silent file for a text with nothing to say."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swtts.broker.ratelimit import RateLimitedLog
from swtts.client import InvalidRequestError
from swtts.protocol import Audio, Done, Error, ErrorCode
from swtts.service import EmbeddedService
from tests.conftest import REPO, free_port
from tests.helpers import START_TIMEOUT_S, Processes, Service, wait_for
from tests.helpers import run_swtts as swtts
from tests.test_reliability import RawPeer, write_config
from tests.test_scheduler import CLIENT, Harness, ready, submit

LOGGER = logging.getLogger("test.peers")


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1 and done.stdout == "", done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("swtts: error: "), done.stderr
    return lines[0].removeprefix("swtts: error: ")


# ----- one line, naming what the user gave ---------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.e2e
def test_a_port_in_use_is_one_line_naming_the_endpoint(taken_port: int) -> None:
    endpoint = f"tcp://127.0.0.1:{taken_port}"
    done = swtts("serve", "--workers", "0", "--bind", endpoint, timeout=60)
    assert one_line(done) == f"cannot bind {endpoint}: Address already in use"
    metrics = swtts(
        "serve", "--workers", "0", "--bind", f"tcp://127.0.0.1:{free_port()}", "--metrics-port", str(taken_port)
    )
    assert one_line(metrics) == f"cannot serve metrics on http://127.0.0.1:{taken_port}: Address already in use"


@pytest.mark.e2e
def test_an_error_of_any_kind_is_one_line_and_debug_adds_the_traceback() -> None:
    bad = "tcp://a b:5555"  # passes the endpoint's shape, but ZeroMQ refuses it
    assert one_line(swtts("ping", "--connect", bad)).startswith("ZMQError: Invalid argument")
    debug = swtts("--log-level", "debug", "ping", "--connect", bad)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1].startswith("swtts: error: ZMQError")


# ----- a flood of bad messages is a few lines ------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_warning_per_peer_per_window_then_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(interval_s=10.0, budget=3, clock=clock)
    with caplog.at_level(logging.WARNING):
        for peer in [b"a"] * 100 + [b"b"] * 5 + [b"c", b"d", b"e"]:
            limited.warning(peer, LOGGER, "bad message from %s", peer.decode())
        assert [r.getMessage() for r in caplog.records] == [f"bad message from {p}" for p in "abc"]
        clock.now = 10.0
        limited.flush()
        assert caplog.records[-1].getMessage() == "105 more warning(s) about 4 peer(s) suppressed in the last 10 s"
        limited.warning(b"a", LOGGER, "bad message from %s", "a")
    assert caplog.records[-1].getMessage() == "bad message from a", "a new window speaks again"
    assert len(caplog.records) == 5


@pytest.mark.e2e
def test_a_flood_of_garbage_is_a_few_log_lines_and_the_broker_goes_on(tmp_path: Path) -> None:
    processes = Processes(tmp_path)
    try:
        service = Service(processes, write_config(tmp_path / "config.toml"), workers=0, log_level="WARNING")
        wait_for(lambda: service.status(), START_TIMEOUT_S, "the broker")
        peers = [RawPeer(service.endpoint) for _ in range(3)]
        try:
            for _ in range(2000):
                for peer in peers:
                    peer.send([b"this is not a message"])
            assert peers[0].ping(timeout=60).workers == 0, "the broker still answers"
        finally:
            for peer in peers:
                peer.close()
        wait_for(lambda: "suppressed" in service.log_text(tail=10**6), 60.0, "the count of suppressed warnings")
        lines = service.log_text(tail=10**6).splitlines()
        assert len([line for line in lines if "bad message from" in line]) == 3, "one per peer"
        counts = [re.search(r"(\d+) more warning\(s\) about \d peer\(s\) suppressed", line) for line in lines]
        assert sum(int(found.group(1)) for found in counts if found) == 3 * 2000 - 3, lines
        assert len(lines) < 10
    finally:
        processes.stop_all()


# ----- nothing to speak ----------------------------------------------------------------------


def test_a_request_whose_audio_is_empty_fails_instead_of_giving_silence() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "... ?!"))
    h.finish(b"w1", h.tasks(b"w1")[0], samples=0)
    errors = h.to(CLIENT, Error)
    assert [(e.code, e.request_id) for e in errors] == [(ErrorCode.EMPTY_TEXT, "r")]
    assert errors[0].message.startswith("nothing to speak") and h.to(CLIENT, Done) == []
    assert len(h.to(CLIENT, Audio)) == 1


@pytest.mark.e2e
def test_punctuation_only_text_is_a_clear_error(service: EmbeddedService, tmp_path: Path) -> None:
    client = service.client()
    for text in ("...", "?! -- ...", "\u2014 \u2026"):
        with pytest.raises(InvalidRequestError) as nothing:
            client.synthesize(text)
        assert nothing.value.code == "empty_text" and nothing.value.message.startswith("nothing to speak")
    with pytest.raises(InvalidRequestError, match="nothing to speak"):
        list(client.stream(iter(["... ", "? ", "--"])))
    assert client.synthesize("Still fine. ...").duration_s > 0.5, "punctuation beside words is no error"
    out = tmp_path / "silence.wav"
    done = subprocess.run(
        [sys.executable, "-P", "-m", "swtts", "say", "--connect", service.endpoint, "...", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert one_line(done).startswith("nothing to speak") and not out.exists()
