"""SuperWhisper TTS: a ZeroMQ broker and Piper worker pool that turns text into ordered speech.

The public API is re-exported here and imported on first use, so ``import swtts.protocol``
in a worker or a gateway does not pay for the client or the service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swtts.client import AsyncClient, AudioChunk, Client, SynthesisResult, TTSError
    from swtts.config import Settings, load_settings
    from swtts.service import EmbeddedService

__version__ = "0.2.0"

_EXPORTS = {
    "AsyncClient": "swtts.client",
    "AudioChunk": "swtts.client",
    "Client": "swtts.client",
    "SynthesisResult": "swtts.client",
    "TTSError": "swtts.client",
    "Settings": "swtts.config",
    "load_settings": "swtts.config",
    "EmbeddedService": "swtts.service",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swtts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
