"""The Wyoming gateway's one door into swtts: every call into the client API is made here.

The handler asks for voices and speech in its own terms (:class:`VoiceEntry`,
:class:`SpeechRequest`, :class:`SpeechAudio`) and sees client failures as
:class:`SpeechError`, so a change of the client API changes this module only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from swtts.client import AsyncClient, Client, TTSError
from swtts.config import AssemblySettings, Settings
from swtts.pipeline.assembly import Assembler

# Piper names its voices LANGUAGE_REGION-NAME-QUALITY ("en_US-joe-medium").
_PIPER_LANGUAGE = re.compile(r"^([a-z]{2,3}(?:_[A-Z]{2})?)-")


class Failure(Exception):
    """Something the client is told in an ``error`` event: ``code`` (a ``swtts.protocol.ErrorCode``
    value) and a one-line ``text``."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{text} [{code}]")
        self.code = code
        self.text = text


class SpeechError(Failure):
    """A request failed in swtts (broker busy or gone, synthesis failed, bad text)."""


@dataclass(frozen=True)
class VoiceEntry:
    """A voice some connected worker holds."""

    name: str
    language: str  # e.g. "en_US"; "" when unknown
    speakers: dict[str, int] = field(default_factory=dict)  # speaker name -> id; empty for one speaker


@dataclass(frozen=True)
class SpeechRequest:
    """One request's voice and speech settings; ``None`` means the configured value."""

    voice: str | None
    speaker: int | None
    assembly: AssemblySettings
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    volume: float | None = None
    use_cache: bool = True


@dataclass(frozen=True)
class SpeechAudio:
    """Int16 mono PCM in document order, pauses included."""

    pcm: bytes
    rate: int
    width: int = 2
    channels: int = 1


class SpeechBackend:
    """Voices and speech from the broker at ``endpoint``: one client stream per request."""

    def __init__(self, endpoint: str, settings: Settings) -> None:
        self.endpoint = endpoint
        self._settings = settings
        self._client = AsyncClient(endpoint, settings)
        self._status_client = Client(endpoint, settings)
        self._status_lock = asyncio.Lock()

    async def voices(self, timeout_s: float = 2.0) -> list[VoiceEntry]:
        """Every voice the connected workers hold.

        Today the broker's ping reply names them; the language follows Piper's naming and
        speakers are not listed (a speaker is then accepted by number).
        """
        async with self._status_lock:
            try:
                reply = await asyncio.to_thread(self._status_client.ping, timeout_s)
            except TTSError as exc:
                raise SpeechError(exc.code, exc.message) from None
        return [VoiceEntry(name, _language_of(name)) for name in reply.get("voices", [])]

    async def speak(self, text: str | AsyncIterable[str], request: SpeechRequest) -> AsyncIterator[SpeechAudio]:
        """Audio as each chunk arrives; closing the iterator early cancels the request at the broker."""
        assembler = Assembler(request.assembly)
        try:
            stream = self._client.stream(text, **_options(request))
        except TTSError as exc:
            raise SpeechError(exc.code, exc.message) from None
        try:
            async for chunk in stream:
                yield SpeechAudio(assembler.add(chunk).tobytes(), chunk.sample_rate)
        except TTSError as exc:
            raise SpeechError(exc.code, exc.message) from None
        finally:
            await stream.aclose()

    def close(self) -> None:
        self._status_client.close()


def _options(request: SpeechRequest) -> dict[str, Any]:
    return {
        "voice": request.voice,
        "speaker": request.speaker,
        "length_scale": request.length_scale,
        "noise_scale": request.noise_scale,
        "noise_w": request.noise_w,
        "volume": request.volume,
        "use_cache": request.use_cache,
    }


def _language_of(name: str) -> str:
    match = _PIPER_LANGUAGE.match(name)
    return match.group(1) if match else ""
