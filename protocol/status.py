"""Records inside the broker's status answers: workers, queue and cache, as ``swtts status`` shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self

from swtts.protocol.fields import Fields, Record

MAX_COUNT = 2**62
MAX_SECONDS = 1e12


class WorkerState(StrEnum):
    READY = "ready"  # connected, with free capacity
    BUSY = "busy"  # connected, every slot in use
    STALLED = "stalled"  # connected, but missed a chunk's deadline: no work until it answers
    DEAD = "dead"  # went silent or unreachable (kept for a while so status can show it)


@dataclass(frozen=True)
class WorkerStatus(Record):
    """One worker as the broker sees it; ``reason`` and ``died_s_ago`` only for dead ones.

    ``missed_deadlines`` counts the chunks it held past their deadline (each went to another worker).
    """

    worker: str  # host:pid
    voice: str
    device: str
    state: WorkerState
    in_flight: int
    capacity: int
    chunks_done: int
    solo_chunks: int
    connected_s: float
    batch_sizes: dict[str, int] = field(default_factory=dict)  # forward-pass size -> passes
    missed_deadlines: int = 0
    reason: str | None = None
    died_s_ago: float | None = None

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            worker=fields.text("worker", max_chars=300),
            voice=fields.text("voice", allow_empty=True, max_chars=200),
            device=fields.text("device", allow_empty=True, max_chars=64),
            state=fields.choice("state", WorkerState),
            in_flight=fields.integer("in_flight", 0, MAX_COUNT),
            capacity=fields.integer("capacity", 0, MAX_COUNT),
            chunks_done=fields.integer("chunks_done", 0, MAX_COUNT),
            solo_chunks=fields.integer("solo_chunks", 0, MAX_COUNT),
            connected_s=fields.number("connected_s", 0.0, MAX_SECONDS),
            batch_sizes=fields.int_map("batch_sizes", 0, MAX_COUNT, {}),
            missed_deadlines=fields.integer("missed_deadlines", 0, MAX_COUNT, 0),
            reason=fields.optional_text("reason"),
            died_s_ago=fields.optional_number("died_s_ago", 0.0, MAX_SECONDS),
        )


@dataclass(frozen=True)
class QueueStatus(Record):
    """Requests open, chunks waiting for a worker and chunks being spoken."""

    requests: int = 0
    pending_chunks: int = 0
    in_flight_chunks: int = 0

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            requests=fields.integer("requests", 0, MAX_COUNT),
            pending_chunks=fields.integer("pending_chunks", 0, MAX_COUNT),
            in_flight_chunks=fields.integer("in_flight_chunks", 0, MAX_COUNT),
        )


@dataclass(frozen=True)
class CacheStats(Record):
    """Cache totals shared by every process using the directory.

    ``raw_bytes`` and ``bytes_stored`` both include the JSON metadata, so the ratio
    compares like with like.
    """

    hits: int
    misses: int
    hit_rate: float
    entries: int
    bytes_stored: int
    raw_bytes: int
    compression_ratio: float
    evictions: int

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            hits=fields.integer("hits", 0, MAX_COUNT),
            misses=fields.integer("misses", 0, MAX_COUNT),
            hit_rate=fields.number("hit_rate", 0.0, 1.0),
            entries=fields.integer("entries", 0, MAX_COUNT),
            bytes_stored=fields.integer("bytes_stored", 0, MAX_COUNT),
            raw_bytes=fields.integer("raw_bytes", 0, MAX_COUNT),
            compression_ratio=fields.number("compression_ratio", 0.0, MAX_SECONDS),
            evictions=fields.integer("evictions", 0, MAX_COUNT),
        )
