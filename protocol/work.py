"""Messages between the broker and its workers: hello, tasks, results, liveness.

A chunk is named by two fields, its request's id and its index in that request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from swtts.protocol.fields import Fields
from swtts.protocol.messages import Message, MsgType
from swtts.protocol.params import SynthesisParams
from swtts.protocol.requests import Speech
from swtts.protocol.status import MAX_SECONDS
from swtts.protocol.voices import VoiceDescription

MAX_CAPACITY = 256


@dataclass(frozen=True)
class Ready(Message):
    """A worker's hello, sent on every connect: its voice, where it runs, how much it takes at once.

    ``solo``: it can speak a chunk on every core of its host when it is alone there.
    ``normalizer``: how it reads text for its voice's language ("en/1": the language's rules
    and their version; "" when it has none), part of the cache key of normalized chunks.
    """

    TYPE: ClassVar[MsgType] = MsgType.READY

    voice: VoiceDescription
    voice_hash: str  # content hash of the voice files, its identity in cache keys; "": not hashed, never cached
    device: str
    host: str
    pid: int
    capacity: int = 1
    batching: bool = False
    solo: bool = False
    normalizer: str = ""

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            voice=fields.record("voice", VoiceDescription),
            voice_hash=fields.text("voice_hash", allow_empty=True, max_chars=200),
            device=fields.text("device", max_chars=64),
            host=fields.text("host", max_chars=255),
            pid=fields.integer("pid", 0, 2**32),
            capacity=fields.integer("capacity", 1, MAX_CAPACITY, 1),
            batching=fields.flag("batching", False),
            solo=fields.flag("solo", False),
            normalizer=fields.text("normalizer", "", allow_empty=True, max_chars=64),
        )

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"


@dataclass(frozen=True)
class Task(Message):
    """Speak this chunk; ``solo``: the worker may use every core of its host for it.

    ``normalize``: read its numbers, money, dates and abbreviations as words first; ``text``
    stays the chunk as the producer sent it (what its audio is reported with).
    """

    TYPE: ClassVar[MsgType] = MsgType.TASK
    PAYLOAD: ClassVar[str | None] = "text"

    request_id: str
    index: int
    text: str
    params: SynthesisParams = field(default_factory=SynthesisParams)
    solo: bool = False
    normalize: bool = True

    @classmethod
    def read(cls, fields: Fields) -> Self:
        request_id, index = fields.request_id(), fields.chunk_index()
        return cls(
            request_id=request_id,
            index=index,
            params=fields.record("params", SynthesisParams, SynthesisParams()),
            solo=fields.flag("solo", False),
            normalize=fields.flag("normalize", True),
            text=fields.text_payload(required=True) or "",
        )


@dataclass(frozen=True)
class Result(Speech):
    """A chunk's audio from the worker that spoke it.

    ``batch``: how many chunks shared the forward pass; ``solo``: it ran on the solo session.
    """

    TYPE: ClassVar[MsgType] = MsgType.RESULT

    synth_ms: float = 0.0
    batch: int = 1
    solo: bool = False

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            **cls.read_speech(fields),
            synth_ms=fields.number("synth_ms", 0.0, MAX_SECONDS),
            batch=fields.integer("batch", 1, MAX_CAPACITY, 1),
            solo=fields.flag("solo", False),
        )


@dataclass(frozen=True)
class Failed(Message):
    """A chunk could not be synthesized; ``error`` says why in one line."""

    TYPE: ClassVar[MsgType] = MsgType.FAILED

    request_id: str
    index: int
    error: str

    @classmethod
    def read(cls, fields: Fields) -> Self:
        request_id, index = fields.request_id(), fields.chunk_index()
        return cls(request_id, index, fields.text("error"))


@dataclass(frozen=True)
class Signal(Message):
    """A message that is only its type."""

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls()


@dataclass(frozen=True)
class Heartbeat(Signal):
    """I am alive (worker <-> broker; broker -> producer while its request is in progress)."""

    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT


@dataclass(frozen=True)
class Disconnect(Signal):
    """A worker leaves cleanly; its chunks in flight go back to the queue."""

    TYPE: ClassVar[MsgType] = MsgType.DISCONNECT
