"""What every message shares: its type on the wire, its encoding, and decoding by type.

Each message type is a frozen dataclass (in :mod:`requests`, :mod:`queries` and :mod:`work`)
with a ``TYPE``, optionally a ``PAYLOAD`` field that travels in the second frame, and a
``read`` that validates its fields; :func:`decode` picks the class by the header's type.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, ClassVar

from swtts.protocol.errors import ErrorCode, ProtocolError
from swtts.protocol.fields import Fields, Record
from swtts.protocol.frames import pack, unpack


class MsgType(StrEnum):
    """Message types; the comment says who sends each."""

    SUBMIT = "submit"  # producer -> broker: a document, or one part of a streamed one (+ text)
    CANCEL = "cancel"  # producer -> broker: drop a request's queued chunks (barge-in)
    PING = "ping"  # producer -> broker: liveness and ready-worker count
    STATUS = "status"  # producer -> broker: full snapshot (workers, queue, cache, throughput)
    CACHE_STATS = "cache_stats"  # producer -> broker
    CACHE_CLEAR = "cache_clear"  # producer -> broker
    VOICES = "voices"  # producer -> broker: the voices the connected workers hold
    ACCEPTED = "accepted"  # broker -> producer: the part was queued; chunk count so far
    AUDIO = "audio"  # broker -> producer: one chunk's audio, in document order (+ pcm)
    DONE = "done"  # broker -> producer: the request is complete, with its timings
    ERROR = "error"  # broker -> producer (or worker): the request or message failed, with a code
    PING_REPLY = "ping_reply"  # broker -> producer: answers to the questions above
    STATUS_REPLY = "status_reply"
    CACHE_STATS_REPLY = "cache_stats_reply"
    CACHE_CLEAR_REPLY = "cache_clear_reply"
    VOICES_REPLY = "voices_reply"
    READY = "ready"  # worker -> broker: hello, with its voice, device, capacity, solo; also after reconnect
    TASK = "task"  # broker -> worker: synthesize this chunk (+ text); solo: it may use every core
    RESULT = "result"  # worker -> broker: a chunk's audio (+ pcm)
    FAILED = "failed"  # worker -> broker: a chunk could not be synthesized
    HEARTBEAT = "heartbeat"  # both ways, broker <-> worker, and broker -> producer while busy
    DISCONNECT = "disconnect"  # worker -> broker: leaving cleanly


_KINDS: dict[str, type[Message]] = {}


class Message(Record):
    """Base of every message type. ``PAYLOAD`` names the field sent as the raw second frame."""

    TYPE: ClassVar[MsgType]
    PAYLOAD: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            _KINDS[cls.TYPE.value] = cls

    def encode(self) -> list[bytes]:
        """Frames for this message (without any ROUTER envelope)."""
        return pack(self.TYPE.value, *self._header_and_payload())

    def validate(self) -> None:
        """Check this message as its receiver will (types, ranges), raising ProtocolError naming the field."""
        header, payload = self._header_and_payload()
        self.read(Fields(header, self.TYPE.value, payload))

    def _header_and_payload(self) -> tuple[dict[str, Any], bytes | None]:
        header = self.to_wire()
        if self.PAYLOAD is None:
            return header, None
        header.pop(self.PAYLOAD)
        value = getattr(self, self.PAYLOAD)
        return header, value.encode() if isinstance(value, str) else value


def decode(frames: Sequence[bytes]) -> Message:
    """The message in untrusted ``frames``, or a :class:`ProtocolError` naming what is wrong."""
    type_name, header, payload = unpack(frames)
    kind = _KINDS.get(type_name)
    if kind is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_name!r}")
    if kind.PAYLOAD is None and payload is not None:
        raise ProtocolError(ErrorCode.MALFORMED, f"a {type_name} message has no payload frame, got one")
    return kind.read(Fields(header, type_name, payload))
