"""The request logic the sync and async clients share, with no I/O of its own.

A :class:`Conversation` knows what to send for a request, what each reply means, and when a
silent broker must be retried (Lazy Pirate: a fresh socket, the request resubmitted part by
part under a new id, chunks already received skipped, a bounded number of times, then a clear
error). A broker that never answered at all is not retried: after ``client_connect_timeout_s``
(as short as a ping's wait) the request fails saying so. :class:`Question` does the same for one question (ping, status, voices, cache).
:class:`TokenParts` cuts an LLM's token stream into the parts of a streamed request. The two
faces only move frames between these and their sockets.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from typing import Any, Generic, TypeVar

from swtts.client.reading import Reading
from swtts.client.results import AudioChunk
from swtts.client.words import place_words
from swtts.config import AssemblySettings, ServiceSettings, StreamSettings
from swtts.pipeline.assembly import Timeline
from swtts.pipeline.segmenter import SentenceSegmenter
from swtts.protocol import (
    Accepted,
    Audio,
    Cancel,
    Done,
    Error,
    ErrorCode,
    InvalidRequestError,
    Message,
    ProtocolError,
    Query,
    Reply,
    Submit,
    TTSError,
    UnavailableError,
    check_text,
    decode,
    tts_error,
)

LOGGER = logging.getLogger(__name__)

POLL_S = 0.05
FEED_POLL_S = 0.01  # while tokens stream in, pick up each new sentence within 10 ms

_R = TypeVar("_R", bound=Reply)


def checked_text(text: str, max_chars: int) -> str:
    """The same checks the broker makes, done before anything is sent."""
    try:
        return check_text(text, max_chars)
    except ProtocolError as exc:
        raise InvalidRequestError(exc.message, exc.code) from None


def read_reply(frames: list[bytes]) -> Message:
    """A message from the broker; one it cannot have sent is a clear error."""
    try:
        return decode(frames)
    except ProtocolError as exc:
        raise TTSError(f"bad reply from the broker: {exc.message}", exc.code) from None


class Conversation:
    """Protocol state of one request: the parts sent so far, the chunks received, the retry budget."""

    def __init__(
        self, template: Submit, service: ServiceSettings, endpoint: str, reading: Reading, assembly: AssemblySettings
    ) -> None:
        self.template = template
        self.reading = reading
        self.timeline = Timeline(assembly)  # where each chunk, and each of its words, lands in the output
        self.request_id = uuid.uuid4().hex
        self.parts: list[tuple[str | None, bool]] = []
        self.expected = 0
        self.done = False
        self.timings: dict[str, Any] = {}
        self._service = service
        self._endpoint = endpoint
        self._retries = 0
        self.started = time.perf_counter()
        self._heard = time.monotonic()
        self._answered = False  # the broker has said something about this request

    def start(self) -> None:
        """The request goes out now: ``received_ms`` and the silence timer count from here."""
        self.started = time.perf_counter()
        self._heard = time.monotonic()

    def part(self, text: str | None, more: bool) -> list[bytes]:
        """Frames for the next part (``text=None`` closes a stream)."""
        self.parts.append((text, more))
        return self._frames(len(self.parts) - 1, text, more)

    def replay(self) -> list[list[bytes]]:
        """Every part again under a fresh id, for a retry after the broker went silent."""
        self.request_id = uuid.uuid4().hex
        return [self._frames(i, text, more) for i, (text, more) in enumerate(self.parts)]

    def cancel(self) -> list[bytes]:
        return Cancel(self.request_id).encode()

    def _frames(self, index: int, text: str | None, more: bool) -> list[bytes]:
        template = self.template
        return Submit(
            request_id=self.request_id,
            text=text,
            part=index,
            more=more,
            voice=template.voice,
            params=template.params,
            use_cache=template.use_cache,
            max_chunk_chars=template.max_chunk_chars,
            first_chunk_chars=template.first_chunk_chars,
            deadline_s=template.deadline_s,
            normalize=template.normalize,
        ).encode()

    def receive(self, frames: list[bytes]) -> AudioChunk | None:
        """Interpret one reply: a new chunk, None, or a :class:`TTSError` for a failed request."""
        self._heard = time.monotonic()
        self._answered = True
        message = read_reply(frames)
        if isinstance(message, (Accepted, Audio, Done, Error)) and message.request_id not in (self.request_id, None):
            return None
        if isinstance(message, Error) and message.code is not ErrorCode.UNKNOWN_PEER:
            self.done = True
            raise tts_error(message.code, message.message)
        if isinstance(message, Done):
            self.done = True
            self.timings = {
                **message.timings.to_wire(),
                "client_total_ms": round((time.perf_counter() - self.started) * 1000, 3),
            }
        if not isinstance(message, Audio) or message.index != self.expected:
            return None
        self.expected += 1
        start = self.reading.place(message.text)
        source = None if start is None else self.reading.to_original(start, start + len(message.text))
        chunk = AudioChunk.from_audio(message, (time.perf_counter() - self.started) * 1000, source)
        words, sources = place_words(message, self.timeline.place(chunk), start, self.reading)
        return replace(chunk, words=words, word_sources=sources)

    def must_retry(self) -> bool:
        """Lazy Pirate: True when the broker has been silent too long and the request must be
        replayed on a fresh socket; :class:`UnavailableError` once the retries are spent."""
        now = time.monotonic()
        if not self.parts:
            self._heard = now  # nothing sent yet (the LLM is still thinking): nothing to wait for
            return False
        service = self._service
        if not self._answered and now - self._heard > service.client_connect_timeout_s:
            raise UnavailableError(
                f"no answer from the broker at {self._endpoint} within {service.client_connect_timeout_s:g} s "
                "(service.client_connect_timeout_s); is it running?"
            )
        if now - self._heard <= service.client_timeout_s:
            return False
        self._retries += 1
        if self._retries > service.client_retries:
            raise UnavailableError(
                f"the broker at {self._endpoint} did not answer for {service.client_timeout_s:g} s "
                f"after {service.client_retries} retries"
            )
        LOGGER.warning(
            "broker at %s silent for %.1f s; retrying (%d/%d)",
            self._endpoint,
            service.client_timeout_s,
            self._retries,
            service.client_retries,
        )
        self._heard = now
        return True


class Question(Generic[_R]):
    """One question to the broker and how its answer is recognised (by type and echo token)."""

    def __init__(self, query: type[Query], reply: type[_R], endpoint: str, timeout_s: float) -> None:
        self.echo = uuid.uuid4().hex
        self.frames = query(self.echo).encode()
        self._reply = reply
        self._endpoint = endpoint
        self.timeout_s = timeout_s

    def answer(self, frames: list[bytes]) -> _R | None:
        """The answer, None for anything else; the broker refusing the question raises."""
        message = read_reply(frames)
        if isinstance(message, Error) and message.request_id is None and message.code is not ErrorCode.UNKNOWN_PEER:
            raise tts_error(message.code, message.message)
        if isinstance(message, self._reply) and message.echo == self.echo:
            return message
        return None

    def unanswered(self) -> UnavailableError:
        return UnavailableError(f"no answer from the broker at {self._endpoint} within {self.timeout_s:g} s")


class TokenParts:
    """Cuts a token stream into a streamed request's parts: each sentence as soon as it is complete.

    Tokens go through the request's :class:`Reading` first (its markup removed as it settles).
    """

    def __init__(self, settings: StreamSettings, reading: Reading) -> None:
        self.segmenter = SentenceSegmenter(settings.flush_chars, settings.flush_after_s)
        self.reading = reading
        self._sent_any = False

    @property
    def pending(self) -> bool:
        """Text is waiting for the end of its sentence (or for the time flush)."""
        return bool(self.segmenter.pending.strip())

    def feed(self, token: str) -> list[str]:
        return self._kept(self.segmenter.feed(self.reading.feed(token)))

    def poll(self) -> list[str]:
        return self._kept(self.segmenter.poll())

    def finish(self) -> list[str]:
        """The last parts; a stream that never had any text is an error."""
        parts = self._kept(self.segmenter.feed(self.reading.finish()) + self.segmenter.finish())
        if not self._sent_any:
            raise InvalidRequestError("the token stream produced no text", ErrorCode.EMPTY_TEXT)
        return parts

    def _kept(self, pieces: list[str]) -> list[str]:
        kept = [piece for piece in pieces if piece.strip()]
        self._sent_any = self._sent_any or bool(kept)
        return kept
