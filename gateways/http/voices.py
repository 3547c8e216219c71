"""Names the API accepts: OpenAI's models and voices, mapped onto the voices the workers hold."""

from __future__ import annotations

import re

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "swtts")
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[_-]([A-Za-z]{2}))?$", re.IGNORECASE)


def language_of(voice: str) -> str:
    """A Piper voice's language from its name: ``fr_FR-siwis-medium`` -> ``fr_FR``."""
    return voice.split("-", 1)[0]


def resolve_voice(requested: str, available: list[str], voice_map: dict[str, str]) -> str | None:
    """The swtts voice to speak with (``None`` = the broker's default), or :class:`LookupError`.

    ``requested`` may be an OpenAI name (mapped through ``voice_map``, else the default voice),
    a voice name, or a language (``fr_FR``, ``fr-fr``, ``fr``), which picks the first voice
    of that language.
    """
    key = requested.strip()
    mapping = {name.lower(): voice for name, voice in voice_map.items()}
    target = mapping.get(key.lower(), key)
    if not target or (key.lower() in OPENAI_VOICES and key.lower() not in mapping):
        return None
    if target in available:
        return target
    match = _LANGUAGE.match(target)
    if match:
        language, region = match.group(1).lower(), (match.group(2) or "").upper()
        for voice in sorted(available):
            lang, _, reg = language_of(voice).partition("_")
            if lang.lower() == language and (not region or reg.upper() == region):
                return voice
    choices = ", ".join([*available, *OPENAI_VOICES]) or "none (no worker is connected)"
    raise LookupError(f"unknown voice {requested!r}; available: {choices}")
