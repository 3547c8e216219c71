"""Which voice a Wyoming request gets, with which speech settings, and what ``info`` advertises.

Voices are the broker's (every voice a connected worker holds), asked for again on each
``describe``, in the background once the last answer is older than ``voices_max_age_s``, and
when a request names a voice the last answer lacks, so the list follows workers as they come
and go. A request names a voice, or a language ("fr_FR" or "fr"), or neither; the voice is
chosen as the broker chooses it (:func:`~swtts.protocol.choose_voice`), here only to find what
the broker cannot know: a speaker named rather than numbered, and the speech settings a
Wyoming client cannot send (from the config, per voice from ``voices_file``). A voice the list
lacks is passed on as asked, and the broker answers it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import SynthesizeVoice

from swtts.client import InvalidRequestError, SynthesisOptions, TTSError, VoiceDescription
from swtts.config import AssemblySettings, ConfigError, Settings
from swtts.gateways.wyoming.speech import SpeechBackend, SpeechRequest
from swtts.protocol import ErrorCode, ProtocolError, SynthesisParams, choose_voice, voice_name

LOGGER = logging.getLogger(__name__)
PROGRAM_NAME = "swtts"
_PIPER = Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")
_SCALES = ("length_scale", "noise_scale", "noise_w", "volume")
_GAPS = ("sentence_gap_s", "paragraph_gap_s")


@dataclass(frozen=True)
class VoiceSpeech:
    """Per-voice overrides from ``voices_file``; ``None`` keeps the global setting."""

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    volume: float | None = None
    sentence_gap_s: float | None = None
    paragraph_gap_s: float | None = None


def load_voice_speech(path: str, settings: Settings) -> dict[str, VoiceSpeech]:
    """Read and check ``voices_file``; every mistake is a :class:`ConfigError` naming the voice and key."""
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"wyoming.voices_file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"wyoming.voices_file {path} cannot be read: {exc}") from None
    return {name: _voice_speech(path, name, table, settings) for name, table in data.items()}


def _voice_speech(path: str, name: str, table: Any, settings: Settings) -> VoiceSpeech:
    """One voice's table, its scales checked as a request's are and its pauses as [assembly]'s."""
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
    speech = VoiceSpeech(**{key: float(value) for key, value in table.items()})
    try:
        SynthesisParams.from_wire({key: table[key] for key in _SCALES if key in table})
        _assembly(settings, speech)
    except ProtocolError as exc:
        raise ConfigError(f"{path}: [{name}] {exc.message}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {name}.{exc.key.partition('.')[2]} {exc.problem}") from None
    return speech


def _assembly(settings: Settings, speech: VoiceSpeech) -> AssemblySettings:
    gaps = {key: getattr(speech, key) for key in _GAPS if getattr(speech, key) is not None}
    return dataclasses.replace(settings.assembly, **gaps)


class VoiceCatalog:
    """The broker's voices, kept fresh, and the rules that turn a Wyoming voice into a request."""

    def __init__(self, backend: SpeechBackend, settings: Settings) -> None:
        self._backend = backend
        self._settings = settings
        self._speech = load_voice_speech(settings.wyoming.voices_file, settings)
        self._default = voice_name(settings.voice.model)
        self._voices: list[VoiceDescription] = []
        self._fetched = -math.inf
        self._renewal: asyncio.Task[None] | None = None

    async def voices(self, max_age_s: float = 0.0) -> list[VoiceDescription]:
        """The voice list, asked of the broker again when older than ``max_age_s`` (0: now)."""
        if time.monotonic() - self._fetched >= max_age_s:
            self._voices = await self._backend.voices()
            self._fetched = time.monotonic()
        return self._voices

    async def _known_voices(self) -> list[VoiceDescription]:
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
        except TTSError as exc:
            LOGGER.debug("voice list not renewed: %s", exc.message)

    async def info(self) -> Info:
        """The ``info`` answer: one TTS program holding every voice the workers hold now."""
        try:
            voices = await self.voices()
        except TTSError:
            voices = self._voices  # the broker is slow or gone: the last list known, or none
        return Info(
            tts=[
                TtsProgram(
                    name=PROGRAM_NAME,
                    description="SuperWhisper TTS: Piper voices on a pool of workers, spoken in document order",
                    attribution=Attribution(name="SuperWhisper TTS", url=_PIPER.url),
                    installed=True,
                    version=version("swtts"),
                    voices=[_tts_voice(voice) for voice in voices],
                    supports_synthesize_streaming=True,
                )
            ]
        )

    async def request(self, wanted: SynthesizeVoice | None) -> SpeechRequest:
        """The voice, speaker and settings a request gets; :class:`InvalidRequestError` for an unknown speaker name."""
        query = (wanted.name or wanted.language or None) if wanted is not None else None
        voice = choose_voice(query, await self._known_voices(), self._default)
        if voice is None and query is not None:  # a worker may have joined since the last look
            voice = choose_voice(query, await self.voices(), self._default)
        speaker = _speaker(voice, wanted.speaker if wanted is not None else None)
        name = voice.name if voice is not None else query
        speech = self._speech.get(name or "", VoiceSpeech())
        options = SynthesisOptions(
            voice=name,
            speaker=speaker,
            length_scale=speech.length_scale,
            noise_scale=speech.noise_scale,
            noise_w=speech.noise_w,
            volume=speech.volume,
            use_cache=self._settings.wyoming.use_cache,
        )
        return SpeechRequest(options, _assembly(self._settings, speech))


def _speaker(voice: VoiceDescription | None, speaker: str | None) -> int | None:
    """A Wyoming speaker (a name, or a number as text) as the voice's speaker id; the broker checks the range."""
    if not speaker:
        return None
    if voice is not None and speaker in voice.speakers:
        return voice.speakers[speaker]
    if speaker.isdigit():
        return int(speaker)
    known = ", ".join(sorted(voice.speakers)) if voice is not None and voice.speakers else "numbers only"
    name = voice.name if voice is not None else "the default voice"
    raise InvalidRequestError(f"unknown speaker {speaker!r} for {name}; known: {known}", ErrorCode.BAD_PARAM)


def _tts_voice(voice: VoiceDescription) -> TtsVoice:
    """A voice as ``info`` lists it; a multi-speaker voice lists its speakers (by number if unnamed)."""
    speakers = list(voice.speakers) or [str(n) for n in range(voice.num_speakers)]
    return TtsVoice(
        name=voice.name,
        description=voice.name,
        attribution=_PIPER,
        installed=True,
        version=None,
        languages=[voice.language] if voice.language else [],
        speakers=[TtsVoiceSpeaker(name=name) for name in speakers] if voice.num_speakers > 1 else None,
    )
