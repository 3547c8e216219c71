"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with the right status."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from swtts.client import (
    BusyError,
    InvalidRequestError,
    RequestTimeoutError,
    SynthesisFailedError,
    TTSError,
    UnavailableError,
)
from swtts.protocol import ErrorCode

# what the caller can do about a failure (its class) -> HTTP status; a code may say more
_STATUS_BY_CLASS: tuple[tuple[type[TTSError], int], ...] = (
    (BusyError, 429),
    (UnavailableError, 503),
    (RequestTimeoutError, 504),
    (InvalidRequestError, 400),
    (SynthesisFailedError, 502),
)
_STATUS_BY_CODE = {ErrorCode.TOO_LONG: 413, ErrorCode.WORKER_LOST: 503}
_PARAM_BY_CODE = {
    ErrorCode.TOO_LONG: "input",
    ErrorCode.EMPTY_TEXT: "input",
    ErrorCode.BAD_UTF8: "input",
    ErrorCode.CONTROL_CHARS: "input",
    ErrorCode.UNKNOWN_VOICE: "voice",
}
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answer; raised anywhere in a route and rendered by :func:`api_error_handler`."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    @classmethod
    def from_tts_error(cls, error: TTSError) -> ApiError:
        """The HTTP answer to a failure the client raised, its code kept as OpenAI's ``code``."""
        status = _STATUS_BY_CODE.get(error.code) or next(
            (status for kind, status in _STATUS_BY_CLASS if isinstance(error, kind)), 500
        )
        return cls(status, error.message, error.code.value, _PARAM_BY_CODE.get(error.code))

    def body(self) -> dict[str, Any]:
        kind = _TYPES.get(self.status, "server_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        if self.status in (429, 503):
            headers = {"Retry-After": "1"}
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 becomes OpenAI's 400, naming the first offending field."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the body is not valid JSON: {first.get('msg')}", "invalid_json").response()
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = location[0] if location else None
    message = f"{'.'.join(location) or 'body'}: {first.get('msg', 'invalid value')}"
    return ApiError(400, message, "invalid_value", param).response()


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (404, 405, ...) in the same shape."""
    assert isinstance(exc, HTTPException)
    return ApiError(exc.status_code, str(exc.detail), "http_" + str(exc.status_code)).response()
