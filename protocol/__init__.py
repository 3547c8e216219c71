"""The wire protocol between producers, the broker and workers: every message, defined once.

Each message type is a frozen dataclass with ``encode() -> frames``; :func:`decode` turns
untrusted frames back into one, or raises :class:`ProtocolError` naming the bad field.
The error classes a client raises (:class:`TTSError` and its kinds) live here too, so every
layer can name them without importing the client.
"""

from swtts.protocol.errors import (
    BusyError,
    ErrorCode,
    InvalidRequestError,
    ProtocolError,
    RequestCancelledError,
    RequestTimeoutError,
    SynthesisFailedError,
    TTSError,
    UnavailableError,
    error_class,
    tts_error,
)
from swtts.protocol.frames import MAX_HEADER_BYTES, PROTOCOL_VERSION
from swtts.protocol.messages import Message, MsgType, decode
from swtts.protocol.params import SynthesisParams, check_text
from swtts.protocol.queries import (
    CacheClear,
    CacheClearReply,
    CacheStatsQuery,
    CacheStatsReply,
    Ping,
    PingReply,
    Query,
    Reply,
    StatusQuery,
    StatusReply,
    VoicesQuery,
    VoicesReply,
)
from swtts.protocol.requests import (
    CHANNELS,
    SAMPLE_WIDTH,
    Accepted,
    Audio,
    Cancel,
    Done,
    Error,
    RequestTimings,
    Speech,
    Submit,
    WordSpan,
)
from swtts.protocol.status import CacheStats, QueueStatus, WorkerState, WorkerStatus
from swtts.protocol.voices import DEFAULT_VOICE, VoiceDescription, choose_voice, matching_voices, voice_name
from swtts.protocol.work import Disconnect, Failed, Heartbeat, Ready, Result, Task

__all__ = [
    "CHANNELS",
    "DEFAULT_VOICE",
    "MAX_HEADER_BYTES",
    "PROTOCOL_VERSION",
    "SAMPLE_WIDTH",
    "Accepted",
    "Audio",
    "BusyError",
    "CacheClear",
    "CacheClearReply",
    "CacheStats",
    "CacheStatsQuery",
    "CacheStatsReply",
    "Cancel",
    "Disconnect",
    "Done",
    "Error",
    "ErrorCode",
    "Failed",
    "Heartbeat",
    "InvalidRequestError",
    "Message",
    "MsgType",
    "Ping",
    "PingReply",
    "ProtocolError",
    "Query",
    "QueueStatus",
    "Ready",
    "Reply",
    "RequestCancelledError",
    "RequestTimeoutError",
    "RequestTimings",
    "Result",
    "Speech",
    "StatusQuery",
    "StatusReply",
    "Submit",
    "SynthesisFailedError",
    "SynthesisParams",
    "TTSError",
    "Task",
    "UnavailableError",
    "VoiceDescription",
    "VoicesQuery",
    "VoicesReply",
    "WordSpan",
    "WorkerState",
    "WorkerStatus",
    "check_text",
    "choose_voice",
    "decode",
    "error_class",
    "matching_voices",
    "tts_error",
    "voice_name",
]
