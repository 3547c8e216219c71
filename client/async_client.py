"""The asyncio producer: :class:`AsyncClient` and the :class:`AsyncAudioStream` it returns.

The same requests and answers as :class:`~swtts.client.sync_client.Client` (the logic lives in
:mod:`swtts.client.conversation`); one socket per stream or question. An LLM client's async
token iterable is awaited token by token; leaving a stream early cancels it at the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Any, TypeVar

import zmq.asyncio

from swtts.client.conversation import POLL_S, Conversation, Question, TokenParts, checked_text
from swtts.client.options import SynthesisOptions, markup_options, request_template
from swtts.client.reading import Reading
from swtts.client.results import AudioChunk, SynthesisResult
from swtts.client.transport import dealer, send_nowait_async
from swtts.config import Settings, load_settings
from swtts.protocol import (
    CacheClear,
    CacheClearReply,
    CacheStats,
    CacheStatsQuery,
    CacheStatsReply,
    Ping,
    PingReply,
    Query,
    Reply,
    StatusQuery,
    StatusReply,
    VoiceDescription,
    VoicesQuery,
    VoicesReply,
)

AsyncTextSource = str | Iterable[str] | AsyncIterable[str]
_R = TypeVar("_R", bound=Reply)


class AsyncAudioStream(AsyncIterator[AudioChunk]):
    """Async iterator over one request's audio; ``timings`` are filled in when it completes."""

    def __init__(self, generator: AsyncGenerator[AudioChunk, None], conversation: Conversation) -> None:
        self._generator = generator
        self._conversation = conversation

    @property
    def timings(self) -> dict[str, Any]:
        return self._conversation.timings

    async def __anext__(self) -> AudioChunk:
        return await self._generator.__anext__()

    async def aclose(self) -> None:
        """Stop early: the request is cancelled at the broker."""
        await self._generator.aclose()


class AsyncClient:
    """asyncio producer: ``async for chunk in client.stream(tokens)``; one socket per stream."""

    def __init__(self, endpoint: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.endpoint = endpoint or self.settings.service.endpoint
        self.context = zmq.asyncio.Context.instance()

    async def synthesize(self, text: AsyncTextSource, options: SynthesisOptions | None = None) -> SynthesisResult:
        """Speak a whole document and return its assembled audio and timings."""
        stream = self.stream(text, options)
        chunks = [chunk async for chunk in stream]
        return SynthesisResult.assemble(chunks, stream.timings, self.settings.assembly)

    def stream(self, text: AsyncTextSource, options: SynthesisOptions | None = None) -> AsyncAudioStream:
        """Async twin of :meth:`Client.stream`; leaving early (``break``, ``aclose()``) cancels the request.

        A plain iterable of tokens is read on the event loop, so it must not block; an LLM
        client's async iterable is awaited token by token. A silent broker is retried as in
        the sync client (fresh socket, parts replayed, chunks already received skipped).
        """
        template = request_template(self.settings, options)
        reading = Reading(markup_options(self.settings, template))
        if isinstance(text, str):
            text = reading.whole(checked_text(text, self.settings.service.max_text_chars))
        conversation = Conversation(template, self.settings.service, self.endpoint, reading, self.settings.assembly)
        return AsyncAudioStream(self._run(text, conversation), conversation)

    async def voices(self, timeout_s: float = 5.0) -> list[VoiceDescription]:
        """Every voice the connected workers hold, with how many workers hold each."""
        return list((await self._ask(VoicesQuery, VoicesReply, timeout_s)).voices)

    async def ping(self, timeout_s: float = 2.0) -> PingReply:
        return await self._ask(Ping, PingReply, timeout_s)

    async def status(self, timeout_s: float = 5.0) -> StatusReply:
        return await self._ask(StatusQuery, StatusReply, timeout_s)

    async def cache_stats(self, timeout_s: float = 5.0) -> CacheStats | None:
        return (await self._ask(CacheStatsQuery, CacheStatsReply, timeout_s)).cache

    async def cache_clear(self, timeout_s: float = 30.0) -> int:
        return (await self._ask(CacheClear, CacheClearReply, timeout_s)).removed

    async def _ask(self, query: type[Query], reply: type[_R], timeout_s: float) -> _R:
        question = Question(query, reply, self.endpoint, timeout_s)
        socket = dealer(self.context, self.endpoint, self.settings)
        loop = asyncio.get_running_loop()
        try:
            await send_nowait_async(socket, question.frames)
            deadline = loop.time() + timeout_s
            while (left := deadline - loop.time()) > 0 and await socket.poll(int(left * 1000)):
                answer = question.answer(await socket.recv_multipart())
                if answer is not None:
                    return answer
            raise question.unanswered()
        finally:
            socket.close(linger=0)

    async def _run(self, text: AsyncTextSource, conversation: Conversation) -> AsyncGenerator[AudioChunk, None]:
        link = _AsyncLink(self.context, self.endpoint, self.settings)
        sender: asyncio.Task[None] | None = None
        try:
            conversation.start()
            if isinstance(text, str):
                await link.send(conversation.part(text, more=False))
            else:
                sender = asyncio.create_task(self._send_tokens(link, conversation, text))
            while not conversation.done:
                if sender is not None and sender.done() and not sender.cancelled():
                    failure = sender.exception()
                    if failure is not None:
                        raise failure
                if await link.socket.poll(int(POLL_S * 1000)):
                    chunk = conversation.receive(await link.socket.recv_multipart())
                    if chunk is not None:
                        yield chunk
                elif conversation.must_retry():
                    link.reconnect()
                    for frames in conversation.replay():
                        await link.send(frames)
        finally:
            if sender is not None:
                sender.cancel()
            if not conversation.done and conversation.parts:
                await link.send(conversation.cancel())
            link.close(linger_ms=100)

    async def _send_tokens(self, link: _AsyncLink, conversation: Conversation, tokens: AsyncTextSource) -> None:
        """Cut tokens into sentences and send each as a part as soon as it is complete.

        The next token is awaited without being cancelled, in short slices while text is
        pending, so a slow stream without punctuation is still flushed after ``flush_after_s``.
        """
        parts = TokenParts(self.settings.stream, conversation.reading)

        async def send(texts: list[str]) -> None:
            for text in texts:
                await link.send(conversation.part(text, more=True))

        iterator = _aiter(tokens)
        next_token = asyncio.ensure_future(_next_token(iterator))
        try:
            while True:
                done, _ = await asyncio.wait({next_token}, timeout=POLL_S if parts.pending else None)
                if not done:
                    await send(parts.poll())
                    continue
                token = next_token.result()
                if token is None:
                    break
                await send(parts.feed(token) + parts.poll())
                next_token = asyncio.ensure_future(_next_token(iterator))
        finally:
            next_token.cancel()
        await send(parts.finish())
        await link.send(conversation.part(None, more=False))


class _AsyncLink:
    """The DEALER socket of one async stream, replaced by a fresh one on a Lazy-Pirate retry."""

    def __init__(self, context: zmq.asyncio.Context, endpoint: str, settings: Settings) -> None:
        self._context = context
        self._endpoint = endpoint
        self._settings = settings
        self.socket: zmq.asyncio.Socket = dealer(context, endpoint, settings)

    async def send(self, frames: list[bytes]) -> None:
        await send_nowait_async(self.socket, frames)

    def reconnect(self) -> None:
        self.socket.close(linger=0)
        self.socket = dealer(self._context, self._endpoint, self._settings)

    def close(self, linger_ms: int) -> None:
        self.socket.close(linger=linger_ms)


async def _next_token(iterator: AsyncIterator[str]) -> str | None:
    """The next token, or None at the end (a task must not end by raising StopAsyncIteration)."""
    return await anext(iterator, None)


async def _aiter(tokens: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(tokens, AsyncIterable):
        async for token in tokens:
            yield token
    else:
        for token in tokens:
            yield token
            await asyncio.sleep(0)
