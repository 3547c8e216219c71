"""Questions a producer asks the broker, and its typed answers.

Each answer echoes its question's ``echo`` token, so a late answer to an earlier question
(asked with a shorter timeout) is never taken for the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from swtts.protocol.fields import MAX_ID_CHARS, Fields
from swtts.protocol.messages import Message, MsgType
from swtts.protocol.status import MAX_COUNT, MAX_SECONDS, CacheStats, QueueStatus, WorkerStatus
from swtts.protocol.voices import VoiceDescription


@dataclass(frozen=True)
class Query(Message):
    """A question with no fields but its echo token."""

    echo: str = ""

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(_echo(fields))


def _echo(fields: Fields) -> str:
    return fields.text("echo", "", allow_empty=True, max_chars=MAX_ID_CHARS)


@dataclass(frozen=True)
class Ping(Query):
    """Is the broker alive, and how many workers are ready?"""

    TYPE: ClassVar[MsgType] = MsgType.PING


@dataclass(frozen=True)
class StatusQuery(Query):
    """The full snapshot: workers, queue, cache, throughput."""

    TYPE: ClassVar[MsgType] = MsgType.STATUS


@dataclass(frozen=True)
class CacheStatsQuery(Query):
    TYPE: ClassVar[MsgType] = MsgType.CACHE_STATS


@dataclass(frozen=True)
class CacheClear(Query):
    TYPE: ClassVar[MsgType] = MsgType.CACHE_CLEAR


@dataclass(frozen=True)
class VoicesQuery(Query):
    """Which voices do the connected workers hold?"""

    TYPE: ClassVar[MsgType] = MsgType.VOICES


@dataclass(frozen=True)
class Reply(Message):
    """An answer; ``echo`` is its question's token."""

    echo: str


@dataclass(frozen=True)
class PingReply(Reply):
    """Connected workers, those with a free slot, and the names of their voices."""

    TYPE: ClassVar[MsgType] = MsgType.PING_REPLY

    workers: int
    ready: int
    voices: tuple[str, ...] = ()

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            echo=_echo(fields),
            workers=fields.integer("workers", 0, MAX_COUNT),
            ready=fields.integer("ready", 0, MAX_COUNT),
            voices=fields.texts("voices"),
        )


@dataclass(frozen=True)
class StatusReply(Reply):
    """A snapshot for ``swtts status``: the same figures Prometheus sees."""

    TYPE: ClassVar[MsgType] = MsgType.STATUS_REPLY

    uptime_s: float
    workers: tuple[WorkerStatus, ...]
    queue: QueueStatus
    audio_seconds_total: float
    cache: CacheStats | None = None

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            echo=_echo(fields),
            uptime_s=fields.number("uptime_s", 0.0, MAX_SECONDS),
            workers=fields.records("workers", WorkerStatus),
            queue=fields.record("queue", QueueStatus),
            audio_seconds_total=fields.number("audio_seconds_total", 0.0, MAX_SECONDS),
            cache=fields.optional_record("cache", CacheStats),
        )


@dataclass(frozen=True)
class CacheStatsReply(Reply):
    """The broker's cache totals; None when it runs without a cache."""

    TYPE: ClassVar[MsgType] = MsgType.CACHE_STATS_REPLY

    cache: CacheStats | None

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(_echo(fields), fields.optional_record("cache", CacheStats))


@dataclass(frozen=True)
class CacheClearReply(Reply):
    TYPE: ClassVar[MsgType] = MsgType.CACHE_CLEAR_REPLY

    removed: int

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(_echo(fields), fields.integer("removed", 0, MAX_COUNT))


@dataclass(frozen=True)
class VoicesReply(Reply):
    """Every voice the connected workers hold, longest-connected first, with a worker count each."""

    TYPE: ClassVar[MsgType] = MsgType.VOICES_REPLY

    voices: tuple[VoiceDescription, ...]

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(_echo(fields), fields.records("voices", VoiceDescription))
