"""The wire protocol between producers, the broker and workers: frames, messages, error codes."""

from swtts.protocol.messages import (
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    Message,
    MsgType,
    ProtocolError,
    SynthesisParams,
    check_text,
    decode,
    decode_text,
    encode,
)

__all__ = [
    "MAX_HEADER_BYTES",
    "PROTOCOL_VERSION",
    "ErrorCode",
    "Message",
    "MsgType",
    "ProtocolError",
    "SynthesisParams",
    "check_text",
    "decode",
    "decode_text",
    "encode",
]
