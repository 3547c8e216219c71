"""Error codes on the wire, the protocol's own exception, and the errors a client raises.

A code names one broken rule; the classes group codes by what the caller can do about them
(retry later, fix the request, wait for the service), so an application catches
:class:`BusyError` or :class:`InvalidRequestError` rather than comparing strings.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Error codes carried by ``error`` messages, :class:`ProtocolError` and :class:`TTSError`."""

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
    FORBIDDEN = "forbidden"  # the peer's key does not hold the role the message needs
    INTERNAL = "internal"


class ProtocolError(ValueError):
    """A message or request breaks a rule; ``code`` says which, ``field`` where.

    ``request_id`` and ``index`` are set once the decoder has read them, so a peer can still
    be answered about the request (or chunk) whose message was bad.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        request_id: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id
        self.index = index


class TTSError(RuntimeError):
    """A request (or a question to the broker) failed; ``code`` says why, ``message`` in words."""

    default_code = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        self.code = code or self.default_code
        self.message = " ".join(message.split())  # always one line
        super().__init__(f"{self.message} [{self.code.value}]")


class BusyError(TTSError):
    """The broker's queue is full; the same request may succeed a little later."""

    default_code = ErrorCode.BUSY


class UnavailableError(TTSError):
    """No broker answered, or it is shutting down."""

    default_code = ErrorCode.UNAVAILABLE


class RequestTimeoutError(TTSError):
    """The request did not finish within its deadline."""

    default_code = ErrorCode.TIMEOUT


class InvalidRequestError(TTSError):
    """The request itself is wrong (text, voice, parameters, framing); retrying will not help."""

    default_code = ErrorCode.BAD_PARAM


class RequestCancelledError(TTSError):
    """The request was cancelled before it finished."""

    default_code = ErrorCode.CANCELLED


class SynthesisFailedError(TTSError):
    """A worker could not speak a chunk, or every worker that tried died."""

    default_code = ErrorCode.SYNTHESIS_FAILED


_CLASSES: dict[ErrorCode, type[TTSError]] = {
    ErrorCode.BUSY: BusyError,
    ErrorCode.UNAVAILABLE: UnavailableError,
    ErrorCode.TIMEOUT: RequestTimeoutError,
    ErrorCode.CANCELLED: RequestCancelledError,
    ErrorCode.SYNTHESIS_FAILED: SynthesisFailedError,
    ErrorCode.WORKER_LOST: SynthesisFailedError,
    **dict.fromkeys(
        (
            ErrorCode.MALFORMED,
            ErrorCode.VERSION,
            ErrorCode.UNKNOWN_TYPE,
            ErrorCode.EMPTY_TEXT,
            ErrorCode.BAD_UTF8,
            ErrorCode.CONTROL_CHARS,
            ErrorCode.TOO_LONG,
            ErrorCode.UNKNOWN_VOICE,
            ErrorCode.BAD_PARAM,
            ErrorCode.UNKNOWN_REQUEST,
            ErrorCode.DUPLICATE_REQUEST,
            ErrorCode.FORBIDDEN,
        ),
        InvalidRequestError,
    ),
}


def error_class(code: ErrorCode) -> type[TTSError]:
    """The exception class that stands for ``code`` (:class:`TTSError` itself for internal faults)."""
    return _CLASSES.get(code, TTSError)


def tts_error(code: ErrorCode, message: str) -> TTSError:
    """The exception a client raises for an error ``code`` with ``message``."""
    return error_class(code)(message, code)
