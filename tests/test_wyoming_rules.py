"""The Wyoming gateway's rules without processes: which URIs it binds, which voice a request gets,
what ``info`` lists, and how per-voice speech settings are read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from wyoming.tts import SynthesizeVoice

from swtts.client import InvalidRequestError, VoiceDescription
from swtts.config import ConfigError, load_settings
from swtts.gateways.wyoming import GatewayError, check_uri
from swtts.gateways.wyoming.speech import SpeechRequest
from swtts.gateways.wyoming.voices import VoiceCatalog, load_voice_speech


class Broker:
    """Stands in for :class:`SpeechBackend` where only its voice list matters."""

    def __init__(self, voices: list[VoiceDescription]) -> None:
        self.list = voices
        self.asked = 0

    async def voices(self) -> list[VoiceDescription]:
        self.asked += 1
        return self.list


def voice(name: str, speakers: dict[str, int] | None = None, count: int = 1) -> VoiceDescription:
    language = name.split("-")[0]
    espeak = language.lower().replace("_", "-")
    return VoiceDescription(name, language, espeak, 22050, max(count, len(speakers or {})), speakers or {})


VOICES = [
    voice("en_GB-alba-medium"),
    voice("en_US-joe-medium"),
    voice("en_US-libritts-high", {"p1": 0, "p2": 1}),
    voice("fr_FR-siwis-medium"),
    voice("de_DE-thorsten-medium", count=3),
]


def catalog(voices_file: str = "", broker: Broker | None = None) -> VoiceCatalog:
    settings = load_settings().override(wyoming__voices_file=voices_file)
    return VoiceCatalog(broker or Broker(VOICES), settings)  # type: ignore[arg-type]


def request_for(wanted: SynthesizeVoice | None, voices_file: str = "") -> SpeechRequest:
    return asyncio.run(catalog(voices_file).request(wanted))


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("tcp://127.0.0.1:10200", False),
        ("tcp://localhost:10200", False),
        ("tcp://[::1]:10200", False),
        ("unix:///tmp/swtts.sock", False),
        ("tcp://0.0.0.0:10200", True),
        ("tcp://192.168.1.5:10200", True),
        ("tcp://speaker.local:10200", True),
    ],
)
def test_only_loopback_binds_without_the_opt_in(uri: str, allowed: bool) -> None:
    check_uri(uri, allow_remote=True)
    if allowed:
        with pytest.raises(GatewayError, match="allow_remote"):
            check_uri(uri, allow_remote=False)
    else:
        check_uri(uri, allow_remote=False)


def test_zeroconf_needs_a_network_address() -> None:
    with pytest.raises(GatewayError, match="zeroconf"):
        check_uri("tcp://127.0.0.1:10200", allow_remote=True, zeroconf=True)
    check_uri("tcp://0.0.0.0:10200", allow_remote=True, zeroconf=True)


def test_a_voice_by_name_language_or_nothing_as_the_broker_chooses() -> None:
    assert request_for(SynthesizeVoice(name="fr_FR-siwis-medium")).options.voice == "fr_FR-siwis-medium"
    assert request_for(SynthesizeVoice(language="fr")).options.voice == "fr_FR-siwis-medium"
    assert request_for(SynthesizeVoice(language="en_GB")).options.voice == "en_GB-alba-medium"
    assert request_for(SynthesizeVoice(language="en-US")).options.voice == "en_US-joe-medium"  # the configured voice
    assert request_for(None).options.voice == "en_US-joe-medium"


def test_speakers_by_name_or_number() -> None:
    assert request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="p2")).options.speaker == 1
    assert request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="0")).options.speaker == 0
    assert request_for(SynthesizeVoice(name="en_US-joe-medium")).options.speaker is None
    with pytest.raises(InvalidRequestError, match=r"unknown speaker 'p9'.*p1, p2") as failure:
        request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="p9"))
    assert failure.value.code == "bad_param"


def test_a_voice_the_list_lacks_is_asked_for_again_then_left_to_the_broker() -> None:
    broker = Broker(VOICES)
    request = asyncio.run(catalog(broker=broker).request(SynthesizeVoice(name="xx_XX-nobody-low")))
    assert request.options.voice == "xx_XX-nobody-low" and broker.asked == 2
    assert asyncio.run(catalog().request(SynthesizeVoice(language="it"))).options.voice == "it"


def test_info_lists_every_voice_with_its_language_and_speakers() -> None:
    info = asyncio.run(catalog().info())
    voices = {v.name: (v.languages, [s.name for s in v.speakers or []]) for v in info.tts[0].voices}
    assert voices == {
        "en_GB-alba-medium": (["en_GB"], []),
        "en_US-joe-medium": (["en_US"], []),
        "en_US-libritts-high": (["en_US"], ["p1", "p2"]),
        "fr_FR-siwis-medium": (["fr_FR"], []),
        "de_DE-thorsten-medium": (["de_DE"], ["0", "1", "2"]),  # numbered when the voice names none
    }
    assert info.tts[0].supports_synthesize_streaming is True


def test_per_voice_speech_settings(tmp_path: Path) -> None:
    voices = tmp_path / "voices.toml"
    voices.write_text('["fr_FR-siwis-medium"]\nlength_scale = 1.2\nsentence_gap_s = 0.4\n')
    french = request_for(SynthesizeVoice(language="fr"), str(voices))
    assert (french.options.length_scale, french.assembly.sentence_gap_s) == (1.2, 0.4)
    english = request_for(None, str(voices))
    assert english.options.length_scale is None
    assert english.assembly == load_settings().assembly


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["v"]\nspeed = 1.0\n', "unknown key"),
        ('["v"]\nlength_scale = "fast"\n', "v.length_scale must be a number"),
        ('["v"]\nlength_scale = 0.0\n', "length_scale"),
        ('["v"]\nsentence_gap_s = -1\n', "v.sentence_gap_s must be at least 0, got -1"),
        ("v = 1\n", "must be a table"),
        ("[v\n", "cannot be read"),
    ],
)
def test_bad_voice_settings_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    voices = tmp_path / "voices.toml"
    voices.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_voice_speech(str(voices), load_settings())
    with pytest.raises(ConfigError, match="not found"):
        load_voice_speech(str(tmp_path / "missing.toml"), load_settings())
