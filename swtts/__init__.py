"""SuperWhisper TTS: a ZeroMQ broker and Piper worker pool that turns text into ordered speech.

The public API is re-exported here and imported on first use, so ``import swtts.protocol``
in a worker or a gateway does not pay for the client or the service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swtts.client import AsyncClient, AudioChunk, Client, SynthesisOptions, SynthesisResult, TimedWord
    from swtts.config import Settings, load_settings
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
    from swtts.service import EmbeddedService

__version__ = "0.2.0"

_EXPORTS = {
    "AsyncClient": "swtts.client",
    "AudioChunk": "swtts.client",
    "Client": "swtts.client",
    "SynthesisOptions": "swtts.client",
    "SynthesisResult": "swtts.client",
    "TimedWord": "swtts.client",
    "BusyError": "swtts.protocol",
    "InvalidRequestError": "swtts.protocol",
    "RequestCancelledError": "swtts.protocol",
    "RequestTimeoutError": "swtts.protocol",
    "SynthesisFailedError": "swtts.protocol",
    "TTSError": "swtts.protocol",
    "UnavailableError": "swtts.protocol",
    "VoiceDescription": "swtts.protocol",
    "Settings": "swtts.config",
    "load_settings": "swtts.config",
    "EmbeddedService": "swtts.service",
}

__all__ = [
    "AsyncClient",
    "AudioChunk",
    "BusyError",
    "Client",
    "EmbeddedService",
    "InvalidRequestError",
    "RequestCancelledError",
    "RequestTimeoutError",
    "Settings",
    "SynthesisFailedError",
    "SynthesisOptions",
    "SynthesisResult",
    "TTSError",
    "TimedWord",
    "UnavailableError",
    "VoiceDescription",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swtts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
