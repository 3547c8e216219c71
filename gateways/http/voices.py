"""Names the API accepts that swtts does not: OpenAI's models and voice names.

An OpenAI voice name is mapped through ``[http] voice_map`` (else the broker's default voice);
any other name goes to the broker as it is, which resolves a voice name or a language itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swtts.protocol import VoiceDescription, matching_voices

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


def broker_voice(requested: str, voice_map: Mapping[str, str]) -> str | None:
    """The voice to ask the broker for: ``None`` for its default voice, else a voice name or language."""
    key = requested.strip()
    mapping = {name.lower(): voice for name, voice in voice_map.items()}
    if key.lower() in mapping:
        return mapping[key.lower()] or None
    if not key or key.lower() in OPENAI_VOICES:
        return None
    return key


def known_rate(voice: str | None, voices: Sequence[VoiceDescription]) -> int | None:
    """The sample rate the broker will speak ``voice`` at, when every voice it may pick shares one."""
    candidates = list(voices) if voice is None else matching_voices(voice, voices)
    rates = {candidate.sample_rate for candidate in candidates}
    return rates.pop() if len(rates) == 1 else None
