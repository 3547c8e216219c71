"""What the scheduler knows: requests and their chunks, workers, and the outbox of messages to send.

Plain data shared by the scheduler's parts (admission, dispatch, collector, status); the
rules live in those modules, not here.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from swtts.broker.cache import AudioCache
from swtts.broker.metrics import Metrics
from swtts.broker.ratelimit import RateLimitedLog
from swtts.config import Settings
from swtts.pipeline.chunker import Chunk
from swtts.protocol import (
    Message,
    Ready,
    SynthesisParams,
    VoiceDescription,
    WordSpan,
    WorkerState,
    WorkerStatus,
    matching_voices,
)

Outbox = list[tuple[bytes, list[bytes]]]

AHEAD_CHUNKS = 4
"""At least this many chunks of a request may be done ahead of what its producer has taken."""
OUT_OF_ORDER_FACTOR = 4


@dataclass
class ChunkResult:
    """A finished chunk waiting for its turn in document order."""

    pcm: bytes
    sample_rate: int
    sentence_samples: tuple[int, ...]
    phonemes: str
    synth_ms: float
    queued_ms: float
    worker: str
    cached: bool
    arrived: float = 0.0
    words: tuple[WordSpan, ...] = ()


@dataclass
class Job:
    """One chunk of a request and its trip through the queue."""

    chunk: Chunk
    cache_key: str | None
    enqueued: float
    attempts: int = 0
    dispatched: float = 0.0
    looked_up: bool = False  # the cache was asked (and had nothing): its turn is a worker's


@dataclass
class Request:
    """A producer's document (possibly still streaming in) and its ordered collector.

    ``voice`` is the voice it is spoken with; while no worker was there to resolve it, it is
    None and ``voice_query`` holds what the producer asked for (a name or a language).
    """

    id: str
    client: bytes
    voice: str | None
    params: SynthesisParams
    use_cache: bool
    max_chunk_chars: int
    first_chunk_chars: int
    created: float
    deadline: float
    voice_query: str | None = None
    normalize: bool = True
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
    unserved_since: float | None = None  # since when it has had no usable worker for its voice (None: it has one)
    doc_key: str | None = None
    doc_hit: bool = False
    workers_used: set[str] = field(default_factory=set)
    lead_host: str | None = None
    cached_chunks: int = 0
    synth_ms: float = 0.0
    queued_ms: float = 0.0
    audio_samples: int = 0


@dataclass
class Worker:
    """A connected worker as the broker sees it: its READY, its slots, its tally.

    ``in_flight`` maps each chunk it holds, ``(request id, index)``, to when that chunk is due;
    ``overdue`` holds the chunks it kept past that (they went to other workers): while any is
    left the worker is stalled and gets no work, and its late answer is ignored. While
    ``holds_host`` is in flight (a short solo chunk), its neighbours take no chunk.
    """

    identity: bytes
    ready: Ready
    expires: float
    connected: float
    in_flight: dict[tuple[str, int], float] = field(default_factory=dict)
    overdue: set[tuple[str, int]] = field(default_factory=set)
    missed_deadlines: int = 0
    last_used: float = 0.0
    holds_host: tuple[str, int] | None = None
    chunks_done: int = 0
    solo_chunks: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)

    @property
    def voice(self) -> str:
        return self.ready.voice.name

    @property
    def description(self) -> VoiceDescription:
        return self.ready.voice

    @property
    def label(self) -> str:
        return self.ready.label

    @property
    def host(self) -> str:
        return self.ready.host

    @property
    def capacity(self) -> int:
        return self.ready.capacity

    @property
    def has_room(self) -> bool:
        return not self.overdue and len(self.in_flight) < self.capacity

    @property
    def state(self) -> WorkerState:
        if self.overdue:
            return WorkerState.STALLED
        return WorkerState.BUSY if self.in_flight else WorkerState.READY

    def status(self, now: float, state: WorkerState | None = None) -> WorkerStatus:
        return WorkerStatus(
            worker=self.label,
            voice=self.voice,
            device=self.ready.device,
            state=state or self.state,
            in_flight=len(self.in_flight),
            capacity=self.capacity,
            chunks_done=self.chunks_done,
            solo_chunks=self.solo_chunks,
            connected_s=round(now - self.connected, 1),
            batch_sizes={str(size): count for size, count in sorted(self.batch_sizes.items())},
            missed_deadlines=self.missed_deadlines,
        )


@dataclass
class DeadWorker:
    """A worker that died, kept for a while so ``status`` can show it."""

    status: WorkerStatus
    died_at: float


@dataclass
class State:
    """Everything the scheduler's parts share."""

    settings: Settings
    cache: AudioCache | None
    metrics: Metrics
    clock: Callable[[], float] = time.monotonic
    requests: dict[str, Request] = field(default_factory=dict)
    workers: dict[bytes, Worker] = field(default_factory=dict)  # in the order they first said READY
    outbox: Outbox = field(default_factory=list)
    blocked: set[bytes] = field(default_factory=set)  # peers whose outgoing queue is full (they read slowly)
    more_to_send: bool = False  # a turn ended with audio ready to send: the next one comes at once
    audio_seconds_total: float = 0.0
    warnings: RateLimitedLog = field(init=False)  # about peers' bad messages, so a flood is not a log flood

    def __post_init__(self) -> None:
        self.warnings = RateLimitedLog(clock=self.clock)

    def send(self, peer: bytes, message: Message) -> None:
        self.outbox.append((peer, message.encode()))

    def voices(self) -> dict[str, VoiceDescription]:
        """Each voice of the connected workers, in the order its first worker connected, with its worker count."""
        counts = Counter(worker.voice for worker in self.workers.values())
        first: dict[str, VoiceDescription] = {}
        for worker in self.workers.values():
            first.setdefault(worker.voice, worker.description)
        return {name: replace(voice, workers=counts[name]) for name, voice in first.items()}

    def ahead_limit(self) -> int:
        """Results a request may hold that its producer has not taken yet: beyond this, while its
        producer's queue is full (a slow reader), its chunks are neither dispatched nor read from
        the cache, so the broker's memory follows this, not the document's length."""
        return max(AHEAD_CHUNKS, len(self.workers))

    def holds_enough(self, request: Request) -> bool:
        """Whether ``request`` holds as many results as it may: :meth:`ahead_limit` while its
        producer is blocked, otherwise a few times that (results done out of order behind a long
        chunk still in progress must not keep the other workers idle)."""
        limit = self.ahead_limit() * (1 if request.client in self.blocked else OUT_OF_ORDER_FACTOR)
        return len(request.results) >= limit

    def worker_with(self, voice: str | None) -> Worker | None:
        """The longest-connected worker holding ``voice``."""
        return next((worker for worker in self.workers.values() if worker.voice == voice), None)


def speaks(worker: Worker, request: Request) -> bool:
    """Whether ``worker``'s voice is the request's (or, not resolved yet, what it asked for)."""
    if request.voice is not None:
        return request.voice == worker.voice
    return request.voice_query is None or bool(matching_voices(request.voice_query, [worker.description]))
