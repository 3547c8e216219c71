"""The frame layout every message shares, and nothing else.

Every message is one or two ZeroMQ frames after the ROUTER envelope:

1. a UTF-8 JSON header object with ``"v"`` (protocol version) and ``"t"`` (message type);
2. an optional raw payload: UTF-8 text for ``submit``/``task``, PCM for ``audio``/``result``.

Nothing on the wire is ever unpickled or evaluated: headers are plain JSON (NaN and infinity
refused both ways) and payloads are bytes, so a malformed or hostile frame can only produce a
:class:`ProtocolError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from swtts.protocol.errors import ErrorCode, ProtocolError

PROTOCOL_VERSION = 2
MAX_HEADER_BYTES = 256 * 1024


def pack(type_name: str, header: dict[str, Any], payload: bytes | None) -> list[bytes]:
    """Frames for one message (without any ROUTER envelope)."""
    body = {"v": PROTOCOL_VERSION, "t": type_name, **header}
    frames = [json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()]
    if payload is not None:
        frames.append(payload)
    return frames


def unpack(frames: Sequence[bytes]) -> tuple[str, dict[str, Any], bytes | None]:
    """The type name, header fields and payload of untrusted frames; the envelope is checked here."""
    if not frames or len(frames) > 2:
        raise ProtocolError(ErrorCode.MALFORMED, f"expected 1 or 2 frames, got {len(frames)}")
    raw = bytes(frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(ErrorCode.MALFORMED, f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(ErrorCode.MALFORMED, f"header is not a JSON object: {exc}") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.MALFORMED, "header nests too deeply") from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "header is not a JSON object")
    version = header.pop("v", None)
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.VERSION, f"protocol version {version!r} is not supported (this peer speaks {PROTOCOL_VERSION})"
        )
    type_name = header.pop("t", None)
    if not isinstance(type_name, str):
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_name!r}")
    return type_name, header, bytes(frames[1]) if len(frames) == 2 else None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")
