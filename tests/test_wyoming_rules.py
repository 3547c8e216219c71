"""The Wyoming gateway's rules without processes: which URIs it binds, which voice a request gets,
and how per-voice speech settings are read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from wyoming.tts import SynthesizeVoice

from swtts.config import ConfigError, load_settings
from swtts.gateways.wyoming import GatewayError, check_uri
from swtts.gateways.wyoming.speech import SpeechRequest, VoiceEntry
from swtts.gateways.wyoming.voices import RequestError, VoiceCatalog, load_voice_speech


class Broker:
    """Stands in for :class:`SpeechBackend` where only its voice list matters."""

    def __init__(self, voices: list[VoiceEntry]) -> None:
        self.list = voices
        self.asked = 0

    async def voices(self) -> list[VoiceEntry]:
        self.asked += 1
        return self.list


VOICES = [
    VoiceEntry("en_GB-alba-medium", "en_GB"),
    VoiceEntry("en_US-joe-medium", "en_US"),
    VoiceEntry("en_US-libritts-high", "en_US", {"p1": 0, "p2": 1}),
    VoiceEntry("fr_FR-siwis-medium", "fr_FR"),
]


def request_for(wanted: SynthesizeVoice | None, voices_file: str = "") -> SpeechRequest:
    settings = load_settings().override(wyoming__voices_file=voices_file)
    catalog = VoiceCatalog(Broker(VOICES), settings)  # type: ignore[arg-type]
    return asyncio.run(catalog.request(wanted))


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


@pytest.mark.parametrize("uri", ["tcp://127.0.0.1", "tcp://:10200", "http://127.0.0.1:10200", "stdio://", "unix://"])
def test_unusable_uris_are_refused_with_the_reason(uri: str) -> None:
    with pytest.raises(GatewayError, match=r"tcp://|socket path"):
        check_uri(uri, allow_remote=True)


def test_zeroconf_needs_a_network_address() -> None:
    with pytest.raises(GatewayError, match="zeroconf"):
        check_uri("tcp://127.0.0.1:10200", allow_remote=True, zeroconf=True)
    check_uri("tcp://0.0.0.0:10200", allow_remote=True, zeroconf=True)


def test_a_voice_by_name_language_or_nothing() -> None:
    assert request_for(SynthesizeVoice(name="fr_FR-siwis-medium")).voice == "fr_FR-siwis-medium"
    assert request_for(SynthesizeVoice(language="fr")).voice == "fr_FR-siwis-medium"
    assert request_for(SynthesizeVoice(language="en_GB")).voice == "en_GB-alba-medium"
    assert request_for(SynthesizeVoice(language="en-US")).voice == "en_US-joe-medium"  # the configured voice first
    assert request_for(None).voice == "en_US-joe-medium"


def test_speakers_by_name_or_number() -> None:
    assert request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="p2")).speaker == 1
    assert request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="0")).speaker == 0
    assert request_for(SynthesizeVoice(name="en_US-joe-medium")).speaker is None
    with pytest.raises(RequestError, match=r"unknown speaker 'p9'.*p1, p2"):
        request_for(SynthesizeVoice(name="en_US-libritts-high", speaker="p9"))


def test_an_unknown_voice_asks_the_broker_again_then_names_what_there_is() -> None:
    broker = Broker(VOICES)
    catalog = VoiceCatalog(broker, load_settings())  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="unknown voice 'de_DE-x-low'; available: en_GB-alba-medium") as failure:
        asyncio.run(catalog.request(SynthesizeVoice(name="de_DE-x-low")))
    assert failure.value.code == "unknown_voice" and broker.asked == 2
    with pytest.raises(RequestError, match="no voice for language 'de'"):
        asyncio.run(catalog.request(SynthesizeVoice(language="de")))


def test_per_voice_speech_settings(tmp_path: Path) -> None:
    voices = tmp_path / "voices.toml"
    voices.write_text('["fr_FR-siwis-medium"]\nlength_scale = 1.2\nsentence_gap_s = 0.4\n')
    french = request_for(SynthesizeVoice(language="fr"), str(voices))
    assert (french.length_scale, french.assembly.sentence_gap_s) == (1.2, 0.4)
    english = request_for(None, str(voices))
    assert english.length_scale is None
    assert english.assembly == load_settings().assembly


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["v"]\nspeed = 1.0\n', "unknown key"),
        ('["v"]\nlength_scale = "fast"\n', "must be a number"),
        ('["v"]\nlength_scale = 0.0\n', "outside"),
        ('["v"]\nsentence_gap_s = -1\n', "outside"),
        ("v = 1\n", "must be a table"),
        ("[v\n", "cannot be read"),
    ],
)
def test_bad_voice_settings_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    voices = tmp_path / "voices.toml"
    voices.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_voice_speech(str(voices))
    with pytest.raises(ConfigError, match="not found"):
        load_voice_speech(str(tmp_path / "missing.toml"))
