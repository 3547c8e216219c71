"""The broker's brain, free of sockets: requests, the chunk queue, workers and the ordered collector.

Every inbound message becomes a method call; everything to send goes into an outbox of
``(peer identity, frames)`` that the socket loop drains. Keeping I/O out makes the rules
(load balancing, fairness, re-queueing, ordering, deadlines, backpressure) testable alone.

Rules in one place:

- **Load balancing**: a chunk goes only to a worker with free capacity (it said READY or
  returned a result), least recently used first, so a slow chunk never blocks the others.
- **Fairness**: a free worker takes the next chunk of the request with the fewest chunks in
  flight, then the one served longest ago, so requests interleave and a short reply never
  waits behind a long article.
- **Solo runs**: a chunk given to the only busy worker on its host while nothing else waits
  is marked ``solo``; a CPU worker then speaks it on every core instead of its one. A
  document's first chunk (short, so audio starts early) also runs solo when the host is idle
  and the document has at least a chunk per worker to follow; the rest of the document waits
  off that host until it is spoken, which costs the other workers a short first chunk's time
  and brings first audio to a whole host's speed.
- **Ordered collector**: results are held until every earlier chunk of the request has been
  sent, so the producer receives audio in document order, each chunk exactly once.
- **Reliability**: a worker silent for ``heartbeat_liveness`` periods is dead; its chunks go
  back to the front of their queues, up to ``max_attempts`` tries per chunk.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from swtts.broker.cache import AudioCache, CachedAudio, cache_key
from swtts.broker.metrics import Metrics
from swtts.config import Settings
from swtts.pipeline.chunker import Chunk, looks_complete, split_text
from swtts.protocol import (
    ErrorCode,
    Message,
    MsgType,
    ProtocolError,
    SynthesisParams,
    decode_text,
    encode,
)

LOGGER = logging.getLogger(__name__)

Outbox = list[tuple[bytes, list[bytes]]]

_DEAD_WORKERS_KEPT = 32


@dataclass
class ChunkResult:
    """A finished chunk waiting for its turn in document order."""

    pcm: bytes
    sample_rate: int
    sentence_samples: list[int]
    phonemes: str
    synth_ms: float
    queued_ms: float
    worker: str
    cached: bool
    arrived: float = 0.0


@dataclass
class Job:
    """One chunk of a request and its trip through the queue."""

    chunk: Chunk
    cache_key: str | None
    enqueued: float
    attempts: int = 0
    dispatched: float = 0.0


@dataclass
class Request:
    """A producer's document (possibly still streaming in) and its ordered collector."""

    id: str
    client: bytes
    voice: str | None
    params: SynthesisParams
    use_cache: bool
    max_chunk_chars: int
    first_chunk_chars: int
    created: float
    deadline: float
    jobs: list[Job] = field(default_factory=list)
    pending: deque[int] = field(default_factory=deque)
    in_flight: set[int] = field(default_factory=set)
    results: dict[int, ChunkResult] = field(default_factory=dict)
    next_emit: int = 0
    parts: int = 0
    text_chars: int = 0
    closed: bool = False
    first_audio: float | None = None
    last_dispatch: float = float("-inf")
    doc_key: str | None = None
    doc_hit: bool = False
    workers_used: set[str] = field(default_factory=set)
    lead_host: str | None = None
    cached_chunks: int = 0
    synth_ms: float = 0.0
    queued_ms: float = 0.0
    audio_samples: int = 0


@dataclass
class WorkerState:
    """A connected worker as the broker sees it."""

    identity: bytes
    info: dict[str, Any]
    capacity: int
    expires: float
    connected: float
    in_flight: set[tuple[str, int]] = field(default_factory=set)
    last_used: float = 0.0
    chunks_done: int = 0
    solo_chunks: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)

    @property
    def voice(self) -> str:
        return str(self.info.get("name", ""))

    @property
    def label(self) -> str:
        return f"{self.info.get('host', '?')}:{self.info.get('pid', '?')}"

    def describe(self, now: float, state: str | None = None) -> dict[str, Any]:
        return {
            "id": self.identity.hex(),
            "worker": self.label,
            "voice": self.voice,
            "device": self.info.get("device", "?"),
            "state": state or ("busy" if self.in_flight else "ready"),
            "in_flight": len(self.in_flight),
            "capacity": self.capacity,
            "chunks_done": self.chunks_done,
            "solo_chunks": self.solo_chunks,
            "batch_sizes": {str(size): count for size, count in sorted(self.batch_sizes.items())},
            "connected_s": round(now - self.connected, 1),
        }


class Scheduler:
    """All broker state and rules; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        cache: AudioCache | None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.requests: dict[str, Request] = {}
        self.workers: dict[bytes, WorkerState] = {}
        self.dead_workers: deque[dict[str, Any]] = deque(maxlen=_DEAD_WORKERS_KEPT)
        self.outbox: Outbox = []
        self.started = clock()
        self.next_heartbeat = self.started
        self.audio_seconds_total = 0.0
        self.default_voice = ""

    # ----- inbound -------------------------------------------------------------------------

    def handle(self, peer: bytes, message: Message) -> None:
        """Apply one decoded message from ``peer``."""
        handler = self._handlers.get(message.type)
        if handler is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{message.type.value} is not accepted by the broker")
        worker = self.workers.get(peer)
        if worker is not None:
            worker.expires = self.clock() + self._liveness_s
        handler(self, peer, message)
        self.dispatch()

    def reject(self, peer: bytes, error: ProtocolError, request_id: str | None = None) -> None:
        """Answer a bad message with a clear error; nothing else changes."""
        self._send(peer, MsgType.ERROR, {"id": request_id, "code": error.code.value, "error": error.message})

    def peer_unreachable(self, peer: bytes) -> None:
        """ROUTER could not route to ``peer``: a client left or a worker vanished."""
        if peer in self.workers:
            self._worker_died(peer, "unreachable")
        for request in [r for r in self.requests.values() if r.client == peer]:
            LOGGER.info("request %s: producer went away; dropping it", request.id)
            self._finish(request, outcome="abandoned")

    def tick(self) -> None:
        """Timers: heartbeats and cache gauges (once per interval), dead workers, deadlines; then dispatch."""
        now = self.clock()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + self.settings.service.heartbeat_interval_s
            for identity in self.workers:
                self._send(identity, MsgType.HEARTBEAT)
            for client in {r.client for r in self.requests.values()}:
                self._send(client, MsgType.HEARTBEAT)
            if self.cache is not None:
                stats = self.cache.stats()
                self.metrics.cache_bytes.set(stats.bytes_stored)
                self.metrics.cache_evictions.set(stats.evictions)
        for identity in [i for i, w in self.workers.items() if w.expires < now]:
            self._worker_died(identity, "heartbeat lost")
        for request in [r for r in self.requests.values() if r.deadline < now]:
            self._fail(
                request,
                ErrorCode.TIMEOUT,
                f"request did not finish within its deadline of {request.deadline - request.created:.0f} s",
            )
        self.dispatch()
        self._update_gauges()

    def shutdown(self) -> None:
        """Fail every request still in progress so no producer waits on a broker that is leaving."""
        for request in list(self.requests.values()):
            self._fail(request, ErrorCode.UNAVAILABLE, "the broker is shutting down")

    def take_outbox(self) -> Outbox:
        out, self.outbox = self.outbox, []
        return out

    # ----- producers -----------------------------------------------------------------------

    def _on_submit(self, peer: bytes, message: Message) -> None:
        request_id = str(message.get("id") or "")
        try:
            self._submit(peer, request_id, message)
        except ProtocolError as error:
            self.reject(peer, error, request_id)
            self.metrics.requests.labels("rejected_" + error.code.value).inc()

    def _submit(self, peer: bytes, request_id: str, message: Message) -> None:
        service = self.settings.service
        if not request_id:
            raise ProtocolError(ErrorCode.MALFORMED, "submit needs a non-empty 'id'")
        part = message.get("part", 0)
        if not isinstance(part, int) or isinstance(part, bool) or part < 0:
            raise ProtocolError(ErrorCode.MALFORMED, f"'part' must be a non-negative integer, got {part!r}")
        request = self.requests.get(request_id)
        if part == 0:
            if request is not None:
                raise ProtocolError(ErrorCode.DUPLICATE_REQUEST, f"request {request_id!r} is already in progress")
            request = self._open_request(peer, request_id, message)
        elif request is None or request.client != peer:
            raise ProtocolError(ErrorCode.UNKNOWN_REQUEST, f"no open request {request_id!r} to add part {part} to")
        elif request.closed or part != request.parts:
            raise ProtocolError(
                ErrorCode.MALFORMED, f"part {part} of {request_id!r} is out of order (expected {request.parts})"
            )
        more = bool(message.get("more", False))
        if part > 0 and not more and not message.payload:
            request.parts += 1
            request.closed = True
            self._emit_ready(request)
            return
        text = decode_text(message.payload, service.max_text_chars - (request.text_chars if part else 0))
        if part == 0 and not more:
            request.doc_key = self._doc_key(request, text)
        chunks = self._document_chunks(request) or split_text(
            text,
            max_chars=request.max_chunk_chars,
            first_chunk_chars=request.first_chunk_chars if not request.jobs else None,
            start_index=len(request.jobs),
            pack_chars=self._share_of(text, request.voice),
        )
        self._check_capacity(len(chunks), len(text.encode()))
        if part == 0:
            self.requests[request_id] = request
        request.parts += 1
        request.text_chars += len(text)
        request.closed = not more
        if chunks and request.jobs and text[: len(text) - len(text.lstrip())].count("\n") >= 2:
            chunks[0] = replace(chunks[0], paragraph_start=True)
        if chunks and more and not looks_complete(chunks[-1].text, 0, len(chunks[-1].text)):
            chunks[-1] = replace(chunks[-1], sentence_end=False)
        now = self.clock()
        for chunk in chunks:
            key = self._chunk_key(request, chunk.text)
            request.jobs.append(Job(chunk, key, now))
            cached = self._cache_get(key)
            if cached is None:
                request.pending.append(chunk.index)
            else:
                request.results[chunk.index] = ChunkResult(
                    cached.pcm,
                    cached.sample_rate,
                    list(cached.meta.get("sentence_samples", [])),
                    str(cached.meta.get("phonemes", "")),
                    0.0,
                    0.0,
                    "cache",
                    True,
                )
        self._send(peer, MsgType.ACCEPTED, {"id": request_id, "part": part, "chunks": len(request.jobs)})
        LOGGER.debug("request %s part %d: %d chars, %d chunks", request_id, part, len(text), len(chunks))
        self._emit_ready(request)

    def _share_of(self, text: str, voice: str | None) -> int | None:
        """Characters per worker, so a text shorter than workers x max_chunk_chars still reaches them all.

        Without it a 500-character reply becomes a 120-character first chunk plus one long
        chunk, and one worker speaks most of it while the others idle.
        """
        workers = sum(1 for w in self.workers.values() if voice is None or w.voice == voice)
        return math.ceil(len(text) / workers) if workers > 1 else None

    def _open_request(self, peer: bytes, request_id: str, message: Message) -> Request:
        service, chunker = self.settings.service, self.settings.chunker
        params = SynthesisParams.from_wire(message.get("params"))
        voice = self._resolve_voice(message.get("voice"), params)
        deadline_s = message.get("deadline_s") or service.request_deadline_s
        max_chars = _positive_int(message.get("max_chunk_chars"), chunker.max_chunk_chars, "max_chunk_chars")
        first_chars = _positive_int(message.get("first_chunk_chars"), chunker.first_chunk_chars, "first_chunk_chars")
        if not isinstance(deadline_s, (int, float)) or not 0 < deadline_s <= 86400:
            raise ProtocolError(ErrorCode.BAD_PARAM, f"deadline_s must be in (0, 86400], got {deadline_s!r}")
        now = self.clock()
        return Request(
            id=request_id,
            client=peer,
            voice=voice,
            params=params,
            use_cache=bool(message.get("cache", True)) and self.cache is not None,
            max_chunk_chars=max_chars,
            first_chunk_chars=min(first_chars, max_chars),
            created=now,
            deadline=now + float(deadline_s),
        )

    def _resolve_voice(self, requested: Any, params: SynthesisParams) -> str | None:
        """Pick the voice a request uses, checking it and its speaker against connected workers."""
        voices = {w.voice: w.info for w in self.workers.values()}
        if requested is not None and not isinstance(requested, str):
            raise ProtocolError(ErrorCode.BAD_PARAM, f"voice must be a string, got {requested!r}")
        if not voices:
            return requested
        name = requested or (self.default_voice if self.default_voice in voices else sorted(voices)[0])
        if name not in voices:
            raise ProtocolError(
                ErrorCode.UNKNOWN_VOICE, f"unknown voice {name!r}; available: {', '.join(sorted(voices))}"
            )
        speakers = int(voices[name].get("num_speakers", 1))
        if params.speaker >= max(1, speakers):
            raise ProtocolError(
                ErrorCode.BAD_PARAM,
                f"unknown speaker {params.speaker}; voice {name!r} has {max(1, speakers)} speaker(s)",
            )
        return name

    def _check_capacity(self, new_chunks: int, new_bytes: int) -> None:
        service = self.settings.service
        queued = sum(len(r.pending) for r in self.requests.values())
        queued_bytes = sum(len(r.jobs[i].chunk.text.encode()) for r in self.requests.values() for i in r.pending)
        if queued + new_chunks > service.max_queued_chunks or queued_bytes + new_bytes > service.max_queued_bytes:
            raise ProtocolError(
                ErrorCode.BUSY,
                f"busy: {queued} chunks ({queued_bytes} bytes) queued; this request would pass the limit of "
                f"{service.max_queued_chunks} chunks / {service.max_queued_bytes} bytes. Retry later.",
            )

    def _on_cancel(self, peer: bytes, message: Message) -> None:
        request = self.requests.get(str(message.get("id")))
        if request is None or request.client != peer:
            return
        dropped = len(request.pending)
        self.metrics.chunks.labels("dropped").inc(dropped)
        LOGGER.info("request %s cancelled; %d queued chunks dropped", request.id, dropped)
        self._send(peer, MsgType.ERROR, {"id": request.id, "code": ErrorCode.CANCELLED.value, "error": "cancelled"})
        self._finish(request, outcome="cancelled")

    def _on_ping(self, peer: bytes, message: Message) -> None:
        ready = sum(1 for w in self.workers.values() if len(w.in_flight) < w.capacity)
        self._send(
            peer,
            MsgType.REPLY,
            {
                "workers": len(self.workers),
                "ready": ready,
                "voices": sorted({w.voice for w in self.workers.values()}),
                "echo": message.get("echo"),
            },
        )

    def _on_status(self, peer: bytes, message: Message) -> None:
        self._send(peer, MsgType.REPLY, self.status())

    def _on_cache_stats(self, peer: bytes, message: Message) -> None:
        self._send(peer, MsgType.REPLY, {"cache": self.cache.stats().as_dict() if self.cache else None})

    def _on_cache_clear(self, peer: bytes, message: Message) -> None:
        removed = self.cache.clear() if self.cache else 0
        self._send(peer, MsgType.REPLY, {"removed": removed})

    # ----- workers -------------------------------------------------------------------------

    def _on_ready(self, peer: bytes, message: Message) -> None:
        now = self.clock()
        capacity = message.get("capacity", 1)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 256:
            raise ProtocolError(ErrorCode.MALFORMED, f"capacity must be an integer in [1, 256], got {capacity!r}")
        if not message.get("name") or not message.get("voice_hash"):
            raise ProtocolError(ErrorCode.MALFORMED, "ready needs the worker's voice 'name' and 'voice_hash'")
        for key in ("name", "voice_hash"):
            if not isinstance(message.get(key), str):
                raise ProtocolError(ErrorCode.MALFORMED, f"ready: {key} must be a string")
        for key in ("sample_rate", "num_speakers"):
            value = message.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProtocolError(ErrorCode.MALFORMED, f"ready: {key} must be a positive integer, got {value!r}")
        worker = self.workers.get(peer)
        if worker is None:
            worker = WorkerState(peer, dict(message.fields), capacity, now + self._liveness_s, now)
            self.workers[peer] = worker
            LOGGER.info("worker %s joined: voice %s on %s", worker.label, worker.voice, worker.info.get("device"))
        worker.info, worker.capacity = dict(message.fields), capacity

    def _on_heartbeat(self, peer: bytes, message: Message) -> None:
        if peer not in self.workers:
            self._send(
                peer, MsgType.ERROR, {"code": ErrorCode.UNKNOWN_PEER.value, "error": "unknown worker; send ready"}
            )

    def _on_disconnect(self, peer: bytes, message: Message) -> None:
        if peer in self.workers:
            self._worker_died(peer, "left", dead=False)

    def _on_result(self, peer: bytes, message: Message) -> None:
        located = self._take_chunk(peer, message)
        if located is None:
            return
        request, job, worker = located
        pcm = message.payload or b""
        try:
            sample_rate = int(message.get("sample_rate"))
            sentence_samples = [int(n) for n in message.get("sentence_samples") or []]
            synth_ms = float(message.get("synth_ms") or 0.0)
            batch = int(message.get("batch") or 1)
        except (TypeError, ValueError, OverflowError):
            sample_rate = 0
        if len(pcm) % 2 or sample_rate <= 0:
            # The chunk is out of every queue now: fail its request rather than leave it hanging.
            self._fail(
                request,
                ErrorCode.SYNTHESIS_FAILED,
                f"chunk {job.chunk.index}: worker {worker.label} sent a malformed result",
            )
            raise ProtocolError(
                ErrorCode.MALFORMED,
                "result needs int16 PCM, a positive sample_rate and numeric sentence_samples, synth_ms and batch",
            )
        phonemes = str(message.get("phonemes") or "")
        queued_ms = (job.dispatched - job.enqueued) * 1000
        self.metrics.chunks.labels("synthesized").inc()
        self.metrics.stage_seconds.labels("queue_wait").observe(queued_ms / 1000)
        self.metrics.stage_seconds.labels("synthesis").observe(synth_ms / 1000)
        if self.cache is not None and job.cache_key is not None:
            self.cache.put(
                job.cache_key,
                CachedAudio(pcm, sample_rate, {"sentence_samples": sentence_samples, "phonemes": phonemes}),
            )
        if job.chunk.index in request.results or job.chunk.index < request.next_emit:
            return
        request.results[job.chunk.index] = ChunkResult(
            pcm,
            sample_rate,
            sentence_samples,
            phonemes,
            synth_ms,
            queued_ms,
            worker.label,
            False,
            self.clock(),
        )
        worker.batch_sizes[batch] = worker.batch_sizes.get(batch, 0) + 1
        worker.solo_chunks += message.get("solo") is True
        LOGGER.debug(
            "request %s chunk %d: %d chars, queued %.1f ms, synth %.1f ms on %s",
            request.id,
            job.chunk.index,
            len(job.chunk.text),
            queued_ms,
            synth_ms,
            worker.label,
        )
        self._emit_ready(request)

    def _on_failed(self, peer: bytes, message: Message) -> None:
        located = self._take_chunk(peer, message)
        if located is None:
            return
        request, job, _ = located
        self.metrics.chunks.labels("failed").inc()
        self._fail(
            request,
            ErrorCode.SYNTHESIS_FAILED,
            f"chunk {job.chunk.index} could not be synthesized: {message.get('error', 'unknown error')}",
        )

    def _take_chunk(self, peer: bytes, message: Message) -> tuple[Request, Job, WorkerState] | None:
        """Free the worker's slot for a returned chunk; find the chunk's request if it is still live.

        Only the worker a chunk was given to may answer for it, so no other peer can inject audio
        into (or fail) someone else's request.
        """
        worker = self.workers.get(peer)
        if worker is None:
            self._send(
                peer, MsgType.ERROR, {"code": ErrorCode.UNKNOWN_PEER.value, "error": "unknown worker; send ready"}
            )
            return None
        chunk_id = str(message.get("chunk", ""))
        request_id, _, index_text = chunk_id.rpartition(":")
        if not (index_text.isascii() and index_text.isdigit()):
            raise ProtocolError(ErrorCode.MALFORMED, f"bad chunk id {chunk_id!r}")
        index = int(index_text)
        if (request_id, index) not in worker.in_flight:
            LOGGER.warning("worker %s answered for chunk %s it does not hold; ignoring it", worker.label, chunk_id)
            return None
        worker.in_flight.discard((request_id, index))
        worker.chunks_done += 1
        request = self.requests.get(request_id)
        if request is None or index >= len(request.jobs):
            return None
        request.in_flight.discard(index)
        return request, request.jobs[index], worker

    # ----- dispatch and collection ---------------------------------------------------------

    def dispatch(self) -> None:
        """Give queued chunks to free workers: least recently used worker, least served request."""
        free = sorted((w for w in self.workers.values() if len(w.in_flight) < w.capacity), key=lambda w: w.last_used)
        for worker in free:
            while len(worker.in_flight) < worker.capacity:
                request = self._next_request_for(worker)
                if request is None:
                    break
                index = request.pending.popleft()
                job = request.jobs[index]
                now = self.clock()
                job.attempts += 1
                job.dispatched = now
                request.in_flight.add(index)
                request.last_dispatch = now
                request.workers_used.add(worker.label)
                worker.in_flight.add((request.id, index))
                worker.last_used = now
                leads = self._leads(worker, request, index)
                if index == 0:  # a re-sent first chunk that does not lead must not keep holding its old host
                    request.lead_host = worker.info.get("host") if leads else None
                solo = leads or self._alone(worker)
                self._send(
                    worker.identity,
                    MsgType.TASK,
                    {"chunk": f"{request.id}:{index}", "params": request.params.to_wire(), "solo": solo},
                    job.chunk.text.encode(),
                )

    def _alone(self, worker: WorkerState) -> bool:
        """True when ``worker`` can take its host's every core: no neighbour is busy, nothing waits."""
        return self._idle_neighbours(worker) is not None and not any(r.pending for r in self.requests.values())

    def _leads(self, worker: WorkerState, request: Request, index: int) -> bool:
        """True for a document's first chunk that may take the idle host while the rest waits."""
        if index != 0 or request.first_audio is not None:
            return False
        neighbours = self._idle_neighbours(worker)
        return (
            neighbours is not None
            and len(request.pending) > len(neighbours)
            and not any(other.pending for other in self.requests.values() if other is not request)
        )

    def _idle_neighbours(self, worker: WorkerState) -> list[WorkerState] | None:
        """The other workers on ``worker``'s host when it offers solo runs and none of them (nor it,
        beyond the chunk just given) is busy; None when it cannot have the host to itself."""
        if worker.info.get("solo") is not True or len(worker.in_flight) > 1:
            return None
        host = worker.info.get("host")
        neighbours = [
            other for other in self.workers.values() if other is not worker and other.info.get("host") == host
        ]
        return None if any(other.in_flight for other in neighbours) else neighbours

    def _next_request_for(self, worker: WorkerState) -> Request | None:
        voice = worker.voice
        best: Request | None = None
        for request in self.requests.values():
            if not request.pending or (request.voice is not None and request.voice != voice):
                continue
            if (
                0 in request.in_flight
                and request.lead_host is not None
                and request.lead_host == worker.info.get("host")
            ):
                continue  # its first chunk is being spoken on every core of this host
            if best is None or _turn(request) < _turn(best):
                best = request
        if best is not None and best.voice is None:
            best.voice = voice
        return best

    def _emit_ready(self, request: Request) -> None:
        """Send every result that is next in document order; finish the request when all are out."""
        while request.next_emit in request.results:
            index = request.next_emit
            result = request.results.pop(index)
            job = request.jobs[index]
            now = self.clock()
            if request.first_audio is None:
                request.first_audio = now
                self.metrics.first_audio.observe(now - request.created)
            if result.arrived:
                self.metrics.stage_seconds.labels("assembly").observe(now - result.arrived)
            request.next_emit += 1
            request.cached_chunks += result.cached
            request.synth_ms += result.synth_ms
            request.queued_ms += result.queued_ms
            request.audio_samples += len(result.pcm) // 2
            if result.cached:
                request.workers_used.add("cache")
            self._send(
                request.client,
                MsgType.AUDIO,
                {
                    "id": request.id,
                    "index": index,
                    "text": job.chunk.text,
                    "paragraph_start": job.chunk.paragraph_start,
                    "sentence_end": job.chunk.sentence_end,
                    "sample_rate": result.sample_rate,
                    "sentence_samples": result.sentence_samples,
                    "phonemes": result.phonemes,
                    "total": len(request.jobs) if request.closed else None,
                    "cached": result.cached,
                    "worker": result.worker,
                    "queued_ms": round(result.queued_ms, 3),
                    "synth_ms": round(result.synth_ms, 3),
                },
                result.pcm,
            )
        if request.closed and request.next_emit == len(request.jobs):
            self._complete(request)

    def _complete(self, request: Request) -> None:
        now = self.clock()
        total_s = now - request.created
        sample_rate = int(self._sample_rate_of(request))
        audio_s = request.audio_samples / sample_rate if sample_rate else 0.0
        timings = {
            "total_ms": round(total_s * 1000, 3),
            "first_audio_ms": round(((request.first_audio or now) - request.created) * 1000, 3),
            "queued_ms": round(request.queued_ms, 3),
            "synth_ms": round(request.synth_ms, 3),
            "cached_chunks": request.cached_chunks,
            "workers": sorted(request.workers_used),
        }
        self._send(
            request.client,
            MsgType.DONE,
            {"id": request.id, "chunks": len(request.jobs), "audio_s": audio_s, "timings": timings},
        )
        if request.doc_key is not None and not request.doc_hit and self.cache is not None:
            chunks = [job.chunk.__dict__ for job in request.jobs]
            self.cache.put(request.doc_key, CachedAudio(b"", sample_rate, {"chunks": chunks}))
        self.metrics.request_latency.observe(total_s)
        self.metrics.audio_seconds.inc(audio_s)
        self.audio_seconds_total += audio_s
        LOGGER.info(
            "request %s done: %d chars, %d chunks (%d cached), %.1f s audio, first audio %.0f ms, total %.0f ms",
            request.id,
            request.text_chars,
            len(request.jobs),
            request.cached_chunks,
            audio_s,
            timings["first_audio_ms"],
            timings["total_ms"],
        )
        self._finish(request, outcome="completed")

    def _document_chunks(self, request: Request) -> list[Chunk]:
        """The chunk list of a document seen before (its document-level entry), if cached.

        The document entry holds the chunking only; audio comes from the chunk entries, so
        nothing is stored twice and a chunk evicted since is simply synthesized again.
        """
        cached = self._cache_get(request.doc_key)
        if cached is None:
            return []
        try:
            chunks = [Chunk(**fields) for fields in cached.meta.get("chunks", [])]
        except TypeError:  # written by a version whose Chunk had other fields: chunk the text again
            return []
        request.doc_hit = True
        return chunks

    # ----- failure paths -------------------------------------------------------------------

    def _worker_died(self, identity: bytes, reason: str, dead: bool = True) -> None:
        worker = self.workers.pop(identity)
        now = self.clock()
        if dead:
            LOGGER.warning(
                "worker %s is dead (%s); re-queueing %d chunk(s)", worker.label, reason, len(worker.in_flight)
            )
            self.dead_workers.append(
                {**worker.describe(now, "dead"), "reason": reason, "died_s_ago": 0.0, "died_at": now}
            )
        else:
            LOGGER.info("worker %s left", worker.label)
        for request_id, index in sorted(worker.in_flight):
            request = self.requests.get(request_id)
            if request is None or index not in request.in_flight:
                continue
            request.in_flight.discard(index)
            job = request.jobs[index]
            if job.attempts >= self.settings.service.max_attempts:
                self._fail(
                    request,
                    ErrorCode.WORKER_LOST,
                    f"chunk {index} was tried {job.attempts} times and each worker died; giving up",
                )
                continue
            self.metrics.chunks.labels("requeued").inc()
            job.enqueued = now
            request.pending.appendleft(index)
            request.pending = deque(sorted(request.pending))

    def _fail(self, request: Request, code: ErrorCode, error: str) -> None:
        LOGGER.warning("request %s failed: %s", request.id, error)
        self._send(request.client, MsgType.ERROR, {"id": request.id, "code": code.value, "error": error})
        self._finish(request, outcome=code.value)

    def _finish(self, request: Request, outcome: str) -> None:
        self.requests.pop(request.id, None)
        request.pending.clear()
        self.metrics.requests.labels(outcome).inc()

    # ----- helpers -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A snapshot for ``swtts status`` (the same figures Prometheus sees)."""
        now = self.clock()
        for entry in self.dead_workers:
            entry["died_s_ago"] = round(now - entry["died_at"], 1)
        return {
            "uptime_s": round(now - self.started, 1),
            "workers": [w.describe(now) for w in self.workers.values()]
            + [{k: v for k, v in d.items() if k != "died_at"} for d in self.dead_workers],
            "queue": {
                "requests": len(self.requests),
                "pending_chunks": sum(len(r.pending) for r in self.requests.values()),
                "in_flight_chunks": sum(len(r.in_flight) for r in self.requests.values()),
            },
            "audio_seconds_total": round(self.audio_seconds_total, 3),
            "cache": self.cache.stats().as_dict() if self.cache else None,
        }

    def _update_gauges(self) -> None:
        m = self.metrics
        m.queue_depth.set(sum(len(r.pending) for r in self.requests.values()))
        m.active_requests.set(len(self.requests))
        counts: dict[tuple[str, str], int] = {}
        for w in self.workers.values():
            key = ("busy" if w.in_flight else "ready", str(w.info.get("device", "?")))
            counts[key] = counts.get(key, 0) + 1
        for d in self.dead_workers:
            counts[("dead", str(d["device"]))] = counts.get(("dead", str(d["device"])), 0) + 1
        m.workers.clear()
        for (state, device), count in counts.items():
            m.workers.labels(state, device).set(count)

    @property
    def _liveness_s(self) -> float:
        service = self.settings.service
        return service.heartbeat_interval_s * service.heartbeat_liveness

    def _voice_hash(self, voice: str | None) -> str | None:
        for worker in self.workers.values():
            if worker.voice == voice:
                return str(worker.info["voice_hash"])
        return None

    def _sample_rate_of(self, request: Request) -> int:
        for worker in self.workers.values():
            if worker.voice == request.voice:
                return int(worker.info.get("sample_rate", 0))
        return 22050

    def _audio_params(self, request: Request) -> dict[str, Any]:
        return {**request.params.to_wire(), "format": "pcm_s16le_mono"}

    def _chunk_key(self, request: Request, text: str) -> str | None:
        voice_hash = self._voice_hash(request.voice) if request.use_cache else None
        return cache_key("chunk", text, voice_hash, self._audio_params(request)) if voice_hash else None

    def _doc_key(self, request: Request, text: str) -> str | None:
        voice_hash = self._voice_hash(request.voice) if request.use_cache else None
        if voice_hash is None:
            return None
        chunking = {"max_chunk_chars": request.max_chunk_chars, "first_chunk_chars": request.first_chunk_chars}
        return cache_key("doc", text, voice_hash, {**self._audio_params(request), **chunking})

    def _cache_get(self, key: str | None) -> CachedAudio | None:
        if key is None or self.cache is None:
            return None
        cached = self.cache.get(key)
        self.metrics.cache_events.labels("hit" if cached else "miss").inc()
        if cached is not None:
            self.metrics.chunks.labels("cached").inc()
        return cached

    def _send(
        self, peer: bytes, msg_type: MsgType, fields: dict[str, Any] | None = None, payload: bytes | None = None
    ) -> None:
        self.outbox.append((peer, encode(msg_type, fields, payload)))

    _handlers: dict[MsgType, Callable[[Scheduler, bytes, Message], None]] = {
        MsgType.SUBMIT: _on_submit,
        MsgType.CANCEL: _on_cancel,
        MsgType.PING: _on_ping,
        MsgType.STATUS: _on_status,
        MsgType.CACHE_STATS: _on_cache_stats,
        MsgType.CACHE_CLEAR: _on_cache_clear,
        MsgType.READY: _on_ready,
        MsgType.HEARTBEAT: _on_heartbeat,
        MsgType.DISCONNECT: _on_disconnect,
        MsgType.RESULT: _on_result,
        MsgType.FAILED: _on_failed,
    }


def _turn(request: Request) -> tuple[int, float, float]:
    """Fair order: fewest chunks in flight, then longest since last served, then oldest."""
    return len(request.in_flight), request.last_dispatch, request.created


def _positive_int(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 20 <= value <= 100_000:
        raise ProtocolError(ErrorCode.BAD_PARAM, f"{name} must be an integer in [20, 100000], got {value!r}")
    return value
