"""The worker with a fake engine: batching order, the solo flag, heartbeats while a chunk is spoken."""

from __future__ import annotations

import threading
import time

import zmq

from swtts.config import load_settings
from swtts.protocol import MsgType, SynthesisParams, decode, encode
from swtts.workers.engine import Synthesized, VoiceInfo
from swtts.workers.worker import Task, Worker, task_from


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
    long_text = " ".join(f"Sentence {i} is long enough." for i in range(3))
    tasks = [Task(f"r:{i}", long_text, SynthesisParams()) for i in (1, 2)] + [
        Task("r:0", "Hi there.", SynthesisParams())
    ]
    frames = list(worker._run_tasks(tasks))
    assert [decode(f).get("chunk") for f in frames] == ["r:0", "r:1", "r:2"]
    assert engine.calls == [["Hi there.", long_text], [long_text]]
    assert worker.capacity == 4


def test_bad_tasks_fail_without_blocking_good_ones() -> None:
    engine = FakeEngine()
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    frames = list(
        worker._run_tasks(
            [Task("r:0", "", SynthesisParams(), error="bad params"), Task("r:1", "Fine.", SynthesisParams())]
        )
    )
    assert [(decode(f).type.value, decode(f).get("chunk")) for f in frames] == [("failed", "r:0"), ("result", "r:1")]


def test_a_task_marked_solo_runs_on_the_solo_session_and_says_so() -> None:
    engine = FakeEngine()
    engine.batching = False
    engine.solo_threads = 2
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    tasks = [
        task_from(decode(encode(MsgType.TASK, {"chunk": "r:0", "params": {}, "solo": True}, b"Alone."))),
        task_from(decode(encode(MsgType.TASK, {"chunk": "r:1", "params": {}}, b"Shared."))),
    ]
    frames = [frame for task in tasks for frame in worker._run_tasks([task])]
    assert engine.solo_calls == [True, False]
    assert [decode(f).get("solo") for f in frames] == [True, False]
    assert decode(worker._ready()).get("solo") is True


def test_solo_is_never_claimed_without_a_solo_session() -> None:
    engine = FakeEngine()
    engine.batching = False
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    frames = list(worker._run_tasks([Task("r:0", "Alone.", SynthesisParams(), solo=True)]))
    assert decode(frames[0]).get("solo") is False
    assert decode(worker._ready()).get("solo") is False


class SlowEngine(FakeEngine):
    batching = False

    def synthesize(self, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        time.sleep(1.2)
        return super().synthesize(text, params, solo)


def test_heartbeats_continue_while_a_long_chunk_is_spoken() -> None:
    """Real sockets: the socket is handed to the heartbeat thread while the main loop speaks."""
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    settings = load_settings().override(service__heartbeat_interval_s=0.1, service__heartbeat_liveness=50)
    worker = Worker(SlowEngine(), settings, f"tcp://127.0.0.1:{port}")  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert router.poll(5000)
        identity, *ready = router.recv_multipart()
        assert decode(ready).type is MsgType.READY
        router.send_multipart([identity, *encode(MsgType.TASK, {"chunk": "r:0", "params": {}}, b"A long chunk.")])
        sent = time.monotonic()
        beats = 0
        while router.poll(5000):
            message = decode(router.recv_multipart()[1:])
            if message.type is MsgType.HEARTBEAT:
                beats += 1
            elif message.type is MsgType.RESULT:
                break
        assert message.type is MsgType.RESULT and message.get("chunk") == "r:0"
        assert time.monotonic() - sent >= 1.2
        assert beats >= 5  # one per 0.1 s interval through the 1.2 s of synthesis (allowing for a slow machine)
    finally:
        worker.stop_event.set()
        thread.join(timeout=5)
        router.close()
    assert not thread.is_alive()
