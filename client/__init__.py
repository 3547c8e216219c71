"""Producer API: send text to a broker, get ordered audio back (sync and asyncio).

The request logic is written once (:mod:`conversation`); :mod:`sync_client` and
:mod:`async_client` are its two faces, :mod:`options` and :mod:`results` what goes in and out.
The asyncio face is imported on first use, so a synchronous caller (``swtts say``) does not
pay for asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swtts.client.options import SynthesisOptions
from swtts.client.output import WrittenAudio
from swtts.client.results import AudioChunk, SynthesisResult
from swtts.client.sync_client import AudioStream, Client
from swtts.client.words import TimedWord
from swtts.protocol import (
    BusyError,
    InvalidRequestError,
    RequestCancelledError,
    RequestTimeoutError,
    SynthesisFailedError,
    TTSError,
    UnavailableError,
    VoiceDescription,
)

if TYPE_CHECKING:
    from swtts.client.async_client import AsyncAudioStream, AsyncClient

__all__ = [
    "AsyncAudioStream",
    "AsyncClient",
    "AudioChunk",
    "AudioStream",
    "BusyError",
    "Client",
    "InvalidRequestError",
    "RequestCancelledError",
    "RequestTimeoutError",
    "SynthesisFailedError",
    "SynthesisOptions",
    "SynthesisResult",
    "TTSError",
    "TimedWord",
    "UnavailableError",
    "VoiceDescription",
    "WrittenAudio",
]


def __getattr__(name: str) -> Any:
    if name in ("AsyncClient", "AsyncAudioStream"):
        return getattr(importlib.import_module("swtts.client.async_client"), name)
    raise AttributeError(f"module 'swtts.client' has no attribute {name!r}")
