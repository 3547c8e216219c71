"""``POST /v1/audio/speech``: OpenAI's contract over the backend, streamed in every format.

The response starts when the first chunk of audio is ready, so a broker error (busy, unknown
voice, no worker) is still a proper status; after that the audio streams chunk by chunk
through the format's encoder. A client that leaves mid-stream cancels the request at the
broker. With ``stream_format: sse`` each piece of audio is a ``speech.audio.delta`` event
(base64); a chunk's first delta also carries what the client knows of that chunk (see
:func:`chunk_fields`: its words with when each is heard), and the stream ends with
``speech.audio.done``. ``timestamps: true`` answers with one JSON object instead, the whole
file in base64 beside its words (as Kokoro-FastAPI's captioned speech does).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Literal

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from swtts.client import AudioChunk, SynthesisOptions, TTSError, VoiceDescription
from swtts.config import Settings
from swtts.gateways.http.backend import SpeechBackend, SpokenAudio
from swtts.gateways.http.encoders import FORMATS, StreamEncoder, encoder_for
from swtts.gateways.http.errors import ApiError
from swtts.gateways.http.limits import StreamSlots
from swtts.gateways.http.metrics import HttpMetrics
from swtts.gateways.http.voices import OPENAI_MODELS, broker_voice, known_rate

LOGGER = logging.getLogger(__name__)
_SLICE_S = 0.5  # seconds of audio encoded per step
_FIRST_SLICE_S = 0.1  # the stream's first step: its first bytes wait for this much encoding only


class VoiceRef(BaseModel):
    """OpenAI's custom-voice form, ``{"id": "..."}``."""

    id: str


class SpeechRequest(BaseModel):
    """OpenAI's speech request; unknown extra fields are ignored, as OpenAI's clients may send more."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="tts-1, tts-1-hd, gpt-4o-mini-tts, swtts or a configured name; all speak alike")
    input: str = Field(description="The text to speak; long articles are welcome (see [http] max_input_chars)")
    voice: str | VoiceRef = Field(description="An OpenAI voice name, a swtts voice name, or a language (fr_FR, fr)")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = Field(
        "mp3", description="pcm is raw 24 kHz 16-bit little-endian mono (resampled with soxr)"
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate; length_scale = 1 / speed")
    stream_format: Literal["audio", "sse"] = "audio"
    timestamps: bool = Field(
        False,
        description='Answer with JSON: {"audio": base64 of the whole file, "format", "words": '
        '[{"word", "start", "end"}, ...]} (seconds). With stream_format "sse" every chunk\'s words come with its audio',
    )
    instructions: str | None = Field(None, description="Accepted and ignored (Piper voices take no instructions)")


class SpeechService:
    """Validates a request, starts its speech and builds the streaming response."""

    def __init__(self, backend: SpeechBackend, settings: Settings, metrics: HttpMetrics) -> None:
        self.backend = backend
        self.settings = settings
        self.metrics = metrics
        self.slots = StreamSlots(settings.http.max_streams)
        self.models = frozenset(OPENAI_MODELS) | frozenset(settings.http.models)
        self.voice_map = settings.http.voice_map

    async def create(self, request: SpeechRequest) -> StreamingResponse:
        started = time.perf_counter()
        text = request.input
        limit = self.settings.http.max_input_chars
        if request.model not in self.models:
            raise ApiError(
                400,
                f"unknown model {request.model!r}; use one of {', '.join(sorted(self.models))}",
                "unknown_model",
                "model",
            )
        if len(text) > limit:
            raise ApiError(413, f"input is {len(text)} characters; the limit is {limit}", "too_long", "input")
        if not text.strip():
            raise ApiError(400, "input is empty", "empty_text", "input")
        voices = await self._voices()
        voice = broker_voice(request.voice if isinstance(request.voice, str) else request.voice.id, self.voice_map)
        audio_format = FORMATS[request.response_format]
        self.slots.take()
        options = SynthesisOptions(voice=voice, length_scale=self._length_scale(request.speed))
        audio = self.backend.speak(text, options)
        try:
            first, encoder = await _start(audio, audio_format.name, known_rate(voice, voices))
        except BaseException:
            self.slots.release()
            with anyio.CancelScope(shield=True):
                await audio.aclose()
            raise
        self.metrics.first_audio.labels(request.response_format).observe(time.perf_counter() - started)
        self.metrics.streams.inc()
        encoded = self._encoded(encoder, first, audio, audio_format.name)
        if request.stream_format == "sse":
            body, media_type = _sse(encoded), "text/event-stream"
        elif request.timestamps:
            body, media_type = _captioned(encoded, audio_format.name), "application/json"
        else:
            body, media_type = _audio(encoded), audio_format.content_type
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        if request.stream_format == "audio" and not request.timestamps:
            headers["Content-Disposition"] = f'inline; filename="speech.{audio_format.name}"'

        async def close(completed: bool) -> None:
            await encoded.aclose()
            await audio.aclose()  # cancels the request at the broker if unfinished
            if not completed:
                self.metrics.disconnects.inc()
            self.metrics.streams.dec()
            self.slots.release()

        return SpeechResponse(body, close, media_type=media_type, headers=headers)

    async def _voices(self) -> list[VoiceDescription]:
        """The workers' voices; 503 when no worker is connected (the broker would queue the request)."""
        try:
            voices = await self.backend.voices() or await self.backend.voices(fresh=True)
        except TTSError as exc:
            raise ApiError(503, f"the speech service is unavailable: {exc.message}", "unavailable") from None
        if not voices:
            raise ApiError(503, "no speech worker is connected; retry shortly", "unavailable")
        return voices

    def _length_scale(self, speed: float) -> float | None:
        """None at speed 1 (the configured or voice's own pace); else that pace divided by speed.

        A pace left to the voice counts as 1.0, Piper's usual length_scale.
        """
        if speed == 1.0:
            return None
        return (self.settings.synthesis.length_scale or 1.0) / speed

    async def _encoded(
        self, encoder: StreamEncoder, first: SpokenAudio, rest: AsyncIterator[SpokenAudio], name: str
    ) -> AsyncGenerator[tuple[bytes, AudioChunk | None], None]:
        """Encoded bytes slice by slice, each chunk named on its first slice; then the encoder's tail.

        A chunk is encoded in slices so its first bytes leave after one slice's encoding, not the
        whole chunk's (a long chunk in MP3 is tens of milliseconds); the stream's very first
        slice is shorter still, as an encoder's first call is its slowest.
        """
        chunk: SpokenAudio | None = first
        slice_s = _FIRST_SLICE_S
        while chunk is not None:
            start = 0
            while start == 0 or start < chunk.samples.size:
                end = start + max(1, int(chunk.sample_rate * slice_s))
                data = await self._encode(encoder.encode, chunk.samples[start:end], name, slice_s == _FIRST_SLICE_S)
                yield data, chunk.chunk if start == 0 else None
                start, slice_s = end, _SLICE_S
            self.metrics.audio_seconds.labels(name).inc(chunk.samples.size / chunk.sample_rate)
            chunk = await anext(rest, None)
        yield await self._encode(encoder.finish, None, name, False), None

    async def _encode(self, step: Any, samples: np.ndarray | None, name: str, first: bool) -> bytes:
        """Slices are encoded on a worker thread so they never stall the other streams; the short
        first slice (about a millisecond) and cheap pcm are encoded here, saving the thread hop."""
        started = time.perf_counter()
        call = partial(step, samples) if samples is not None else step
        data: bytes = call() if first or name == "pcm" else await anyio.to_thread.run_sync(call)
        self.metrics.encode_seconds.labels(name).inc(time.perf_counter() - started)
        return data


async def _audio(encoded: AsyncIterator[tuple[bytes, AudioChunk | None]]) -> AsyncIterator[bytes]:
    async for data, _chunk in encoded:
        if data:
            yield data


async def _captioned(encoded: AsyncIterator[tuple[bytes, AudioChunk | None]], name: str) -> AsyncIterator[bytes]:
    """The whole file and its words as one JSON object, once the last chunk is encoded."""
    data = bytearray()
    words: list[dict[str, Any]] = []
    async for piece, chunk in encoded:
        data += piece
        if chunk is not None:
            words += [{"word": w.word, "start": w.start, "end": w.end} for w in chunk.words]
    yield json.dumps({"audio": base64.b64encode(data).decode("ascii"), "format": name, "words": words}).encode()


def chunk_fields(chunk: AudioChunk) -> dict[str, Any]:
    """What an SSE delta says of the chunk whose audio it starts: its place in the document, its text,
    and its words: when each is heard (seconds on the response's audio) and where it is in the input
    (``source``: [start, end) character offsets, null if unknown), for a page that highlights it."""
    words = [
        {"word": w.word, "start": w.start, "end": w.end, "source": list(source) if source else None}
        for w, source in zip(chunk.words, chunk.word_sources, strict=True)
    ]
    return {"index": chunk.index, "total": chunk.total, "text": chunk.text, "words": words}


async def _sse(encoded: AsyncIterator[tuple[bytes, AudioChunk | None]]) -> AsyncIterator[bytes]:
    """Base64 deltas, a chunk's first one with :func:`chunk_fields`; a failure mid-stream is an ``error`` event."""
    try:
        async for data, chunk in encoded:
            extra = chunk_fields(chunk) if chunk else {}
            if data or chunk:
                yield sse_event("speech.audio.delta", audio=base64.b64encode(data).decode("ascii"), **extra)
    except TTSError as exc:
        yield sse_event("error", error=ApiError.from_tts_error(exc).body()["error"])
        return
    yield sse_event("speech.audio.done")


async def _start(audio: AsyncIterator[SpokenAudio], name: str, rate: int | None) -> tuple[SpokenAudio, StreamEncoder]:
    """The first chunk and an encoder for it, or the broker's error as an HTTP answer.

    When the voice's sample rate is known the encoder is opened on a thread while the first
    chunk is synthesized (FLAC's takes milliseconds), so the first bytes wait only for encoding.
    """
    opening = asyncio.ensure_future(asyncio.to_thread(encoder_for, name, rate)) if rate else None
    try:
        first = await _first(audio)
    except BaseException:
        if opening is not None:
            opening.cancel()  # its thread ends on its own
        raise
    encoder = await opening if opening is not None else None
    if encoder is None or encoder.sample_rate != first.sample_rate:
        encoder = encoder_for(name, first.sample_rate)
    return first, encoder


async def _first(audio: AsyncIterator[SpokenAudio]) -> SpokenAudio:
    """The first chunk, or the broker's error as an HTTP answer."""
    try:
        first = await anext(audio, None)
    except TTSError as exc:
        raise ApiError.from_tts_error(exc) from None
    if first is None:
        raise ApiError(500, "the broker returned no audio", "no_audio")
    return first


def sse_event(kind: str, **fields: Any) -> bytes:
    """One server-sent event, named as its ``type``; its data is one line of JSON."""
    data = json.dumps({"type": kind, **fields}, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


class SpeechResponse(StreamingResponse):
    """A streaming response that always ends its speech: a client gone mid-stream cancels it.

    The disconnect is watched while the audio streams (not only noticed at the next write), and
    ``close(completed)`` runs whatever happened, even if the body never started.
    """

    def __init__(self, content: AsyncIterator[bytes], close: Callable[[bool], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        completed = False
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    nonlocal completed
                    try:
                        await self.stream_response(send)
                        completed = True
                    except OSError:
                        LOGGER.info("client left mid-stream")
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await self._close(completed)
