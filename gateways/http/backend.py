"""The gateway's one door into swtts: every call into the client is made here.

The routes see :class:`SpeechBackend` only: the workers' voices (which also say whether any
worker is there) and a stream of spoken audio with its pauses already placed. Failures are the
client's :class:`~swtts.client.TTSError` classes, which the routes turn into HTTP statuses.
Closing a :meth:`SpeechBackend.speak` stream early (a client that went away) cancels the
request at the broker.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import anyio
import numpy as np

from swtts.client import AsyncClient, AudioChunk, SynthesisOptions, VoiceDescription
from swtts.config import Settings
from swtts.pipeline.assembly import Assembler

_VOICES_TTL_S = 1.0
_VOICES_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class SpokenAudio:
    """One chunk of speech in document order: its samples with the leading and inner pauses placed.

    ``chunk`` is the client's chunk as it came (index, total, text, and what later features
    add to it), for whatever the response carries beside the audio.
    """

    samples: np.ndarray  # int16 mono
    chunk: AudioChunk

    @property
    def sample_rate(self) -> int:
        return self.chunk.sample_rate


class SpeechBackend:
    """Speech and the broker's voices over one broker endpoint, for one event loop."""

    def __init__(self, endpoint: str, settings: Settings) -> None:
        self.settings = settings
        self._client = AsyncClient(endpoint, settings)
        self._voices: list[VoiceDescription] | None = None
        self._voices_at = 0.0

    async def voices(self, fresh: bool = False) -> list[VoiceDescription]:
        """The connected workers' voices, each with its worker count (kept a second unless ``fresh``).

        An empty list means no worker is connected; a broker that does not answer raises
        :class:`~swtts.client.UnavailableError`.
        """
        if fresh or self._voices is None or time.monotonic() - self._voices_at > _VOICES_TTL_S:
            self._voices = await self._client.voices(timeout_s=_VOICES_TIMEOUT_S)
            self._voices_at = time.monotonic()
        return self._voices

    async def speak(self, text: str, options: SynthesisOptions) -> AsyncGenerator[SpokenAudio, None]:
        """Spoken chunks as they come; leaving early (``aclose``) cancels the request at the broker."""
        assembler = Assembler(self.settings.assembly)
        stream = self._client.stream(text, options)
        try:
            async for chunk in stream:
                yield SpokenAudio(assembler.add(chunk), chunk)
        finally:
            with anyio.CancelScope(shield=True):  # the cancel must reach the broker even when we are cancelled
                await stream.aclose()
