"""Worker batching order with a fake engine: short chunks first, groups capped by sentences."""

from __future__ import annotations

from broker.protocol import SynthesisParams, decode
from config import load_settings
from workers.engine import Synthesized
from workers.worker import Task, Worker


class FakeEngine:
    batching = True

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def synthesize(self, text: str, params: SynthesisParams) -> Synthesized:
        self.calls.append([text])
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
