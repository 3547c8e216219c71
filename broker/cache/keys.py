"""Cache keys: what determines a piece of cached audio, hashed into one string."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from hashlib import sha256
from typing import Any

CACHE_FORMAT_VERSION = 2
"""Bumped whenever cached audio for the same inputs would differ; it is hashed into every key.
2: entries keep their word timings."""

_KINDS = frozenset({"chunk", "doc"})


def _canonical_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def cache_key(kind: str, text: str, voice_hash: str, params: Mapping[str, Any]) -> str:
    """Hex SHA-256 over everything that determines the audio, so equal keys mean equal audio.

    Text is NFC-normalised with whitespace runs collapsed and stripped, since those never
    change what is spoken; ``params`` is serialised as canonical JSON (sorted keys).
    """
    if kind not in _KINDS:
        raise ValueError(f"cache key kind must be one of {sorted(_KINDS)}, not {kind!r}")
    payload = json.dumps(
        {
            "format": CACHE_FORMAT_VERSION,
            "kind": kind,
            "params": dict(params),
            "text": _canonical_text(text),
            "voice": voice_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return sha256(payload.encode("utf-8")).hexdigest()
