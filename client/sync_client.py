"""The synchronous producer: :class:`Client` and the :class:`AudioStream` it returns.

``Client.synthesize(text)`` returns the whole document's audio; ``Client.stream(text_or_tokens)``
yields audio chunk by chunk in document order as soon as each is ready, and accepts an LLM's
token iterator, read on a thread: pieces are cut into sentences on the fly and each goes to
the workers as soon as it is complete. Closing the stream early (``break``, ``close()``)
cancels it at the broker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

import zmq

from swtts.client.conversation import FEED_POLL_S, POLL_S, Conversation, Question, TokenParts, checked_text
from swtts.client.options import SynthesisOptions, markup_options, request_template
from swtts.client.output import Target, WrittenAudio, write_stream, writer_for
from swtts.client.reading import Reading
from swtts.client.results import AudioChunk, SynthesisResult
from swtts.client.transport import dealer, send_nowait
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
    Submit,
    TTSError,
    UnavailableError,
    VoiceDescription,
    VoicesQuery,
    VoicesReply,
)

TextSource = str | Iterable[str]
_R = TypeVar("_R", bound=Reply)


class Client:
    """Synchronous producer. Not thread-safe: use one Client per thread."""

    def __init__(self, endpoint: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.endpoint = endpoint or self.settings.service.endpoint
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._socket: zmq.Socket[bytes] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def synthesize(
        self,
        text: TextSource,
        options: SynthesisOptions | None = None,
        *,
        on_chunk: Callable[[AudioChunk], None] | None = None,
    ) -> SynthesisResult:
        """Speak a whole document and return its assembled audio and timings."""
        chunks: list[AudioChunk] = []
        stream = self.stream(text, options)
        for chunk in stream:
            chunks.append(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
        return SynthesisResult.assemble(chunks, stream.timings, self.settings.assembly)

    def synthesize_to(
        self,
        target: Target,
        text: TextSource,
        options: SynthesisOptions | None = None,
        *,
        on_chunk: Callable[[AudioChunk], None] | None = None,
    ) -> WrittenAudio:
        """Speak a document straight into ``target``, chunk by chunk, never holding it whole.

        ``target`` is a path (WAV, FLAC or OGG by its extension; written to a temporary file
        beside it and renamed into place once verified, so a failure leaves nothing there) or
        a binary stream, which gets raw s16le mono PCM. A path that cannot be written fails
        before anything is sent.
        """
        writer = writer_for(target)
        try:
            stream = self.stream(text, options)
        except BaseException:
            writer.abort()
            raise
        return write_stream(stream, writer, self.settings.assembly, lambda: stream.timings, on_chunk)

    def stream(self, text: TextSource, options: SynthesisOptions | None = None) -> AudioStream:
        """Audio chunks in document order as each is ready; ``text`` may be an iterable of tokens."""
        template = request_template(self.settings, options)
        reading = Reading(markup_options(self.settings, template))
        if isinstance(text, str):
            text = reading.whole(checked_text(text, self.settings.service.max_text_chars))
        return AudioStream(self, text, template, reading)

    def voices(self, timeout_s: float = 5.0) -> list[VoiceDescription]:
        """Every voice the connected workers hold, with how many workers hold each."""
        return list(self._ask(VoicesQuery, VoicesReply, timeout_s).voices)

    def ping(self, timeout_s: float = 2.0) -> PingReply:
        """The broker's liveness answer (worker counts, voices); UnavailableError if it does not answer."""
        return self._ask(Ping, PingReply, timeout_s)

    def status(self, timeout_s: float = 5.0) -> StatusReply:
        return self._ask(StatusQuery, StatusReply, timeout_s)

    def cache_stats(self, timeout_s: float = 5.0) -> CacheStats | None:
        """The broker's cache totals; None when it runs without a cache."""
        return self._ask(CacheStatsQuery, CacheStatsReply, timeout_s).cache

    def cache_clear(self, timeout_s: float = 30.0) -> int:
        """Empty the broker's cache; returns how many entries were removed."""
        return self._ask(CacheClear, CacheClearReply, timeout_s).removed

    def _ask(self, query: type[Query], reply: type[_R], timeout_s: float) -> _R:
        question = Question(query, reply, self.endpoint, timeout_s)
        socket = self._connected()
        send_nowait(socket, question.frames)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0 and socket.poll(int(left * 1000)):
            answer = question.answer(socket.recv_multipart())
            if answer is not None:
                return answer
        self.close()  # a socket the broker refused (CURVE) must not be reused
        raise question.unanswered()

    def _connected(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            self._socket = dealer(self.context, self.endpoint, self.settings)
        return self._socket


class AudioStream(Iterator[AudioChunk]):
    """Iterator over one request's audio; ``close()`` (or leaving a for-loop early) cancels it."""

    def __init__(self, client: Client, text: TextSource, template: Submit, reading: Reading) -> None:
        """``text``: what to send (a whole text with its markup already removed), or the tokens."""
        self.client = client
        settings = client.settings
        self.conversation = Conversation(template, settings.service, client.endpoint, reading, settings.assembly)
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

    def _run(self, text: TextSource) -> Generator[AudioChunk, None, None]:
        client, conversation = self.client, self.conversation
        socket = client._connected()
        feeder = (
            None
            if isinstance(text, str)
            else _TokenFeeder(text, TokenParts(client.settings.stream, conversation.reading))
        )
        conversation.start()  # received_ms counts from the first next(), when the request goes out
        if isinstance(text, str):
            send_nowait(socket, conversation.part(text, more=False))
        try:
            while not conversation.done:
                if feeder is not None:
                    for piece, more in feeder.ready():
                        send_nowait(socket, conversation.part(piece, more))
                    if feeder.failed is not None:
                        raise feeder.failed
                feeding = feeder is not None and not feeder.finished
                if socket.poll(int((FEED_POLL_S if feeding else POLL_S) * 1000)):
                    while socket.poll(0):
                        chunk = conversation.receive(socket.recv_multipart())
                        if chunk is not None:
                            yield chunk
                elif conversation.must_retry():
                    client.close()
                    socket = client._connected()
                    for frames in conversation.replay():
                        send_nowait(socket, frames)
        except UnavailableError:
            client.close()  # the next request must not reuse a socket the broker refused
            raise
        finally:
            if not conversation.done and not socket.closed:
                send_nowait(socket, conversation.cancel())
            if feeder is not None:
                feeder.stop()


class _TokenFeeder:
    """Reads a token iterator on a thread and hands complete sentences to the stream loop."""

    def __init__(self, tokens: Iterable[str], parts: TokenParts) -> None:
        self.parts = parts
        self._pieces: queue.Queue[str | None] = queue.Queue()
        self.finished = False
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
        texts: list[str] = []
        while True:
            try:
                piece = self._pieces.get_nowait()
            except queue.Empty:
                return [(text, True) for text in [*texts, *self.parts.poll()]]
            if piece is None:
                break
            texts.extend(self.parts.feed(piece))
        self.finished = True
        try:
            texts.extend(self.parts.finish())
        except TTSError as exc:
            self.failed = self.failed or exc
            return []
        return [*((text, True) for text in texts), (None, False)]

    def stop(self) -> None:
        self._stop.set()
