"""Scheduler rules with fake peers and a fake clock: no sockets, no voice."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from swtts.broker.cache import AudioCache, CachedAudio
from swtts.broker.scheduler import Scheduler
from swtts.config import Settings, load_settings
from swtts.protocol import ErrorCode, Message, MsgType, decode, encode

CLIENT = b"client-1"
OTHER = b"client-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msg(msg_type: MsgType, fields: dict[str, Any] | None = None, payload: bytes | None = None) -> Message:
    return decode(encode(msg_type, fields, payload))


def ready(name: str = "voice-a", capacity: int = 1, host: str = "h", solo: bool = False) -> Message:
    return msg(
        MsgType.READY,
        {
            "name": name,
            "voice_hash": f"hash-{name}",
            "sample_rate": 100,
            "num_speakers": 1,
            "device": "cpu",
            "pid": 1,
            "host": host,
            "capacity": capacity,
            "solo": solo,
        },
    )


def submit(request_id: str, text: str, part: int = 0, more: bool = False, **fields: Any) -> Message:
    return msg(MsgType.SUBMIT, {"id": request_id, "part": part, "more": more, **fields}, text.encode())


class Harness:
    def __init__(self, settings: Settings | None = None, cache: AudioCache | None = None) -> None:
        self.clock = Clock()
        self.settings = settings or load_settings().override(chunker__max_chunk_chars=40, chunker__first_chunk_chars=40)
        self.scheduler = Scheduler(self.settings, cache, clock=self.clock)
        self.sent: list[tuple[bytes, Message]] = []

    def handle(self, peer: bytes, message: Message) -> None:
        self.scheduler.handle(peer, message)
        self.collect()

    def collect(self) -> None:
        self.sent.extend((peer, decode(frames)) for peer, frames in self.scheduler.take_outbox())

    def to(self, peer: bytes, msg_type: MsgType) -> list[Message]:
        return [m for p, m in self.sent if p == peer and m.type is msg_type]

    def tasks(self, worker: bytes) -> list[Message]:
        return self.to(worker, MsgType.TASK)

    def finish(self, worker: bytes, task: Message, samples: int = 10) -> None:
        self.handle(
            worker,
            msg(
                MsgType.RESULT,
                {
                    "chunk": task.get("chunk"),
                    "sample_rate": 100,
                    "sentence_samples": [samples],
                    "phonemes": "p",
                    "synth_ms": 1.0,
                },
                struct.pack(f"<{samples}h", *range(samples)),
            ),
        )


SENTENCES = " ".join(f"Sentence number {i} is here." for i in range(6))


def test_results_come_back_in_document_order_even_when_finished_out_of_order() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(b"w2", ready())
    h.handle(CLIENT, submit("r", SENTENCES))
    first, second = h.tasks(b"w1")[0], h.tasks(b"w2")[0]
    h.finish(b"w2", second)
    assert h.to(CLIENT, MsgType.AUDIO) == []
    h.finish(b"w1", first)
    while not h.to(CLIENT, MsgType.DONE):
        for worker in (b"w1", b"w2"):
            done = {m.get("chunk") for p, m in h.sent if p == CLIENT and m.type is MsgType.AUDIO}
            pending = [t for t in h.tasks(worker) if t.get("chunk") not in done]
            if pending:
                h.finish(worker, pending[-1])
    indices = [m.get("index") for m in h.to(CLIENT, MsgType.AUDIO)]
    assert indices == list(range(len(indices))) and len(indices) == 6


def test_worker_gets_one_chunk_at_a_time() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", SENTENCES))
    assert len(h.tasks(b"w1")) == 1


def test_short_request_overtakes_a_long_queue() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("long", SENTENCES * 5))
    h.handle(OTHER, submit("short", "Quick reply."))
    h.finish(b"w1", h.tasks(b"w1")[0])
    assert h.tasks(b"w1")[1].get("chunk") == "short:0"


def test_dead_worker_chunks_are_requeued_and_bounded() -> None:
    h = Harness(load_settings().override(service__max_attempts=2, chunker__max_chunk_chars=40))
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Only one sentence."))
    assert h.tasks(b"w1")[0].get("chunk") == "r:0"
    h.clock.now += 10
    h.scheduler.tick()
    h.collect()
    assert h.scheduler.workers == {}
    h.handle(b"w2", ready())
    assert h.tasks(b"w2")[0].get("chunk") == "r:0"
    h.clock.now += 10
    h.scheduler.tick()
    h.collect()
    errors = h.to(CLIENT, MsgType.ERROR)
    assert errors and errors[0].get("code") == ErrorCode.WORKER_LOST.value


def test_requeued_chunk_completes_exactly_once() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "One sentence only."))
    h.clock.now += 10
    h.scheduler.tick()
    h.handle(b"w2", ready())
    h.finish(b"w2", h.tasks(b"w2")[0])
    assert len(h.to(CLIENT, MsgType.AUDIO)) == 1
    assert len(h.to(CLIENT, MsgType.DONE)) == 1


def test_cancel_drops_queue_and_frees_for_others() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("long", SENTENCES * 5))
    h.handle(CLIENT, msg(MsgType.CANCEL, {"id": "long"}))
    assert h.to(CLIENT, MsgType.ERROR)[0].get("code") == "cancelled"
    h.handle(OTHER, submit("next", "Next please."))
    h.finish(b"w1", h.tasks(b"w1")[0])
    assert h.tasks(b"w1")[-1].get("chunk") == "next:0"
    assert "long" not in h.scheduler.requests


def test_deadline_fails_request_with_timeout() -> None:
    h = Harness()
    h.handle(CLIENT, submit("r", "No workers yet.", deadline_s=5))
    h.clock.now += 6
    h.scheduler.tick()
    h.collect()
    assert h.to(CLIENT, MsgType.ERROR)[0].get("code") == "timeout"


def test_busy_when_queue_is_full() -> None:
    h = Harness(load_settings().override(service__max_queued_chunks=3, chunker__max_chunk_chars=40))
    h.handle(CLIENT, submit("a", SENTENCES))
    error = h.to(CLIENT, MsgType.ERROR)[0]
    assert error.get("code") == "busy" and "Retry later" in error.get("error")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"voice": "nope"}, "unknown_voice"),
        ({"params": {"speaker": 3}}, "bad_param"),
        ({"params": {"length_scale": -1}}, "bad_param"),
        ({"max_chunk_chars": 5}, "bad_param"),
    ],
)
def test_bad_requests_are_rejected_by_name(fields: dict[str, Any], code: str) -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Hello.", **fields))
    assert h.to(CLIENT, MsgType.ERROR)[0].get("code") == code


def test_streamed_parts_are_ordered_and_closed_by_an_empty_part() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("s", "First part.", part=0, more=True))
    h.handle(CLIENT, submit("s", "Second part.", part=1, more=True))
    h.handle(CLIENT, msg(MsgType.SUBMIT, {"id": "s", "part": 2, "more": False}))
    for _ in range(2):
        h.finish(b"w1", h.tasks(b"w1")[-1])
    assert [m.get("text") for m in h.to(CLIENT, MsgType.AUDIO)] == ["First part.", "Second part."]
    assert h.to(CLIENT, MsgType.DONE)


def test_document_and_chunk_cache(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("a", "Cache me please."))
        h.finish(b"w1", h.tasks(b"w1")[0])
        h.handle(CLIENT, submit("b", "Cache me please."))
        audio = [m for m in h.to(CLIENT, MsgType.AUDIO) if m.get("id") == "b"]
        assert audio and audio[0].get("cached") is True
        assert len(h.tasks(b"w1")) == 1
        h.handle(CLIENT, submit("c", "Cache me please. And a new sentence here."))
        assert [t.get("chunk") for t in h.tasks(b"w1")][1:] == ["c:1"]


def test_a_document_entry_from_another_version_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AudioCache(tmp_path) as cache:
        stored: dict[str, CachedAudio] = {}
        put = cache.put
        monkeypatch.setattr(cache, "put", lambda key, audio: (stored.__setitem__(key, audio), put(key, audio))[1])
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("a", "Cache me please."))
        h.finish(b"w1", h.tasks(b"w1")[0])
        ((doc_key, old),) = [(key, audio) for key, audio in stored.items() if not audio.pcm]
        chunks = [{**chunk, "estimated_seconds": 1.0} for chunk in old.meta["chunks"]]  # a field since removed
        cache.put(doc_key, CachedAudio(b"", old.sample_rate, {"chunks": chunks}))
        h.handle(CLIENT, submit("b", "Cache me please."))
        assert [m.get("id") for m in h.to(CLIENT, MsgType.DONE)] == ["a", "b"]


def test_failed_chunks_are_reported_and_never_cached(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("r", "This one fails."))
        task = h.tasks(b"w1")[0]
        h.handle(b"w1", msg(MsgType.FAILED, {"chunk": task.get("chunk"), "error": "RuntimeError: boom"}))
        error = h.to(CLIENT, MsgType.ERROR)[0]
        assert error.get("code") == "synthesis_failed" and "boom" in error.get("error")
        assert cache.stats().entries == 0
        h.handle(CLIENT, submit("again", "This one fails."))
        assert len(h.tasks(b"w1")) == 2


def test_a_force_flushed_stream_fragment_does_not_end_a_sentence() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("s", "A long run without any", part=0, more=True))
    h.handle(CLIENT, submit("s", "punctuation ends here.", part=1, more=True))
    h.handle(CLIENT, msg(MsgType.SUBMIT, {"id": "s", "part": 2, "more": False}))
    for _ in range(2):
        h.finish(b"w1", h.tasks(b"w1")[-1])
    assert [m.get("sentence_end") for m in h.to(CLIENT, MsgType.AUDIO)] == [False, True]


def test_a_lone_chunk_is_solo_only_while_no_neighbour_is_busy_and_nothing_waits() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True))
    h.handle(b"w2", ready(solo=True))
    h.handle(CLIENT, submit("a", "A short reply."))
    h.handle(OTHER, submit("b", "Another reply."))
    first, second = h.tasks(b"w1") + h.tasks(b"w2")
    assert (first.get("solo"), second.get("solo")) == (True, False)  # its neighbour was busy
    h.finish(b"w1", first)
    h.finish(b"w2", second)
    h.handle(OTHER, submit("c", "One more. And another."))  # two chunks: the second waits at the first's dispatch
    assert [t.get("solo") for t in h.tasks(b"w1")[1:] + h.tasks(b"w2")[1:]] == [False, False]
    assert h.scheduler.status()["workers"][0]["solo_chunks"] == 0


def test_a_documents_first_chunk_takes_the_idle_host_and_the_rest_waits_for_it() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="a"))
    h.handle(b"w3", ready(solo=True, host="b"))
    h.handle(CLIENT, submit("doc", SENTENCES))  # 6 chunks: enough to follow for every worker
    lead = h.tasks(b"w1") + h.tasks(b"w2")
    assert len(lead) == 1 and lead[0].get("chunk") == "doc:0" and lead[0].get("solo") is True
    assert [t.get("chunk") for t in h.tasks(b"w3")] == ["doc:1"]  # another host is not held
    holder = b"w1" if h.tasks(b"w1") else b"w2"
    h.finish(holder, lead[0])
    assert len(h.to(CLIENT, MsgType.AUDIO)) == 1
    assert len(h.tasks(b"w1") + h.tasks(b"w2")) == 3  # the rest spreads over the host again
    assert [t.get("solo") for t in (h.tasks(b"w1") + h.tasks(b"w2"))[1:]] == [False, False]


def test_a_first_chunk_resent_without_leading_no_longer_holds_the_host() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="a"))
    h.handle(CLIENT, submit("doc", SENTENCES))
    assert [t.get("chunk") for t in h.tasks(b"w1")] == ["doc:0"] and h.tasks(b"w2") == []
    h.handle(OTHER, submit("other", "A short reply."))
    h.handle(b"w3", ready(solo=True, host="a"))
    h.handle(b"w1", msg(MsgType.DISCONNECT))  # doc:0 goes back to the queue while w3's neighbour w2 is busy
    assert [t.get("chunk") for t in h.tasks(b"w3")] == ["doc:0"] and h.tasks(b"w3")[0].get("solo") is False
    h.finish(b"w2", h.tasks(b"w2")[0])
    assert [t.get("chunk") for t in h.tasks(b"w2")][1:] == ["doc:1"]


def test_a_worker_with_a_chunk_in_flight_never_gets_a_second_solo_chunk() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, capacity=2))
    h.handle(CLIENT, submit("a", "A short reply."))
    h.handle(OTHER, submit("b", "Another reply."))
    assert [t.get("solo") for t in h.tasks(b"w1")] == [True, False]


def test_no_lead_when_the_document_is_too_short_to_keep_every_worker_busy_or_others_wait() -> None:
    two = " ".join(SENTENCES.split(". ")[:2])
    h = Harness()
    h.handle(b"w1", ready(solo=True))
    h.handle(b"w2", ready(solo=True))
    h.handle(CLIENT, submit("pair", two))  # two chunks for two workers: both start at once
    assert [t.get("solo") for t in h.tasks(b"w1") + h.tasks(b"w2")] == [False, False]
    busy = Harness()
    busy.handle(b"w1", ready(solo=True))
    busy.handle(CLIENT, submit("first", SENTENCES))
    busy.handle(OTHER, submit("second", SENTENCES))
    busy.handle(b"w2", ready(solo=True))  # w1 is busy: no lead for "second" on w2
    assert [t.get("solo") for t in busy.tasks(b"w2")] == [False]


def test_solo_counts_only_neighbours_on_the_same_host_and_only_workers_that_offer_it() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="b"))
    h.handle(b"w3", ready(solo=False, host="c"))
    for name in ("r1", "r2", "r3"):
        h.handle(CLIENT, submit(name, "A short reply."))
    assert [h.tasks(w)[0].get("solo") for w in (b"w1", b"w2", b"w3")] == [True, True, False]
    task = h.tasks(b"w1")[0]
    h.handle(
        b"w1",
        msg(
            MsgType.RESULT,
            {
                "chunk": task.get("chunk"),
                "sample_rate": 100,
                "sentence_samples": [2],
                "phonemes": "p",
                "synth_ms": 1.0,
                "solo": True,
            },
            b"\x00\x00\x00\x00",
        ),
    )
    counts = {w["worker"]: w["solo_chunks"] for w in h.scheduler.status()["workers"]}
    assert sorted(counts.values()) == [0, 0, 1]


def test_a_reply_shorter_than_the_chunk_size_is_shared_among_the_workers() -> None:
    paragraph = " ".join(f"Sentence number {i} is spoken here." for i in range(12))
    lone = Harness(load_settings())
    lone.handle(b"w1", ready())
    lone.handle(CLIENT, submit("r", paragraph))
    pair = Harness(load_settings())
    pair.handle(b"w1", ready())
    pair.handle(b"w2", ready())
    pair.handle(CLIENT, submit("r", paragraph))
    assert len(lone.scheduler.requests["r"].jobs) == 2  # the short first chunk, then the rest
    chunks = [job.chunk for job in pair.scheduler.requests["r"].jobs]
    assert len(chunks) == 3 and max(len(c.text) for c in chunks) <= -(-len(paragraph) // 2)
    assert " ".join(c.text for c in chunks) == paragraph
