"""The gateway's one door into swtts: every call into the client is made here.

The routes see :class:`SpeechBackend` only: voices, readiness, and a stream of spoken audio
with its pauses already placed. Client errors come out as :data:`BackendError` (the client's
error class) with the broker's error code, which the routes turn into HTTP statuses. Closing a :meth:`speak`
stream early (a client that went away) cancels the request at the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np

from swtts.client import AsyncClient, Client, TTSError
from swtts.config import Settings
from swtts.pipeline.assembly import Assembler

_PING_TTL_S = 1.0


BackendError = TTSError
"""A request failed; ``code`` is the broker's or client's error code (``busy``, ``unavailable``, ...)."""


@dataclass(frozen=True)
class BrokerState:
    """What the broker says about its workers: counts and the voices they hold."""

    workers: int
    ready: int
    voices: list[str]


@dataclass(frozen=True)
class SpokenAudio:
    """One chunk of speech in document order, its leading and inner pauses included."""

    samples: np.ndarray  # int16 mono
    sample_rate: int
    index: int
    total: int | None
    text: str


class SpeechBackend:
    """Speech and broker state over one broker endpoint, for one event loop."""

    def __init__(self, endpoint: str, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self._client = AsyncClient(endpoint, settings)
        self._state: BrokerState | None = None
        self._state_at = 0.0

    async def state(self, fresh: bool = False) -> BrokerState:
        """The broker's worker counts and voices (cached for a second unless ``fresh``)."""
        if fresh or self._state is None or time.monotonic() - self._state_at > _PING_TTL_S:
            reply = await asyncio.to_thread(self._ping)
            self._state = BrokerState(int(reply["workers"]), int(reply["ready"]), list(reply["voices"]))
            self._state_at = time.monotonic()
        return self._state

    def _ping(self) -> dict[str, Any]:
        with Client(self.endpoint, self.settings) as client:
            return client.ping(timeout_s=2.0)

    async def speak(self, text: str, voice: str | None, length_scale: float | None) -> AsyncIterator[SpokenAudio]:
        """Spoken chunks as they come; leaving early (``aclose``) cancels the request at the broker."""
        options: dict[str, Any] = {"voice": voice}
        if length_scale is not None:
            options["length_scale"] = length_scale
        assembler = Assembler(self.settings.assembly)
        stream = self._client.stream(text, **options)
        try:
            async for chunk in stream:
                yield SpokenAudio(assembler.add(chunk), chunk.sample_rate, chunk.index, chunk.total, chunk.text)
        finally:
            with anyio.CancelScope(shield=True):  # the cancel must reach the broker even when we are cancelled
                await stream.aclose()
