"""One Wyoming connection: ``describe``, ``synthesize`` and streamed synthesis, as Home Assistant uses them.

A request runs as a task while the connection goes on being read, so a client that goes away
is noticed at once and its request is cancelled at the broker (half-closing the socket counts
as going away). Audio goes out as it arrives: one ``audio-start`` (one format for the whole
response), ``audio-chunk`` events in document order, one ``audio-stop``; a stream ends with
``synthesize-stopped``. Every write waits at most ``write_timeout_s`` for a client that does
not read, with at most ``write_buffer_bytes`` queued, then the client is dropped.

Errors: an event that cannot be read, has a bad field or is unknown is answered with an
``error`` event and the connection stays usable (input that is not a Wyoming event at all
closes it: the framing is lost). A request that fails (unknown voice or speaker, text too
long, broker busy or gone) gets an ``error`` event and the connection is closed, as
wyoming-piper does, so a client waiting for ``audio-stop`` learns at once that none comes.

Home Assistant sends the whole text again as a plain ``synthesize`` after the last
``synthesize-chunk`` "for backwards compatibility". As in wyoming-piper (2.5.2), once a
connection has sent ``synthesize-start`` every plain ``synthesize`` on it is that copy and is
not spoken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe, SelectProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from swtts.client import InvalidRequestError, TTSError
from swtts.config import WyomingSettings
from swtts.gateways.wyoming.speech import SpeechBackend, SpeechRequest
from swtts.gateways.wyoming.voices import PROGRAM_NAME, VoiceCatalog
from swtts.protocol import ErrorCode

LOGGER = logging.getLogger(__name__)


class BadEvent(Exception):
    """An event this server cannot act on; answered with ``error``, the connection stays."""

    def __init__(self, code: ErrorCode, text: str) -> None:
        super().__init__(f"{text} [{code.value}]")
        self.code = code
        self.text = text


class _TextStream:
    """The text of one ``synthesize-start`` … ``synthesize-stop``, handed to the client as tokens."""

    def __init__(self, max_chars: int) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._chars = 0
        self._max_chars = max_chars

    def put(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self._max_chars:
            raise InvalidRequestError(
                f"the streamed text passed the limit of {self._max_chars} characters", ErrorCode.TOO_LONG
            )
        self._queue.put_nowait(text)

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def pieces(self) -> AsyncIterator[str]:
        while (piece := await self._queue.get()) is not None:
            yield piece


class WyomingHandler(AsyncEventHandler):
    """Serves one client connection (see the module docstring for the rules)."""

    def __init__(
        self,
        catalog: VoiceCatalog,
        backend: SpeechBackend,
        settings: WyomingSettings,
        max_text_chars: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self._catalog = catalog
        self._backend = backend
        self._settings = settings
        self._max_text_chars = max_text_chars
        self._peer = writer.get_extra_info("peername") or "unix socket"
        self._task: asyncio.Task[None] | None = None
        self._text: _TextStream | None = None
        self._streamed = False
        writer.transport.set_write_buffer_limits(high=settings.write_buffer_bytes)

    async def run(self) -> None:
        """The library's read loop, plus an ``error`` for input that is not a Wyoming event."""
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await async_read_event(self.reader)
                except (KeyError, TypeError, AttributeError):  # JSON, but not an event header
                    event = None
                if event is None:
                    if not self.reader.at_eof():
                        await self._send_error(ErrorCode.MALFORMED, "input is not a Wyoming event; closing")
                    break
                if not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            LOGGER.debug("Wyoming client %s went away", self._peer)
        finally:
            await self.disconnect()
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._handle(event)
        except BadEvent as exc:
            LOGGER.info("Wyoming client %s: %s", self._peer, exc.text)
            await self._send_error(exc.code, exc.text)
        except TTSError as exc:
            await self._fail(exc.code, exc.message)
            return False
        return True

    async def write_event(self, event: Event) -> None:
        """Write, waiting at most ``write_timeout_s`` for a client that does not read."""
        try:
            async with asyncio.timeout(self._settings.write_timeout_s):
                await async_write_event(event, self.writer)
        except TimeoutError:
            LOGGER.warning(
                "Wyoming client %s read nothing for %g s; dropping it", self._peer, self._settings.write_timeout_s
            )
            self.writer.transport.abort()
            raise ConnectionResetError("the client stopped reading") from None

    async def disconnect(self) -> None:
        """The client is gone: cancel its request, which cancels it at the broker."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _handle(self, event: Event) -> None:
        kind, data = event.type, event.data
        if not isinstance(data, dict):
            raise BadEvent(ErrorCode.MALFORMED, f"{kind}: data must be a JSON object")
        if Describe.is_type(kind):
            await self.write_event((await self._catalog.info()).event())
        elif Ping.is_type(kind):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif SelectProgram.is_type(kind):
            if _text_field(event, "name") != PROGRAM_NAME:
                raise BadEvent(ErrorCode.BAD_PARAM, f"select-program: this server has one program, {PROGRAM_NAME!r}")
        elif Synthesize.is_type(kind):
            if self._streamed:
                LOGGER.debug("Wyoming client %s: plain synthesize after synthesize-start is not spoken", self._peer)
                return
            text = _text_field(event, "text")
            request = await self._catalog.request(_voice_field(event))
            await self._start(self._speak(text, request, streaming=False))
        elif SynthesizeStart.is_type(kind):
            if self._text is not None:
                raise BadEvent(
                    ErrorCode.MALFORMED, "synthesize-start: a stream is already open; send synthesize-stop first"
                )
            request = await self._catalog.request(_voice_field(event))
            self._streamed = True
            self._text = _TextStream(self._max_text_chars)
            await self._start(self._speak(self._text.pieces(), request, streaming=True))
        elif SynthesizeChunk.is_type(kind):
            self._open_stream(kind).put(_text_field(event, "text"))
        elif SynthesizeStop.is_type(kind):
            self._open_stream(kind).close()
            self._text = None
        else:
            raise BadEvent(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown event type {kind!r}: this server answers describe, synthesize and synthesize-start/-chunk/-stop",
            )

    def _open_stream(self, kind: str) -> _TextStream:
        if self._text is None:
            raise BadEvent(ErrorCode.MALFORMED, f"{kind} outside a stream: send synthesize-start first")
        return self._text

    async def _start(self, speaking: Any) -> None:
        """Run a request as a task; requests on one connection are answered one after another."""
        if self._task is not None and not self._task.done():
            await self._task
        self._task = asyncio.create_task(speaking, name=f"wyoming request from {self._peer}")

    async def _speak(self, text: str | AsyncIterable[str], request: SpeechRequest, streaming: bool) -> None:
        try:
            sent_ms = await self._play(text, request)
            if sent_ms is not None or not streaming:
                await self.write_event(AudioStop(timestamp=sent_ms).event())
            if streaming:
                await self.write_event(SynthesizeStopped().event())
        except TTSError as exc:
            if exc.code != ErrorCode.EMPTY_TEXT:
                await self._fail(exc.code, exc.message)
            elif streaming:  # nothing to say: an empty answer, as wyoming-piper gives
                await self.write_event(SynthesizeStopped().event())
            else:
                await self.write_event(AudioStop().event())
        except ConnectionError:
            LOGGER.debug("Wyoming client %s went away mid-answer", self._peer)

    async def _play(self, text: str | AsyncIterable[str], request: SpeechRequest) -> int | None:
        """Send the audio as it arrives; the milliseconds sent, or None if no ``audio-start`` went out."""
        audio_format: tuple[int, int, int] | None = None
        samples = rate = 0
        async with contextlib.aclosing(self._backend.speak(text, request)) as stream:
            async for audio in stream:
                if audio_format is None:
                    audio_format, rate = (audio.rate, audio.width, audio.channels), audio.rate
                    await self.write_event(AudioStart(*audio_format, timestamp=0).event())
                frame = audio.width * audio.channels
                step = self._settings.samples_per_chunk * frame
                for offset in range(0, len(audio.pcm), step):
                    piece = audio.pcm[offset : offset + step]
                    timestamp = samples * 1000 // rate
                    await self.write_event(AudioChunk(*audio_format, audio=piece, timestamp=timestamp).event())
                    samples += len(piece) // frame
        return samples * 1000 // rate if audio_format is not None else None

    async def _send_error(self, code: ErrorCode, text: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self.write_event(Error(text=text, code=code.value).event())

    async def _fail(self, code: ErrorCode, text: str) -> None:
        """A request failed: say why, then close the connection."""
        LOGGER.info("Wyoming client %s: request failed: %s [%s]", self._peer, text, code.value)
        await self._send_error(code, text)
        await self.stop()


def _text_field(event: Event, key: str) -> str:
    value = event.data.get(key)
    if not isinstance(value, str):
        raise BadEvent(ErrorCode.MALFORMED, f"{event.type}: {key!r} must be a string, got {value!r}")
    return value


def _voice_field(event: Event) -> SynthesizeVoice | None:
    """The requested voice, checked field by field (the library would pass wrong types along)."""
    if event.data.get("text_format") not in (None, "text"):
        raise BadEvent(
            ErrorCode.BAD_PARAM, f"{event.type}: only plain text is spoken, not {event.data['text_format']!r}"
        )
    voice = event.data.get("voice")
    if voice is None:
        return None
    if not isinstance(voice, dict) or any(
        not isinstance(voice.get(key), (str, type(None))) for key in ("name", "language", "speaker")
    ):
        raise BadEvent(ErrorCode.BAD_PARAM, f"{event.type}: voice must be an object of strings name/language/speaker")
    return SynthesizeVoice(name=voice.get("name"), language=voice.get("language"), speaker=voice.get("speaker"))
