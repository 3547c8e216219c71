"""Scheduler rules with fake peers and a fake clock: no sockets, no voice."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from swtts.broker.cache import AudioCache, CachedAudio
from swtts.broker.scheduler import Scheduler
from swtts.broker.scheduler.state import OUT_OF_ORDER_FACTOR
from swtts.config import Settings, load_settings
from swtts.protocol import (
    Audio,
    Cancel,
    Disconnect,
    Done,
    Error,
    ErrorCode,
    Failed,
    Message,
    ProtocolError,
    Ready,
    Result,
    Submit,
    SynthesisParams,
    Task,
    VoiceDescription,
    VoicesQuery,
    VoicesReply,
    decode,
)

CLIENT = b"client-1"
OTHER = b"client-2"
M = TypeVar("M", bound=Message)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ready(
    name: str = "voice-a", capacity: int = 1, host: str = "h", solo: bool = False, language: str = "en_US"
) -> Ready:
    voice = VoiceDescription(name, language, language.lower().replace("_", "-"), 100)
    return Ready(voice, f"hash-{name}", "cpu", host, 1, capacity, solo=solo)


def submit(request_id: str, text: str | None, part: int = 0, more: bool = False, **fields: Any) -> Submit:
    return Submit(request_id, text, part, more, **fields)


class Harness:
    def __init__(self, settings: Settings | None = None, cache: AudioCache | None = None) -> None:
        self.clock = Clock()
        self.settings = settings or load_settings().override(chunker__max_chunk_chars=40, chunker__first_chunk_chars=40)
        self.scheduler = Scheduler(self.settings, cache, clock=self.clock)
        self.sent: list[tuple[bytes, Message]] = []
        self.finished: set[str] = set()

    def handle(self, peer: bytes, message: Message) -> None:
        """As the broker does: decode the frames, hand the message over, answer a refusal."""
        try:
            self.scheduler.handle(peer, decode(message.encode()))
        except ProtocolError as error:
            self.scheduler.reject(peer, error)
        self.collect()

    def collect(self) -> None:
        self.sent.extend((peer, decode(frames)) for peer, frames in self.scheduler.take_outbox())

    def to(self, peer: bytes, kind: type[M]) -> list[M]:
        return [m for p, m in self.sent if p == peer and isinstance(m, kind)]

    def tasks(self, worker: bytes) -> list[Task]:
        return self.to(worker, Task)

    def finish(self, worker: bytes, task: Task, samples: int = 10, solo: bool = False) -> None:
        pcm = struct.pack(f"<{samples}h", *range(samples))
        result = Result(task.request_id, task.index, pcm, 100, sentence_samples=(samples,), phonemes="p", synth_ms=1.0)
        self.handle(worker, replace(result, solo=solo))
        self.finished.add(chunk(task))


def chunk(task: Task) -> str:
    return f"{task.request_id}:{task.index}"


SENTENCES = " ".join(f"Sentence number {i} is here." for i in range(6))


def test_results_come_back_in_document_order_even_when_finished_out_of_order() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(b"w2", ready())
    h.handle(CLIENT, submit("r", SENTENCES))
    first, second = h.tasks(b"w1")[0], h.tasks(b"w2")[0]
    h.finish(b"w2", second)
    assert h.to(CLIENT, Audio) == []
    h.finish(b"w1", first)
    while not h.to(CLIENT, Done):
        for worker in (b"w1", b"w2"):
            pending = [t for t in h.tasks(worker) if chunk(t) not in h.finished]
            if pending:
                h.finish(worker, pending[-1])
    indices = [m.index for m in h.to(CLIENT, Audio)]
    assert indices == list(range(len(indices))) and len(indices) == 6


def test_a_lone_request_goes_to_the_idle_worker_that_spoke_last() -> None:
    """Its onnxruntime threads still spin for a moment after a run: a neighbour started then would share
    the cores with them, so of two idle workers the warm one speaks (work spreads as before when busy)."""
    h = Harness()
    h.handle(b"w1", ready(host="a"))
    h.handle(b"w2", ready(host="a"))
    speakers = []
    for request in ("one", "two", "three"):
        h.clock.now += 1
        h.handle(CLIENT, submit(request, "A short reply."))
        (task,) = [t for t in h.tasks(b"w1") + h.tasks(b"w2") if t.request_id == request]
        speakers.append(b"w1" if task in h.tasks(b"w1") else b"w2")
        h.finish(speakers[-1], task)
    assert len(set(speakers)) == 1, speakers
    h.handle(CLIENT, submit("doc", SENTENCES))  # a document still reaches both
    assert h.tasks(b"w1")[-1].request_id == h.tasks(b"w2")[-1].request_id == "doc"


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
    assert chunk(h.tasks(b"w1")[1]) == "short:0"


def test_dead_worker_chunks_are_requeued_and_bounded() -> None:
    h = Harness(load_settings().override(service__max_attempts=2, chunker__max_chunk_chars=40))
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Only one sentence."))
    assert chunk(h.tasks(b"w1")[0]) == "r:0"
    h.clock.now += 10
    h.scheduler.tick()
    h.collect()
    assert h.scheduler.workers == {}
    h.handle(b"w2", ready())
    assert chunk(h.tasks(b"w2")[0]) == "r:0"
    h.clock.now += 10
    h.scheduler.tick()
    h.collect()
    errors = h.to(CLIENT, Error)
    assert errors and errors[0].code == ErrorCode.WORKER_LOST.value


def test_requeued_chunk_completes_exactly_once() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "One sentence only."))
    h.clock.now += 10
    h.scheduler.tick()
    h.handle(b"w2", ready())
    h.finish(b"w2", h.tasks(b"w2")[0])
    assert len(h.to(CLIENT, Audio)) == 1
    assert len(h.to(CLIENT, Done)) == 1


def test_cancel_drops_queue_and_frees_for_others() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("long", SENTENCES * 5))
    h.handle(CLIENT, Cancel("long"))
    assert h.to(CLIENT, Error)[0].code == "cancelled"
    h.handle(OTHER, submit("next", "Next please."))
    h.finish(b"w1", h.tasks(b"w1")[0])
    assert chunk(h.tasks(b"w1")[-1]) == "next:0"
    assert "long" not in h.scheduler.requests


def test_deadline_fails_request_with_timeout() -> None:
    h = Harness()
    h.handle(CLIENT, submit("r", "No workers yet.", deadline_s=5))
    h.clock.now += 6
    h.scheduler.tick()
    h.collect()
    assert h.to(CLIENT, Error)[0].code == "timeout"


def test_busy_when_queue_is_full() -> None:
    h = Harness(load_settings().override(service__max_queued_chunks=3, chunker__max_chunk_chars=40))
    h.handle(CLIENT, submit("a", SENTENCES))
    error = h.to(CLIENT, Error)[0]
    assert error.code == "busy" and "Retry later" in error.message


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"voice": "nope"}, "unknown_voice"),
        ({"voice": "fr"}, "unknown_voice"),
        ({"params": SynthesisParams(speaker=3)}, "bad_param"),
        ({"params": SynthesisParams(length_scale=-1)}, "bad_param"),
        ({"max_chunk_chars": 5}, "bad_param"),
    ],
)
def test_bad_requests_are_rejected_by_name(fields: dict[str, Any], code: str) -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("r", "Hello.", **fields))
    assert h.to(CLIENT, Error)[0].code == code


def test_streamed_parts_are_ordered_and_closed_by_an_empty_part() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("s", "First part.", part=0, more=True))
    h.handle(CLIENT, submit("s", "Second part.", part=1, more=True))
    h.handle(CLIENT, submit("s", None, part=2))
    for _ in range(2):
        h.finish(b"w1", h.tasks(b"w1")[-1])
    assert [m.text for m in h.to(CLIENT, Audio)] == ["First part.", "Second part."]
    assert h.to(CLIENT, Done)


def test_document_and_chunk_cache(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("a", "Cache me please."))
        h.finish(b"w1", h.tasks(b"w1")[0])
        h.handle(CLIENT, submit("b", "Cache me please."))
        audio = [m for m in h.to(CLIENT, Audio) if m.request_id == "b"]
        assert audio and audio[0].cached is True
        assert len(h.tasks(b"w1")) == 1
        h.handle(CLIENT, submit("c", "Cache me please. And a new sentence here."))
        assert [chunk(t) for t in h.tasks(b"w1")][1:] == ["c:1"]


def test_a_document_entry_from_another_version_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AudioCache(tmp_path) as cache:
        stored: dict[str, CachedAudio] = {}
        put = cache.put

        def put_and_keep(key: str, audio: CachedAudio) -> None:
            stored[key] = audio
            put(key, audio)

        monkeypatch.setattr(cache, "put", put_and_keep)
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("a", "Cache me please."))
        h.finish(b"w1", h.tasks(b"w1")[0])
        ((doc_key, old),) = [(key, audio) for key, audio in stored.items() if not audio.pcm]
        chunks = [{**chunk, "estimated_seconds": 1.0} for chunk in old.meta["chunks"]]  # a field since removed
        cache.put(doc_key, CachedAudio(b"", old.sample_rate, {"chunks": chunks}))
        h.handle(CLIENT, submit("b", "Cache me please."))
        assert [m.request_id for m in h.to(CLIENT, Done)] == ["a", "b"]


def test_failed_chunks_are_reported_and_never_cached(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        h = Harness(cache=cache)
        h.handle(b"w1", ready())
        h.handle(CLIENT, submit("r", "This one fails."))
        task = h.tasks(b"w1")[0]
        h.handle(b"w1", Failed(task.request_id, task.index, "RuntimeError: boom"))
        error = h.to(CLIENT, Error)[0]
        assert error.code == "synthesis_failed" and "boom" in error.message
        assert cache.stats().entries == 0
        h.handle(CLIENT, submit("again", "This one fails."))
        assert len(h.tasks(b"w1")) == 2


def test_a_force_flushed_stream_fragment_does_not_end_a_sentence() -> None:
    h = Harness()
    h.handle(b"w1", ready())
    h.handle(CLIENT, submit("s", "A long run without any", part=0, more=True))
    h.handle(CLIENT, submit("s", "punctuation ends here.", part=1, more=True))
    h.handle(CLIENT, submit("s", None, part=2))
    for _ in range(2):
        h.finish(b"w1", h.tasks(b"w1")[-1])
    assert [m.sentence_end for m in h.to(CLIENT, Audio)] == [False, True]


def test_a_lone_chunk_is_solo_only_while_no_neighbour_is_busy_and_nothing_waits() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True))
    h.handle(b"w2", ready(solo=True, host="other"))
    h.handle(CLIENT, submit("a", "A short reply."))
    h.handle(b"w3", ready(solo=True))
    h.handle(OTHER, submit("b", "Another reply."))
    assert [t.solo for t in h.tasks(b"w1") + h.tasks(b"w2")] == [True, True]  # each alone on its host
    h.handle(OTHER, submit("c", "A third reply."))
    h.finish(b"w2", h.tasks(b"w2")[0])
    assert [t.solo for t in h.tasks(b"w2")[1:]] == [True]  # w2 is alone on its host
    h.finish(b"w1", h.tasks(b"w1")[0])
    h.handle(OTHER, submit("d", "One more. And another."))  # two chunks: the second waits at the first's dispatch
    assert [t.solo for t in h.tasks(b"w1")[1:] + h.tasks(b"w3")] == [False, False]
    assert h.scheduler.status().workers[2].solo_chunks == 0


def test_a_short_solo_run_holds_its_host_and_a_long_one_does_not() -> None:
    """A chunk given to a solo run's neighbour would share its cores (the run took 2.3x as long):
    a solo chunk no longer than a first chunk makes its neighbours wait; a longer one does not,
    since a short reply waiting for it would wait longer than sharing the cores costs."""
    h = Harness(load_settings().override(chunker__max_chunk_chars=200, chunker__first_chunk_chars=20))
    h.handle(b"w1", ready(solo=True))
    h.handle(b"w2", ready(solo=True))
    h.handle(CLIENT, submit("s", "Hi there.", part=0, more=True))
    h.handle(OTHER, submit("b", "Another reply."))
    assert [chunk(t) for t in h.tasks(b"w1") + h.tasks(b"w2")] == ["s:0"]  # the host is held
    h.finish(b"w1", h.tasks(b"w1")[0])
    assert [(chunk(t), t.solo) for t in h.tasks(b"w1")[1:] + h.tasks(b"w2")] == [("b:0", True)]
    h.finish(b"w1", h.tasks(b"w1")[1])
    h.handle(CLIENT, submit("s", "This sentence is longer than twenty characters.", part=1, more=True))
    assert [(chunk(t), t.solo) for t in h.tasks(b"w1")[2:]] == [("s:1", True)]
    h.handle(OTHER, submit("c", "A reply."))
    assert [(chunk(t), t.solo) for t in h.tasks(b"w2")] == [("c:0", False)]  # not held by a long run


def test_a_documents_first_chunk_takes_the_idle_host_and_the_rest_waits_for_it() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="a"))
    h.handle(b"w3", ready(solo=True, host="b"))
    h.handle(CLIENT, submit("doc", SENTENCES))  # 6 chunks: enough to follow for every worker
    lead = h.tasks(b"w1") + h.tasks(b"w2")
    assert len(lead) == 1 and chunk(lead[0]) == "doc:0" and lead[0].solo is True
    assert [chunk(t) for t in h.tasks(b"w3")] == ["doc:1"]  # another host is not held
    holder = b"w1" if h.tasks(b"w1") else b"w2"
    h.finish(holder, lead[0])
    assert len(h.to(CLIENT, Audio)) == 1
    assert len(h.tasks(b"w1") + h.tasks(b"w2")) == 3  # the rest spreads over the host again
    assert [t.solo for t in (h.tasks(b"w1") + h.tasks(b"w2"))[1:]] == [False, False]


def test_an_open_streams_first_chunk_takes_the_idle_host_and_its_next_sentences_wait() -> None:
    """A stream's next sentence arrives while its first is spoken: it must not share that host's cores."""
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="a"))
    h.handle(b"w3", ready(solo=True, host="b"))
    h.handle(CLIENT, submit("s", "The first sentence is here.", part=0, more=True))
    lead = h.tasks(b"w1") + h.tasks(b"w2") + h.tasks(b"w3")
    assert [chunk(t) for t in lead] == ["s:0"] and lead[0].solo is True
    h.handle(CLIENT, submit("s", "The second one follows.", part=1, more=True))
    h.handle(CLIENT, submit("s", "And a third one too.", part=2, more=True))
    held = h.tasks(b"w1") + h.tasks(b"w2")
    assert [chunk(t) for t in held] == ["s:0"]  # the first chunk's host is left to it
    assert [chunk(t) for t in h.tasks(b"w3")] == ["s:1"]  # another host is not held
    holder = b"w1" if h.tasks(b"w1") else b"w2"
    h.finish(holder, held[0])
    assert len(h.to(CLIENT, Audio)) == 1
    assert sorted(chunk(t) for t in h.tasks(b"w1") + h.tasks(b"w2"))[1:] == ["s:2"]  # the host serves it again


def test_a_first_chunk_resent_without_leading_no_longer_holds_the_host() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="a"))
    h.handle(CLIENT, submit("doc", SENTENCES))
    assert [chunk(t) for t in h.tasks(b"w1")] == ["doc:0"] and h.tasks(b"w2") == []
    h.handle(OTHER, submit("other", "A short reply."))
    h.handle(b"w3", ready(solo=True, host="a"))
    h.handle(b"w1", Disconnect())  # doc:0 goes back to the queue while w3's neighbour w2 is busy
    assert [chunk(t) for t in h.tasks(b"w3")] == ["doc:0"] and h.tasks(b"w3")[0].solo is False
    h.finish(b"w2", h.tasks(b"w2")[0])
    assert [chunk(t) for t in h.tasks(b"w2")][1:] == ["doc:1"]


def test_a_worker_with_a_chunk_in_flight_never_gets_a_second_solo_chunk() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, capacity=2))
    h.handle(CLIENT, submit("a", "A short reply."))
    h.handle(OTHER, submit("b", "Another reply."))
    assert [t.solo for t in h.tasks(b"w1")] == [True, False]


def test_no_lead_when_the_document_is_too_short_to_keep_every_worker_busy_or_others_wait() -> None:
    two = " ".join(SENTENCES.split(". ")[:2])
    h = Harness()
    h.handle(b"w1", ready(solo=True))
    h.handle(b"w2", ready(solo=True))
    h.handle(CLIENT, submit("pair", two))  # two chunks for two workers: both start at once
    assert [t.solo for t in h.tasks(b"w1") + h.tasks(b"w2")] == [False, False]
    busy = Harness()
    busy.handle(b"w1", ready(solo=True))
    busy.handle(CLIENT, submit("first", SENTENCES))
    busy.handle(OTHER, submit("second", SENTENCES))
    busy.handle(b"w2", ready(solo=True))
    assert busy.tasks(b"w2") == []  # held while w1's short lead runs
    busy.finish(b"w1", busy.tasks(b"w1")[0])
    assert [t.solo for t in busy.tasks(b"w1")[1:] + busy.tasks(b"w2")] == [False, False]  # "second" waits: no lead


def test_solo_counts_only_neighbours_on_the_same_host_and_only_workers_that_offer_it() -> None:
    h = Harness()
    h.handle(b"w1", ready(solo=True, host="a"))
    h.handle(b"w2", ready(solo=True, host="b"))
    h.handle(b"w3", ready(solo=False, host="c"))
    for name in ("r1", "r2", "r3"):
        h.handle(CLIENT, submit(name, "A short reply."))
    assert [h.tasks(w)[0].solo for w in (b"w1", b"w2", b"w3")] == [True, True, False]
    task = h.tasks(b"w1")[0]
    h.finish(b"w1", task, samples=2, solo=True)
    counts = {w.worker: w.solo_chunks for w in h.scheduler.status().workers}
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
    chunks = [job.chunk for job in pair.scheduler.requests["r"].jobs]
    assert max(len(c.text) for c in chunks) <= -(-len(paragraph) // 4)  # a share of it
    assert " ".join(c.text for c in chunks) == paragraph
    assert [len(pair.tasks(worker)) for worker in (b"w1", b"w2")] == [1, 1]  # both speak at once
    assert [job.chunk for job in lone.scheduler.requests["r"].jobs] == chunks  # cut alike: the cache's chunks match


# ----- voices ---------------------------------------------------------------------------------


def test_a_request_without_a_voice_gets_the_default_if_held_else_the_longest_connected() -> None:
    h = Harness()
    h.handle(b"w1", ready("fr_FR-a-medium", language="fr_FR"))
    h.handle(b"w2", ready("en_US-joe-medium"))  # the default voice, connected later
    h.handle(CLIENT, submit("r", "Hello."))
    assert [chunk(t) for t in h.tasks(b"w2")] == ["r:0"] and h.tasks(b"w1") == []
    other = Harness()
    other.handle(b"w1", ready("fr_FR-a-medium", language="fr_FR"))
    other.handle(b"w2", ready("de_DE-b-medium", language="de_DE"))
    other.handle(CLIENT, submit("r", "Bonjour."))
    assert [chunk(t) for t in other.tasks(b"w1")] == ["r:0"] and other.tasks(b"w2") == []


@pytest.mark.parametrize(("voice", "worker"), [("fr", b"w1"), ("FR-fr", b"w1"), ("en_US-lessac-high", b"w2")])
def test_a_request_names_a_voice_or_a_language(voice: str, worker: bytes) -> None:
    h = Harness()
    h.handle(b"w1", ready("fr_FR-a-medium", language="fr_FR"))
    h.handle(b"w2", ready("en_US-lessac-high"))
    h.handle(CLIENT, submit("r", "Hello.", voice=voice))
    assert [chunk(t) for t in h.tasks(worker)] == ["r:0"]


def test_an_unknown_voice_is_one_line_naming_the_voices_there_are() -> None:
    h = Harness()
    h.handle(b"w1", ready("fr_FR-a-medium", language="fr_FR"))
    h.handle(b"w2", ready("en_US-lessac-high"))
    h.handle(CLIENT, submit("r", "Hola.", voice="es"))
    error = h.to(CLIENT, Error)[0]
    assert (error.code, error.request_id) == (ErrorCode.UNKNOWN_VOICE, "r")
    assert error.message == "unknown voice 'es'; available: fr_FR-a-medium (fr_FR), en_US-lessac-high (en_US)"


def test_a_language_asked_for_before_any_worker_waits_for_a_worker_that_speaks_it() -> None:
    h = Harness()
    h.handle(CLIENT, submit("r", "Bonjour.", voice="fr"))
    h.handle(b"w1", ready("en_US-lessac-high"))
    assert h.tasks(b"w1") == []
    h.handle(b"w2", ready("fr_FR-a-medium", language="fr_FR"))
    assert [chunk(t) for t in h.tasks(b"w2")] == ["r:0"]


def test_voices_lists_each_voice_once_with_its_worker_count() -> None:
    h = Harness()
    for worker, name in [(b"w1", "fr_FR-a-medium"), (b"w2", "en_US-lessac-high"), (b"w3", "fr_FR-a-medium")]:
        h.handle(worker, ready(name, language=name[:5]))
    h.handle(CLIENT, VoicesQuery("q"))
    reply = h.to(CLIENT, VoicesReply)[0]
    assert reply.echo == "q"
    assert [(v.name, v.language, v.workers) for v in reply.voices] == [
        ("fr_FR-a-medium", "fr_FR", 2),
        ("en_US-lessac-high", "en_US", 1),
    ]


def cached_document(cache: AudioCache, sentences: int) -> tuple[Harness, str]:
    """A broker whose cache holds every chunk of a document (one sentence per chunk)."""
    h = Harness(cache=cache)
    h.handle(b"w1", ready())
    text = " ".join(f"Sentence number {i} is here." for i in range(sentences))
    h.handle(CLIENT, submit("first", text, use_cache=True))
    while not h.to(CLIENT, Done):
        h.finish(b"w1", next(t for t in h.tasks(b"w1") if chunk(t) not in h.finished))
    h.sent.clear()
    return h, text


def test_a_cached_document_is_read_from_the_cache_a_few_chunks_a_turn(tmp_path: Path) -> None:
    """Flat memory: never the whole document in the broker, however much of it is cached."""
    with AudioCache(tmp_path) as cache:
        h, text = cached_document(cache, 30)
        reads: list[str] = []
        get = cache.get

        def counted_get(key: str) -> CachedAudio | None:
            reads.append(key)
            return get(key)

        cache.get = counted_get  # type: ignore[method-assign]
        h.handle(CLIENT, submit("again", text + " ", use_cache=True))  # not the same document: chunk by chunk
        limit = h.scheduler.state.ahead_limit()
        assert len(h.to(CLIENT, Audio)) == limit and len(reads) <= limit + 1  # + the document entry
        assert h.scheduler.state.more_to_send  # the broker takes its next turn at once
        while not h.to(CLIENT, Done):
            h.scheduler.tick()
            h.collect()
        assert [m.index for m in h.to(CLIENT, Audio)] == list(range(30))
        assert all(m.cached for m in h.to(CLIENT, Audio)) and h.tasks(b"w1")[30:] == []


def test_nothing_more_goes_to_a_blocked_producer_and_its_document_waits(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        h, text = cached_document(cache, 30)
        h.scheduler.set_blocked({CLIENT})  # its queue is full: it reads slowly
        h.handle(CLIENT, submit("again", text + " ", use_cache=True))
        for _ in range(5):
            h.scheduler.tick()
            h.collect()
        assert h.to(CLIENT, Audio) == []
        request = h.scheduler.requests["again"]
        assert len(request.results) <= h.scheduler.state.ahead_limit()  # held: a few chunks, not the document
        h.scheduler.set_blocked(set())  # it took what was queued
        h.collect()
        assert h.to(CLIENT, Audio)


def test_synthesis_waits_for_a_blocked_producer_too() -> None:
    h = Harness()
    for worker in (b"w1", b"w2"):
        h.handle(worker, ready())
    h.scheduler.set_blocked({CLIENT})
    h.handle(CLIENT, submit("r", SENTENCES * 5))
    for _ in range(20):
        for worker in (b"w1", b"w2"):
            pending = [t for t in h.tasks(worker) if chunk(t) not in h.finished]
            if pending:
                h.finish(worker, pending[0])
    request = h.scheduler.requests["r"]
    ahead = h.scheduler.state.ahead_limit()
    assert h.to(CLIENT, Audio) == [] and ahead <= len(request.results) <= ahead + 2  # (+ what was in flight)
    assert len(request.pending) > 0  # the rest is not dispatched while the producer cannot take it


def test_a_long_chunk_in_progress_does_not_idle_the_other_workers() -> None:
    """Results done out of order behind a long chunk are held (a bounded number), not refused work."""
    h = Harness()
    for worker in (b"w1", b"w2"):
        h.handle(worker, ready())
    h.handle(CLIENT, submit("r", " ".join([SENTENCES] * 5)))  # w1 takes chunk 0 and keeps it
    for _ in range(30):
        pending = [t for t in h.tasks(b"w2") if chunk(t) not in h.finished]
        if not pending:
            break
        h.finish(b"w2", pending[0])
    ahead = h.scheduler.state.ahead_limit()
    assert len(h.scheduler.requests["r"].results) == ahead * OUT_OF_ORDER_FACTOR  # more than the blocked limit


def test_batching_workers_share_a_document_instead_of_one_taking_every_slot() -> None:
    h = Harness()
    h.handle(b"w1", ready(capacity=4, host="a"))
    h.handle(b"w2", ready(capacity=4, host="b"))
    text = " ".join(f"Sentence number {n} is here." for n in range(4))
    h.handle(CLIENT, submit("r", text, first_chunk_chars=None))
    counts = sorted(len(h.tasks(worker)) for worker in (b"w1", b"w2"))
    assert sum(counts) == 4 and counts == [2, 2], counts
