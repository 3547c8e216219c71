"""Bounds on what one client can ask of the gateway: body size and streams at once."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from swtts.gateways.http.errors import ApiError


class BodyLimitMiddleware:
    """413 for a request body over ``max_bytes``, declared (Content-Length) or streamed (chunked).

    The body is read here, up to the limit, before the app sees it (a JSON body is needed whole
    anyway); the app then gets it in one message and the original ``receive`` after that, so
    disconnects still reach it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body)}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = ApiError(413, f"request body over the limit of {self.max_bytes} bytes", "body_too_large")
        await error.response()(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying_receive() -> Message:
        return pending.pop(0) if pending else await receive()

    return replaying_receive


class StreamSlots:
    """A count of speech streams in progress, with a hard limit (the next one is refused)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def take(self) -> None:
        if self.active >= self.limit:
            raise ApiError(
                429,
                f"too many speech streams at once (limit {self.limit}); retry when one ends",
                "too_many_streams",
            )
        self.active += 1

    def release(self) -> None:
        self.active -= 1
