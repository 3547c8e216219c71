"""Producer API: send text to a broker, get ordered audio back (sync and asyncio).

The request logic is written once (:mod:`conversation`); :mod:`sync_client` and
:mod:`async_client` are its two faces, :mod:`options` and :mod:`results` what goes in and out.
"""

from swtts.client.async_client import AsyncAudioStream, AsyncClient
from swtts.client.options import SynthesisOptions
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
]
