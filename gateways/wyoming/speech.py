"""The Wyoming gateway's one door into swtts: every call into the client API is made here.

The broker's voices come as :class:`~swtts.client.VoiceDescription`; a request's failures
arrive as the client's :class:`~swtts.client.TTSError` classes, whose ``code`` the handler
sends on in its ``error`` event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass

from swtts.client import AsyncClient, SynthesisOptions, VoiceDescription
from swtts.config import AssemblySettings, Settings
from swtts.pipeline.assembly import Assembler


@dataclass(frozen=True)
class SpeechRequest:
    """What one Wyoming request is spoken with: the client's options and the pauses between sentences."""

    options: SynthesisOptions
    assembly: AssemblySettings


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
        self._client = AsyncClient(endpoint, settings)

    async def voices(self, timeout_s: float = 2.0) -> list[VoiceDescription]:
        """Every voice the connected workers hold; :class:`~swtts.client.TTSError` if the broker does not answer."""
        return await self._client.voices(timeout_s)

    async def speak(self, text: str | AsyncIterable[str], request: SpeechRequest) -> AsyncGenerator[SpeechAudio, None]:
        """Audio as each chunk arrives; closing the iterator early cancels the request at the broker."""
        assembler = Assembler(request.assembly)
        stream = self._client.stream(text, request.options)
        try:
            async for chunk in stream:
                yield SpeechAudio(assembler.add(chunk).tobytes(), chunk.sample_rate)
        finally:
            await stream.aclose()
