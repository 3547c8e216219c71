"""Per-chunk deadlines with a fake clock: a worker that keeps beating but never answers cannot stall a request."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from swtts.broker.scheduler.deadlines import chunk_deadline_s
from swtts.client import TTSError
from swtts.config import load_settings
from swtts.protocol import (
    Audio,
    Disconnect,
    Done,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Ready,
    Task,
    VoiceDescription,
    WorkerState,
    decode,
)
from tests.helpers import START_TIMEOUT_S, Processes, Service, start_worker, wait_for
from tests.test_reliability import FAST, RawPeer, write_config
from tests.test_scheduler import CLIENT, Harness, chunk, ready, submit

DEADLINE_S = 5.0


def harness(**service: object) -> Harness:
    overrides = {f"service__{key}": value for key, value in service.items()}
    return Harness(
        load_settings().override(chunker__max_chunk_chars=40, service__chunk_deadline_min_s=DEADLINE_S, **overrides)
    )


def wait(h: Harness, seconds: float, *alive: bytes) -> None:
    """Let ``seconds`` pass in one-second ticks while the ``alive`` workers keep beating."""
    for _ in range(int(seconds)):
        h.clock.now += 1
        for worker in alive:
            h.handle(worker, Heartbeat())
        h.scheduler.tick()
        h.collect()


def test_the_bound_follows_the_chunks_expected_audio_with_a_floor() -> None:
    service = (
        load_settings()
        .override(
            service__chunk_deadline_chars_per_s=15.0,
            service__chunk_deadline_factor=2.0,
            service__chunk_deadline_min_s=10.0,
        )
        .service
    )
    assert chunk_deadline_s(service, "Hi.") == 10.0
    assert chunk_deadline_s(service, "x" * 900) == pytest.approx(120.0)  # 60 s of speech, twice that


def test_an_unanswered_chunk_goes_to_another_worker_and_its_worker_is_stalled() -> None:
    h = harness()
    h.handle(b"w1", ready())
    h.handle(b"w2", ready())
    h.handle(CLIENT, submit("r", "Only one sentence."))
    assert [chunk(t) for t in h.tasks(b"w1")] == ["r:0"] and h.tasks(b"w2") == []
    wait(h, DEADLINE_S - 1, b"w1", b"w2")
    assert h.tasks(b"w2") == [], "within its deadline a chunk stays with its worker"
    wait(h, 2, b"w1", b"w2")
    assert [chunk(t) for t in h.tasks(b"w2")] == ["r:0"], "past it, the chunk goes to the other worker"
    stalled = h.scheduler.workers[b"w1"]
    assert stalled.state is WorkerState.STALLED and stalled.missed_deadlines == 1
    assert h.scheduler.status().workers[0].state is WorkerState.STALLED
    assert h.scheduler.status().workers[0].missed_deadlines == 1
    assert h.scheduler.state.metrics.chunks.labels("overdue")._value.get() == 1

    h.finish(b"w1", h.tasks(b"w1")[0], samples=99)  # the late answer
    assert h.to(CLIENT, Audio) == [], "a late answer is ignored"
    assert h.scheduler.workers[b"w1"].state is WorkerState.READY, "a worker that answers is no longer stalled"
    h.finish(b"w2", h.tasks(b"w2")[0], samples=10)
    audio = h.to(CLIENT, Audio)
    assert len(audio) == 1 and len(audio[0].pcm) == 20 and len(h.to(CLIENT, Done)) == 1


def test_a_stalled_worker_gets_no_work_until_it_answers() -> None:
    h = harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Only one sentence."))
    wait(h, DEADLINE_S + 1, b"w1")
    assert len(h.tasks(b"w1")) == 1 and h.scheduler.requests["r"].pending, "re-queued, but nobody may take it"
    h.handle(b"w1", Failed("r", 0, "late"))
    assert h.to(CLIENT, Error) == [], "a late failure does not fail the request either"
    assert [chunk(t) for t in h.tasks(b"w1")] == ["r:0", "r:0"], "answering makes it a worker again"


def test_the_poison_cap_applies_to_missed_deadlines() -> None:
    h = harness(max_attempts=2)
    for worker in (b"w1", b"w2", b"w3"):
        h.handle(worker, ready())
    h.handle(CLIENT, submit("r", "Nobody will ever answer this."))
    wait(h, 2 * (DEADLINE_S + 1), b"w1", b"w2", b"w3")
    errors = h.to(CLIENT, Error)
    assert len(errors) == 1 and errors[0].code == ErrorCode.WORKER_LOST and "tried 2 times" in errors[0].message
    assert h.tasks(b"w3") == [], "no third try"
    assert "r" not in h.scheduler.requests


def test_a_worker_holding_several_chunks_misses_only_those_past_their_own_bound() -> None:
    h = harness(chunk_deadline_chars_per_s=1.0, chunk_deadline_factor=1.0)  # bound = characters, in seconds
    h.handle(b"w1", ready(capacity=2))
    h.handle(CLIENT, submit("r", "Short one. " + "A much longer sentence follows it here."))
    short, long = sorted(h.tasks(b"w1"), key=lambda t: len(t.text))
    assert isinstance(short, Task) and len(short.text) < len(long.text)
    wait(h, len(short.text) + 1, b"w1")
    assert h.scheduler.workers[b"w1"].overdue == {("r", short.index)}
    assert ("r", long.index) in h.scheduler.workers[b"w1"].in_flight


# ----- through real processes -----------------------------------------------------------------


@pytest.mark.e2e
def test_a_worker_that_never_answers_delays_a_request_by_at_most_its_chunk_deadline(tmp_path: Path) -> None:
    """A raw-zmq fake worker READYs and heartbeats but never answers; a real worker stands beside it.

    The fake joins first, so it is given the chunk; the request still completes well within its
    own deadline (without chunk deadlines it would wait for it to the end), from the real worker.
    """
    processes = Processes(tmp_path)
    config = write_config(tmp_path / "config.toml", service={"chunk_deadline_min_s": 3.0})
    service = Service(processes, config, workers=0)
    fake = RawPeer(service.endpoint)
    outcome: dict[str, Any] = {}
    try:
        wait_for(lambda: service.status(), START_TIMEOUT_S, "the broker")
        voice = VoiceDescription("en_US-joe-medium", "en_US", "en-us", 22050)
        fake.send(Ready(voice, "fake-hash", "cpu", "fake-host", 4242).encode())
        assert fake.ping().workers == 1
        real = start_worker(processes, service.endpoint, config)

        def both_ready() -> bool:
            fake.send(Heartbeat().encode())  # the fake keeps beating while the real worker loads its voice
            return fake.ping().ready == 2

        wait_for(both_ready, START_TIMEOUT_S, "the real worker beside the fake")

        def speak() -> None:
            try:
                with service.client() as client:
                    outcome["result"] = client.synthesize("Hello from the real worker.", replace(FAST, deadline_s=60))
            except TTSError as exc:
                outcome["error"] = exc

        speaker = threading.Thread(target=speak)
        speaker.start()
        tasks: list[Task] = []
        while speaker.is_alive():  # the fake: beats, takes tasks, never answers
            fake.send(Heartbeat().encode())
            while fake.socket.poll(200):
                message = decode(fake.socket.recv_multipart())
                if isinstance(message, Task):
                    tasks.append(message)
        assert "error" not in outcome, outcome.get("error")
        result = outcome["result"]
        assert len(tasks) == 1, "the fake was given the chunk first"
        assert [chunk.worker for chunk in result.chunks] == [f"{socket.gethostname()}:{real.pid}"]
        fake_status = next(w for w in service.status().workers if w.worker == "fake-host:4242")
        assert fake_status.state is WorkerState.STALLED and fake_status.missed_deadlines == 1
        assert "did not answer chunk" in service.log_text(tail=10**9)
    finally:
        fake.close()
        processes.stop_all()


# ----- no worker at all -----------------------------------------------------------------------

NO_WORKER_S = 3.0


def test_a_request_without_a_worker_fails_fast_saying_so() -> None:
    h = harness(no_worker_timeout_s=NO_WORKER_S)
    h.handle(CLIENT, submit("r", "Is anyone there?"))
    wait(h, NO_WORKER_S - 1)
    assert h.to(CLIENT, Error) == [], "a worker may still be on its way"
    wait(h, 1)
    errors = h.to(CLIENT, Error)
    assert [(e.code, e.request_id) for e in errors] == [(ErrorCode.UNAVAILABLE, "r")]
    assert errors[0].message.startswith("no worker is connected; waited 3 s")
    assert "r" not in h.scheduler.requests


def test_a_worker_of_another_voice_does_not_count() -> None:
    h = harness(no_worker_timeout_s=NO_WORKER_S)
    h.handle(CLIENT, submit("r", "Bonjour.", voice="fr"))  # asked before any worker: cannot be checked yet
    h.handle(b"w1", ready("en_US-lessac-high"))
    wait(h, NO_WORKER_S, b"w1")
    assert h.to(CLIENT, Error)[0].message.startswith("no worker is connected with voice 'fr'; waited 3 s")


def test_busy_workers_and_a_worker_arriving_in_time_are_no_reason_to_fail() -> None:
    h = harness(no_worker_timeout_s=NO_WORKER_S)
    h.handle(CLIENT, submit("late", "A worker comes just in time."))
    wait(h, NO_WORKER_S - 1)
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("queued", "This one waits behind it."))
    wait(h, NO_WORKER_S * 2, b"w1")
    assert h.to(CLIENT, Error) == [], "a busy worker is a queue, not an absence"
    assert [chunk(t) for t in h.tasks(b"w1")] == ["late:0"]


def test_a_stream_waiting_for_text_is_no_reason_to_fail() -> None:
    h = harness(no_worker_timeout_s=NO_WORKER_S)
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("s", "First sentence.", more=True))
    h.finish(b"w1", h.tasks(b"w1")[0])
    h.handle(b"w1", Disconnect())
    wait(h, NO_WORKER_S * 2)
    assert h.to(CLIENT, Error) == [], "nothing waits for a worker while the producer is still thinking"


def test_only_stalled_workers_count_as_none() -> None:
    h = harness(no_worker_timeout_s=NO_WORKER_S)
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Only one sentence."))
    wait(h, DEADLINE_S + NO_WORKER_S + 1, b"w1")
    error = h.to(CLIENT, Error)[0]
    assert error.code == ErrorCode.UNAVAILABLE
    assert error.message.startswith("no worker is connected that answers: 1 with voice 'voice-a' stalled")
