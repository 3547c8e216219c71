"""Worker batching order with a fake engine: short chunks first, groups capped by sentences."""

from __future__ import annotations

from broker.protocol import MsgType, SynthesisParams, decode, encode
from config import load_settings
from workers.engine import Synthesized, VoiceInfo
from workers.worker import Task, Worker


class FakeEngine:
    batching = True
    solo_threads = 0
    info = VoiceInfo("fake", "fake.onnx", "hash", 22050, 1, {}, "en-us", "cpu")

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
    tasks = [Task(f"r:{i}", long_text, SynthesisParams()) for i in (1, 2)] + [Task("r:0", "Hi there.", SynthesisParams())]
    frames = list(worker._run_tasks(tasks))
    assert [decode(f).get("chunk") for f in frames] == ["r:0", "r:1", "r:2"]
    assert engine.calls == [["Hi there.", long_text], [long_text]]
    assert worker.capacity == 4


def test_bad_tasks_fail_without_blocking_good_ones() -> None:
    engine = FakeEngine()
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    frames = list(worker._run_tasks([Task("r:0", "", SynthesisParams(), error="bad params"), Task("r:1", "Fine.", SynthesisParams())]))
    assert [(decode(f).type.value, decode(f).get("chunk")) for f in frames] == [("failed", "r:0"), ("result", "r:1")]


def test_a_task_marked_solo_runs_on_the_solo_session_and_says_so() -> None:
    engine = FakeEngine()
    engine.batching = False
    engine.solo_threads = 2
    worker = Worker(engine, load_settings())  # type: ignore[arg-type]
    worker._accept_task(decode(encode(MsgType.TASK, {"chunk": "r:0", "params": {}, "solo": True}, b"Alone.")))
    worker._accept_task(decode(encode(MsgType.TASK, {"chunk": "r:1", "params": {}}, b"Shared.")))
    frames = [frame for task in (worker._tasks.get(), worker._tasks.get()) for frame in worker._run_tasks([task])]
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
