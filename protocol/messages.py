"""The wire protocol: every frame layout, message type and error code, defined once.

Every message is one or two ZeroMQ frames after the ROUTER envelope:

1. a UTF-8 JSON header object with ``"v"`` (protocol version) and ``"t"`` (message type);
2. an optional raw payload: UTF-8 text for ``submit``/``task``, int16 little-endian PCM for
   ``audio``/``result``.

Nothing on the wire is ever unpickled or evaluated: headers are plain JSON and payloads are
bytes, so a malformed or hostile frame can only produce a :class:`ProtocolError`.
All peers (producers and workers) talk to one ROUTER socket over DEALER sockets.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

PROTOCOL_VERSION = 1
MAX_HEADER_BYTES = 256 * 1024


class MsgType(StrEnum):
    """Message types; the comment says who sends each."""

    SUBMIT = "submit"  # producer -> broker: a document, or one part of a streamed one (+ text)
    CANCEL = "cancel"  # producer -> broker: drop a request's queued chunks (barge-in)
    PING = "ping"  # producer -> broker: liveness and ready-worker count
    STATUS = "status"  # producer -> broker: full snapshot (workers, queue, cache, throughput)
    CACHE_STATS = "cache_stats"  # producer -> broker
    CACHE_CLEAR = "cache_clear"  # producer -> broker
    ACCEPTED = "accepted"  # broker -> producer: the part was queued; chunk count so far
    AUDIO = "audio"  # broker -> producer: one chunk's audio, in document order (+ pcm)
    DONE = "done"  # broker -> producer: the request is complete, with its timings
    ERROR = "error"  # broker -> producer: the request (or message) failed, with a code
    REPLY = "reply"  # broker -> producer: answer to ping/status/cache_*
    READY = "ready"  # worker -> broker: hello, with voice, device, capacity, solo; also after reconnect
    RESULT = "result"  # worker -> broker: a chunk's audio (+ pcm)
    FAILED = "failed"  # worker -> broker: a chunk could not be synthesized
    TASK = "task"  # broker -> worker: synthesize this chunk (+ text); solo: it may use every core
    HEARTBEAT = "heartbeat"  # both ways, broker <-> worker, and broker -> producer while busy
    DISCONNECT = "disconnect"  # worker -> broker: leaving cleanly


class ErrorCode(StrEnum):
    """Error codes carried by ``error`` messages and :class:`ProtocolError`."""

    MALFORMED = "malformed"
    VERSION = "version"
    UNKNOWN_TYPE = "unknown_type"
    EMPTY_TEXT = "empty_text"
    BAD_UTF8 = "bad_utf8"
    CONTROL_CHARS = "control_chars"
    TOO_LONG = "too_long"
    UNKNOWN_VOICE = "unknown_voice"
    BAD_PARAM = "bad_param"
    UNKNOWN_REQUEST = "unknown_request"
    DUPLICATE_REQUEST = "duplicate_request"
    BUSY = "busy"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    SYNTHESIS_FAILED = "synthesis_failed"
    WORKER_LOST = "worker_lost"
    UNAVAILABLE = "unavailable"
    UNKNOWN_PEER = "unknown_peer"


class ProtocolError(Exception):
    """A message or request is invalid; ``code`` says which rule it broke."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Message:
    """A decoded message: its type, header fields and optional binary payload."""

    type: MsgType
    fields: dict[str, Any]
    payload: bytes | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def encode(msg_type: MsgType, fields: dict[str, Any] | None = None, payload: bytes | None = None) -> list[bytes]:
    """Frames for one message (without any ROUTER envelope)."""
    header = {"v": PROTOCOL_VERSION, "t": msg_type.value, **(fields or {})}
    frames = [json.dumps(header, separators=(",", ":"), allow_nan=False).encode()]
    if payload is not None:
        frames.append(payload)
    return frames


def decode(frames: list[bytes]) -> Message:
    """Parse frames into a :class:`Message`, or raise :class:`ProtocolError` saying what is wrong."""
    if not frames or len(frames) > 2:
        raise ProtocolError(ErrorCode.MALFORMED, f"expected 1 or 2 frames, got {len(frames)}")
    raw = bytes(frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(ErrorCode.MALFORMED, f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"header is not a JSON object: {exc}") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.MALFORMED, "header nests too deeply") from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "header is not a JSON object")
    version = header.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.VERSION, f"protocol version {version!r} is not supported (this peer speaks {PROTOCOL_VERSION})"
        )
    type_name = header.pop("t", None)
    try:
        msg_type = MsgType(type_name)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_name!r}") from None
    payload = bytes(frames[1]) if len(frames) == 2 else None
    return Message(msg_type, header, payload)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class SynthesisParams:
    """Per-request synthesis parameters; ``None`` scales mean the voice's own defaults."""

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    speaker: int = 0
    volume: float = 1.0
    loudness_dbfs: float = -20.0

    _RANGES = {
        "length_scale": (0.05, 20.0),
        "noise_scale": (0.0, 5.0),
        "noise_w": (0.0, 5.0),
        "volume": (0.0, 10.0),
        "loudness_dbfs": (-60.0, 0.0),
    }

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Any) -> SynthesisParams:
        """Validate untrusted parameters, naming the first bad one."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ProtocolError(ErrorCode.BAD_PARAM, "params must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProtocolError(ErrorCode.BAD_PARAM, f"unknown parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, (low, high) in cls._RANGES.items():
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ProtocolError(ErrorCode.BAD_PARAM, f"{name} must be a finite number, got {value!r}")
            if not low <= value <= high:
                raise ProtocolError(ErrorCode.BAD_PARAM, f"{name}={value} is outside [{low}, {high}]")
            values[name] = float(value)
        speaker = data.get("speaker", 0)
        if isinstance(speaker, bool) or not isinstance(speaker, int) or speaker < 0:
            raise ProtocolError(ErrorCode.BAD_PARAM, f"speaker must be a non-negative integer, got {speaker!r}")
        return cls(speaker=speaker, **values)


_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def decode_text(payload: bytes | None, max_chars: int) -> str:
    """Decode and check a text payload: strict UTF-8, not empty, no control characters, bounded."""
    if payload is None:
        raise ProtocolError(ErrorCode.MALFORMED, "text frame is missing")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            ErrorCode.BAD_UTF8, f"text is not valid UTF-8: byte 0x{payload[exc.start]:02x} at offset {exc.start}"
        ) from None
    return check_text(text, max_chars)


def check_text(text: str, max_chars: int) -> str:
    """Reject text that cannot be spoken sensibly, saying exactly why."""
    if len(text) > max_chars:
        raise ProtocolError(ErrorCode.TOO_LONG, f"text has {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        raise ProtocolError(ErrorCode.EMPTY_TEXT, "text is empty or only whitespace")
    bad = _CONTROL_CHARS.search(text)
    if bad is not None:
        raise ProtocolError(
            ErrorCode.CONTROL_CHARS,
            f"text contains control character U+{ord(bad.group()):04X} at position {bad.start()}",
        )
    return text
