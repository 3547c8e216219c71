"""Producer API: send text to a running broker, get ordered audio back.

``Client.synthesize(text)`` returns the whole document's audio; ``Client.stream(text_or_tokens)``
yields audio chunk by chunk in document order as soon as each is ready, and accepts an LLM's
token iterator: pieces are cut into sentences on the fly and each goes to the workers as soon
as it is complete. Closing the stream early (``break``, ``close()``) cancels it at the broker.
:class:`AsyncClient` offers the same for asyncio.

A broker that goes silent is retried (Lazy Pirate): a fresh socket, the request resubmitted
part by part, chunks already received skipped, a bounded number of times, then a clear error.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from swtts.broker.security import secure_client
from swtts.config import Settings, load_settings
from swtts.pipeline.assembly import assemble, write_audio
from swtts.pipeline.segmenter import SentenceSegmenter
from swtts.protocol import ErrorCode, Message, MsgType, ProtocolError, SynthesisParams, check_text, decode, encode

TextSource = str | Iterable[str]
LOGGER = logging.getLogger(__name__)
_POLL_S = 0.05
_FEED_POLL_S = 0.01  # while tokens stream in, pick up each new sentence within 10 ms


class TTSError(RuntimeError):
    """A request failed; ``code`` is the broker's or client's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AudioChunk:
    """One chunk of speech, in document order, with its own timings."""

    index: int
    text: str
    pcm: bytes
    sample_rate: int
    sentence_samples: list[int]
    paragraph_start: bool
    sentence_end: bool
    phonemes: str
    cached: bool
    worker: str
    queued_ms: float
    synth_ms: float
    received_ms: float
    total: int | None

    @property
    def audio(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


@dataclass
class SynthesisResult:
    """A whole document: assembled audio, its chunks and timings per stage."""

    audio: np.ndarray
    sample_rate: int
    chunks: list[AudioChunk]
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.audio.size / self.sample_rate if self.sample_rate else 0.0

    def write(self, path: str | Path) -> Path:
        """Write WAV/FLAC/OGG (by extension) atomically and verify it."""
        return write_audio(path, self.audio, self.sample_rate)


class _Conversation:
    """Protocol state of one request, with no I/O: what to send, what the replies mean."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.request_id = uuid.uuid4().hex
        self.parts: list[tuple[str | None, bool]] = []
        self.expected = 0
        self.done = False
        self.timings: dict[str, Any] = {}
        self.started = time.perf_counter()

    def part(self, text: str | None, more: bool) -> list[bytes]:
        """Frames for the next part (``text=None`` closes a stream)."""
        self.parts.append((text, more))
        return self._frames(len(self.parts) - 1, text, more)

    def replay(self) -> list[list[bytes]]:
        """Every part again under a fresh id, for a retry after the broker went silent."""
        self.request_id = uuid.uuid4().hex
        return [self._frames(i, text, more) for i, (text, more) in enumerate(self.parts)]

    def cancel(self) -> list[bytes]:
        return encode(MsgType.CANCEL, {"id": self.request_id})

    def receive(self, frames: list[bytes]) -> AudioChunk | None:
        """Interpret one reply; returns a new chunk, raises :class:`TTSError` on failure."""
        try:
            message = decode(frames)
        except ProtocolError as exc:
            raise TTSError(exc.code.value, f"bad reply from broker: {exc.message}") from None
        if message.get("id") not in (self.request_id, None):
            return None
        if message.type is MsgType.ERROR and message.get("code") != ErrorCode.UNKNOWN_PEER.value:
            self.done = True
            raise TTSError(str(message.get("code")), str(message.get("error")))
        if message.type is MsgType.DONE:
            self.done = True
            self.timings = dict(message.get("timings") or {})
            self.timings["client_total_ms"] = round((time.perf_counter() - self.started) * 1000, 3)
        if message.type is not MsgType.AUDIO or message.get("index") != self.expected:
            return None
        self.expected += 1
        return _chunk_from(message, (time.perf_counter() - self.started) * 1000)

    def _frames(self, index: int, text: str | None, more: bool) -> list[bytes]:
        fields = {**self.fields, "id": self.request_id, "part": index, "more": more}
        return encode(MsgType.SUBMIT, fields, text.encode() if text is not None else None)


def _chunk_from(message: Message, received_ms: float) -> AudioChunk:
    return AudioChunk(
        index=int(message.get("index")),
        text=str(message.get("text", "")),
        pcm=message.payload or b"",
        sample_rate=int(message.get("sample_rate")),
        sentence_samples=list(message.get("sentence_samples") or []),
        paragraph_start=bool(message.get("paragraph_start")),
        sentence_end=bool(message.get("sentence_end")),
        phonemes=str(message.get("phonemes", "")),
        cached=bool(message.get("cached")),
        worker=str(message.get("worker", "")),
        queued_ms=float(message.get("queued_ms") or 0.0),
        synth_ms=float(message.get("synth_ms") or 0.0),
        received_ms=round(received_ms, 3),
        total=message.get("total"),
    )


class _Options:
    """Request fields shared by the sync and async clients, built from settings and keywords."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fields(
        self,
        voice: str | None = None,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        speaker: int | None = None,
        volume: float | None = None,
        use_cache: bool = True,
        max_chunk_chars: int | None = None,
        first_chunk_chars: int | None = None,
        deadline_s: float | None = None,
    ) -> dict[str, Any]:
        syn = self.settings.synthesis
        params = SynthesisParams(
            length_scale=_scale(length_scale, syn.length_scale),
            noise_scale=_scale(noise_scale, syn.noise_scale),
            noise_w=_scale(noise_w, syn.noise_w),
            speaker=syn.speaker if speaker is None else speaker,
            volume=syn.volume if volume is None else volume,
            loudness_dbfs=syn.loudness_dbfs,
        )
        try:
            SynthesisParams.from_wire(params.to_wire())
        except ProtocolError as exc:
            raise TTSError(exc.code.value, exc.message) from None
        return {
            "voice": voice,
            "params": params.to_wire(),
            "cache": use_cache,
            "max_chunk_chars": max_chunk_chars or self.settings.chunker.max_chunk_chars,
            "first_chunk_chars": first_chunk_chars or self.settings.chunker.first_chunk_chars,
            "deadline_s": deadline_s or self.settings.service.request_deadline_s,
        }


def _scale(value: float | None, configured: float | None) -> float | None:
    """Keyword beats config; ``None`` (``"voice"`` in the config) means the voice's own value."""
    return configured if value is None else value


class Client:
    """Synchronous producer. Not thread-safe: use one Client per thread."""

    def __init__(self, endpoint: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.endpoint = endpoint or self.settings.service.endpoint
        self.context = zmq.Context.instance()
        self._options = _Options(self.settings)
        self._socket: zmq.Socket | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def synthesize(
        self, text: str, *, on_chunk: Callable[[AudioChunk], None] | None = None, **options: Any
    ) -> SynthesisResult:
        """Speak a whole document and return its assembled audio and timings."""
        chunks: list[AudioChunk] = []
        stream = self.stream(text, **options)
        for chunk in stream:
            chunks.append(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
        started = time.perf_counter()
        audio = assemble(chunks, self.settings.assembly)
        timings = dict(stream.timings)
        timings["assembly_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return SynthesisResult(audio, chunks[0].sample_rate if chunks else 0, chunks, timings)

    def stream(self, text: TextSource, **options: Any) -> AudioStream:
        """Audio chunks in document order as each is ready; ``text`` may be an iterable of tokens."""
        if isinstance(text, str):
            check_text_or_raise(text, self.settings.service.max_text_chars)
        return AudioStream(self, text, self._options.fields(**options))

    def ping(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """The broker's liveness answer (worker counts, voices); raises TTSError if it does not answer."""
        return self._ask(MsgType.PING, timeout_s, {"echo": uuid.uuid4().hex})

    def status(self, timeout_s: float = 5.0) -> dict[str, Any]:
        return self._ask(MsgType.STATUS, timeout_s)

    def cache_stats(self, timeout_s: float = 5.0) -> dict[str, Any]:
        return self._ask(MsgType.CACHE_STATS, timeout_s)

    def cache_clear(self, timeout_s: float = 30.0) -> dict[str, Any]:
        return self._ask(MsgType.CACHE_CLEAR, timeout_s)

    def _ask(self, msg_type: MsgType, timeout_s: float, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        socket = self._connected()
        _send_nowait(socket, encode(msg_type, fields))
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not socket.poll(left * 1000):
                break
            message = decode(socket.recv_multipart())
            if message.type is MsgType.REPLY and message.get("echo") == (fields or {}).get("echo"):
                return message.fields
        self.close()
        raise TTSError(
            ErrorCode.UNAVAILABLE.value, f"no answer from the broker at {self.endpoint} within {timeout_s:g} s"
        )

    def _connected(self) -> zmq.Socket:
        if self._socket is None:
            self._socket = _dealer(self.context, self.endpoint, self.settings)
        return self._socket


def check_text_or_raise(text: str, max_chars: int) -> None:
    """The same checks the broker makes, done before anything is sent."""
    try:
        check_text(text, max_chars)
    except ProtocolError as exc:
        raise TTSError(exc.code.value, exc.message) from None


def _send_nowait(socket: zmq.Socket, frames: list[bytes]) -> None:
    """Send without blocking. A DEALER the broker refused (CURVE) has no pipe, so a blocking
    send would hang for good; a message dropped here is covered by the Lazy-Pirate timeout and
    retry, which replays the request on a fresh socket."""
    try:
        socket.send_multipart(frames, zmq.NOBLOCK)
    except zmq.Again:
        LOGGER.debug("no connection to the broker; a message is dropped (a retry replays it)")


def _dealer(context: zmq.Context, endpoint: str, settings: Settings) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 100_000)
    socket.setsockopt(zmq.SNDHWM, 10_000)
    secure_client(socket, settings.security)
    socket.connect(endpoint)
    return socket


class AudioStream(Iterator[AudioChunk]):
    """Iterator over one request's audio; ``close()`` (or leaving a for-loop early) cancels it."""

    def __init__(self, client: Client, text: TextSource, fields: dict[str, Any]) -> None:
        self.client = client
        self.conversation = _Conversation(fields)
        self._generator = self._run(text)

    @property
    def timings(self) -> dict[str, Any]:
        """The request's timings, filled in when it completes."""
        return self.conversation.timings

    def __next__(self) -> AudioChunk:
        return next(self._generator)

    def close(self) -> None:
        self._generator.close()

    def cancel(self) -> None:
        self.close()

    def _run(self, text: TextSource) -> Iterator[AudioChunk]:
        service = self.client.settings.service
        conversation = self.conversation
        socket = self.client._connected()
        feeder = _TokenFeeder(text, self.client.settings) if not isinstance(text, str) else None
        conversation.started = (
            time.perf_counter()
        )  # received_ms counts from the first next(), when the request goes out
        if feeder is None:
            _send_nowait(socket, conversation.part(text, more=False))
        heard = time.monotonic()
        retries = 0
        try:
            while not conversation.done:
                if feeder is not None:
                    for piece, more in feeder.ready():
                        _send_nowait(socket, conversation.part(piece, more))
                    if feeder.failed is not None:
                        raise feeder.failed
                feeding = feeder is not None and not feeder.finished
                if socket.poll((_FEED_POLL_S if feeding else _POLL_S) * 1000):
                    while socket.poll(0):
                        chunk = conversation.receive(socket.recv_multipart())
                        heard = time.monotonic()
                        if chunk is not None:
                            yield chunk
                elif not conversation.parts:
                    heard = time.monotonic()
                elif time.monotonic() - heard > service.client_timeout_s:
                    retries += 1
                    if retries > service.client_retries:
                        self.client.close()  # the next request must not reuse a socket the broker refused
                        raise TTSError(
                            ErrorCode.UNAVAILABLE.value,
                            f"the broker at {self.client.endpoint} did not answer for {service.client_timeout_s:g} s "
                            f"after {service.client_retries} retries",
                        )
                    self.client.close()
                    socket = self.client._connected()
                    for frames in conversation.replay():
                        _send_nowait(socket, frames)
                    heard = time.monotonic()
        finally:
            if not conversation.done and not socket.closed:
                _send_nowait(socket, conversation.cancel())
            if feeder is not None:
                feeder.stop()


class _TokenFeeder:
    """Reads a token iterator on a thread and hands complete sentences to the stream loop."""

    def __init__(self, tokens: Iterable[str], settings: Settings) -> None:
        stream = settings.stream
        self.segmenter = SentenceSegmenter(stream.flush_chars, stream.flush_after_s)
        self._pieces: queue.Queue[str | None] = queue.Queue()
        self.finished = False
        self._sent_any = False
        self.failed: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(tokens,), daemon=True, name="token-feeder")
        self._thread.start()

    def _read(self, tokens: Iterable[str]) -> None:
        try:
            for token in tokens:
                if self._stop.is_set():
                    return
                self._pieces.put(token)
        except BaseException as exc:  # the producer's iterator failed: surface it to the consumer
            self.failed = exc
        finally:
            self._pieces.put(None)

    def ready(self) -> list[tuple[str | None, bool]]:
        """Parts to send now: ``(text, more)``; ``(None, False)`` closes the request."""
        out: list[str] = []
        ended = False
        while True:
            try:
                piece = self._pieces.get_nowait()
            except queue.Empty:
                break
            if piece is None:
                ended = True
                break
            out.extend(self.segmenter.feed(piece))
        out.extend(self.segmenter.finish() if ended else self.segmenter.poll())
        parts: list[tuple[str | None, bool]] = [(text, True) for text in out if text.strip()]
        if ended and not self.finished:
            self.finished = True
            if not parts and not self._sent_any:
                self.failed = TTSError(ErrorCode.EMPTY_TEXT.value, "the token stream produced no text")
                return []
            parts.append((None, False))
        self._sent_any = self._sent_any or bool(parts)
        return parts

    def stop(self) -> None:
        self._stop.set()


class AsyncAudioStream(AsyncIterator[AudioChunk]):
    """Async iterator over one request's audio; ``timings`` are filled in when it completes."""

    def __init__(self, generator: AsyncGenerator[AudioChunk, None], conversation: _Conversation) -> None:
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
        self._options = _Options(self.settings)

    async def synthesize(self, text: str, **options: Any) -> SynthesisResult:
        """Speak a whole document and return its assembled audio and timings."""
        stream = self.stream(text, **options)
        chunks = [chunk async for chunk in stream]
        started = time.perf_counter()
        audio = assemble(chunks, self.settings.assembly)
        timings = {**stream.timings, "assembly_ms": round((time.perf_counter() - started) * 1000, 3)}
        return SynthesisResult(audio, chunks[0].sample_rate if chunks else 0, chunks, timings)

    def stream(self, text: str | Iterable[str] | AsyncIterable[str], **options: Any) -> AsyncAudioStream:
        """Async twin of :meth:`Client.stream`; leaving early (``break``, ``aclose()``) cancels the request.

        A plain iterable of tokens is read on the event loop, so it must not block; an LLM
        client's async iterable is awaited token by token. A silent broker is retried as in
        the sync client (fresh socket, parts replayed, chunks already received skipped).
        """
        if isinstance(text, str):
            check_text_or_raise(text, self.settings.service.max_text_chars)
        conversation = _Conversation(self._options.fields(**options))
        return AsyncAudioStream(self._run(text, conversation), conversation)

    async def _run(
        self, text: str | Iterable[str] | AsyncIterable[str], conversation: _Conversation
    ) -> AsyncIterator[AudioChunk]:
        service = self.settings.service
        link = _AsyncLink(self.context, self.endpoint, self.settings)
        loop = asyncio.get_running_loop()
        sender: asyncio.Task[None] | None = None
        try:
            if isinstance(text, str):
                await link.send(conversation.part(text, more=False))
            else:
                sender = asyncio.create_task(self._send_tokens(link, conversation, text))
            heard = loop.time()
            retries = 0
            while not conversation.done:
                if sender is not None and sender.done() and not sender.cancelled() and sender.exception() is not None:
                    raise sender.exception()  # type: ignore[misc]
                if await link.socket.poll(_POLL_S * 1000):
                    chunk = conversation.receive(await link.socket.recv_multipart())
                    heard = loop.time()
                    if chunk is not None:
                        yield chunk
                elif not conversation.parts:
                    heard = loop.time()  # nothing sent yet (the LLM is still thinking): nothing to wait for
                elif loop.time() - heard > service.client_timeout_s:
                    retries += 1
                    if retries > service.client_retries:
                        raise TTSError(
                            ErrorCode.UNAVAILABLE.value,
                            f"the broker at {self.endpoint} did not answer for {service.client_timeout_s:g} s "
                            f"after {service.client_retries} retries",
                        )
                    LOGGER.warning(
                        "broker at %s silent for %.1f s; retrying (%d/%d)",
                        self.endpoint,
                        service.client_timeout_s,
                        retries,
                        service.client_retries,
                    )
                    link.reconnect()
                    for frames in conversation.replay():
                        await link.send(frames)
                    heard = loop.time()
        finally:
            if sender is not None:
                sender.cancel()
            if not conversation.done and conversation.parts:
                await link.send(conversation.cancel())
            link.close(linger_ms=100)

    async def _send_tokens(
        self, link: _AsyncLink, conversation: _Conversation, tokens: Iterable[str] | AsyncIterable[str]
    ) -> None:
        """Cut tokens into sentences and send each as a part as soon as it is complete.

        The next token is awaited without being cancelled, in short slices while text is
        pending, so a slow stream without punctuation is still flushed after ``flush_after_s``.
        """
        stream = self.settings.stream
        segmenter = SentenceSegmenter(stream.flush_chars, stream.flush_after_s)
        sent = False

        async def send(pieces: list[str]) -> None:
            nonlocal sent
            for piece in pieces:
                if piece.strip():
                    await link.send(conversation.part(piece, more=True))
                    sent = True

        iterator = _aiter(tokens)
        next_token = asyncio.ensure_future(_next_token(iterator))
        try:
            while True:
                wait_s = _POLL_S if segmenter.pending.strip() else None
                done, _ = await asyncio.wait({next_token}, timeout=wait_s)
                if not done:
                    await send(segmenter.poll())
                    continue
                token = next_token.result()
                if token is None:
                    break
                await send(segmenter.feed(token) + segmenter.poll())
                next_token = asyncio.ensure_future(_next_token(iterator))
        finally:
            next_token.cancel()
        await send(segmenter.finish())
        if not sent:
            raise TTSError(ErrorCode.EMPTY_TEXT.value, "the token stream produced no text")
        await link.send(conversation.part(None, more=False))


class _AsyncLink:
    """The DEALER socket of one async stream, replaced by a fresh one on a Lazy-Pirate retry."""

    def __init__(self, context: zmq.asyncio.Context, endpoint: str, settings: Settings) -> None:
        self._context = context
        self._endpoint = endpoint
        self._settings = settings
        self.socket: zmq.asyncio.Socket = _dealer(context, endpoint, settings)

    async def send(self, frames: list[bytes]) -> None:
        """Never wait on the socket, for the reason given at :func:`_send_nowait`."""
        try:
            await self.socket.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            LOGGER.debug("no connection to the broker; a message is dropped (a retry replays it)")

    def reconnect(self) -> None:
        self.socket.close(linger=0)
        self.socket = _dealer(self._context, self._endpoint, self._settings)

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
