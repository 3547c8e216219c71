"""The worker with a fake engine: batching order, the solo flag, unusable tasks, heartbeats while speaking."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import zmq

from swtts.config import Settings, load_settings
from swtts.pipeline.normalize import VERSION
from swtts.protocol import (
    Failed,
    Heartbeat,
    Message,
    Ready,
    Result,
    SynthesisParams,
    Task,
    decode,
)
from swtts.workers.engine import Synthesized, VoiceInfo
from swtts.workers.worker import Worker

WAIT_S = 10.0  # only a guard against hanging: heartbeats here come every 0.1 s


class FakeEngine:
    batching = True
    solo_threads = 0
    info = VoiceInfo("fake", "fake.onnx", "hash", 22050, 1, {}, "en_US", "en-us", "cpu")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.solo_calls: list[bool] = []

    def synthesize(self, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        self.calls.append([text])
        self.solo_calls.append(solo)
        return Synthesized(b"\x00\x00", 22050, [1], "p", 1.0)

    def synthesize_batch(self, items: list[tuple[str, SynthesisParams]], max_rows: int) -> list[Synthesized]:
        self.calls.append([text for text, _ in items])
        return [Synthesized(b"\x00\x00", 22050, [1], "p", 1.0) for _ in items]


def test_short_first_chunk_is_not_held_back_by_long_neighbours() -> None:
    engine = FakeEngine()
    worker = Worker(engine, load_settings().override(voice__batch_max_size=4))  # type: ignore[arg-type]
    long_text = " ".join(f"Sentence {n} is long enough." for n in ("one", "two", "three"))
    tasks = [Task("r", i, long_text) for i in (1, 2)] + [Task("r", 0, "Hi there.")]
    answers = list(worker._run_tasks(tasks))
    assert [(a.request_id, a.index) for a in answers] == [("r", 0), ("r", 1), ("r", 2)]
    assert engine.calls == [["Hi there."], [long_text], [long_text]]  # the first chunk shares no padded pass
    assert worker.capacity == 4


def test_a_task_marked_solo_runs_on_the_solo_session_and_says_so() -> None:
    engine = FakeEngine()
    engine.batching = False
    engine.solo_threads = 2
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    tasks = [decode(Task("r", 0, "Alone.", solo=True).encode()), decode(Task("r", 1, "Shared.").encode())]
    answers = [answer for task in tasks for answer in worker._run_tasks([task])]  # type: ignore[list-item]
    assert engine.solo_calls == [True, False]
    assert [isinstance(a, Result) and a.solo for a in answers] == [True, False]
    assert worker._ready().solo is True


def test_solo_is_never_claimed_without_a_solo_session() -> None:
    engine = FakeEngine()
    engine.batching = False
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    answers = list(worker._run_tasks([Task("r", 0, "Alone.", solo=True)]))
    assert isinstance(answers[0], Result) and answers[0].solo is False
    assert worker._ready().solo is False


def test_ready_describes_the_voice_from_the_engine() -> None:
    ready = decode(Worker(FakeEngine(), load_settings())._ready().encode())  # type: ignore[arg-type]
    assert isinstance(ready, Ready)
    assert (ready.voice.name, ready.voice.language, ready.voice.espeak_voice) == ("fake", "en_US", "en-us")
    assert (ready.voice_hash, ready.device, ready.voice.sample_rate) == ("hash", "cpu", 22050)
    assert ready.normalizer == f"en/{VERSION}"


class FrenchEngine(FakeEngine):
    info = VoiceInfo("fake-fr", "fake.onnx", "hash", 22050, 1, {}, "fr_FR", "fr", "cpu")


class GermanEngine(FakeEngine):
    info = VoiceInfo("fake-de", "fake.onnx", "hash", 22050, 1, {}, "de_DE", "de", "cpu")


@pytest.mark.parametrize(
    ("engine", "text", "spoken"),
    [
        (FakeEngine, "Dr. Smith paid $49.95 at 8:00.", "Doctor Smith paid forty-nine dollars and ninety-five cents"),
        (FrenchEngine, "M. Dupont paie 49,95 € à 14h30.", "Monsieur Dupont paie quarante-neuf euros quatre-vingt"),
        (GermanEngine, "Dr. Schmidt zahlt 49,95 €.", "Dr. Schmidt zahlt 49,95 €."),  # no rules: as written
    ],
)
def test_the_worker_reads_each_chunk_in_its_voices_language(engine: type[FakeEngine], text: str, spoken: str) -> None:
    fake = engine()
    worker = Worker(fake, load_settings())  # type: ignore[arg-type]
    answers = list(
        worker._run_tasks([Task("r", 1, text), Task("r", 2, text, normalize=False)])
    )  # not a first chunk: they share a pass
    assert all(isinstance(a, Result) for a in answers)
    assert [spoken in call for call in fake.calls[0]] == [True, spoken == text]
    assert text in fake.calls[0]  # the task that asked for no normalization is read as written
    reading = worker.reading(Task("r", 0, text))
    assert reading.original == text and reading.spoken.startswith(spoken)


def test_a_normalizer_failure_reads_the_chunk_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import swtts.workers.worker as module

    def broken(*args: object) -> None:
        raise RuntimeError("rule bug")

    monkeypatch.setattr(module, "normalize", broken)
    fake = FakeEngine()
    answers = list(Worker(fake, load_settings())._run_tasks([Task("r", 0, "Pay $5.")]))  # type: ignore[arg-type]
    assert isinstance(answers[0], Result) and fake.calls == [["Pay $5."]]


class HeldEngine(FakeEngine):
    """Speaks a chunk only once the test lets it: a synthesis exactly as long as the test needs."""

    batching = False

    def __init__(self) -> None:
        super().__init__()
        self.speaking = threading.Event()
        self.release = threading.Event()

    def synthesize(self, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        self.speaking.set()
        self.release.wait(6 * WAIT_S)  # released by the test, which waits for less
        return super().synthesize(text, params, solo)


@contextmanager
def running_worker(engine: FakeEngine, settings: Settings) -> Iterator[tuple[zmq.Socket[bytes], bytes]]:
    """A real worker thread connected to a ROUTER we hold; yields the router and the worker's identity."""
    router: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    worker = Worker(engine, settings, f"tcp://127.0.0.1:{port}")  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert router.poll(5000)
        identity, *ready = router.recv_multipart()
        assert isinstance(decode(ready), Ready)
        yield router, identity
    finally:
        worker.stop_event.set()
        thread.join(timeout=5)
        router.close()
    assert not thread.is_alive()


def next_answer(router: zmq.Socket[bytes]) -> Message:
    while router.poll(5000):
        message = decode(router.recv_multipart()[1:])
        if not isinstance(message, Heartbeat):
            return message
    raise AssertionError("the worker did not answer")


def test_an_unusable_task_is_answered_failed_and_the_next_one_is_spoken() -> None:
    with running_worker(FakeEngine(), load_settings()) as (router, identity):
        bad = Task("r", 0, "Fine text.").encode()
        header = json.loads(bad[0])
        header["params"] = {"length_scale": -1}
        router.send_multipart([identity, json.dumps(header).encode(), bad[1]])
        router.send_multipart([identity, *Task("r", 1, "Fine.").encode()])
        failed, result = next_answer(router), next_answer(router)
    assert isinstance(failed, Failed) and (failed.request_id, failed.index) == ("r", 0)
    assert "length_scale" in failed.error
    assert isinstance(result, Result) and (result.request_id, result.index) == ("r", 1)


def test_heartbeats_continue_while_a_long_chunk_is_spoken() -> None:
    """Real sockets: the socket is handed to the heartbeat thread while the main loop speaks."""
    settings = load_settings().override(service__heartbeat_interval_s=0.1, service__heartbeat_liveness=50)
    engine = HeldEngine()
    with running_worker(engine, settings) as (router, identity):
        try:
            router.send_multipart([identity, *Task("r", 0, "A long chunk.").encode()])
            assert engine.speaking.wait(WAIT_S)
            beats = 0
            while beats < 5:  # the worker is speaking all along: these come from the heartbeat thread
                assert router.poll(int(WAIT_S * 1000)), "no heartbeat while the worker speaks"
                message = decode(router.recv_multipart()[1:])
                assert isinstance(message, Heartbeat), message
                beats += 1
        finally:
            engine.release.set()
        result = next_answer(router)
    assert isinstance(result, Result) and (result.request_id, result.index) == ("r", 0)
