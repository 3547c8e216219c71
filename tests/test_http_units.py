"""HTTP gateway pieces without processes: encoders, voice names, error statuses, API keys, bind rules."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import av
import numpy as np
import pytest

from swtts.config import ConfigError, HttpSettings, Settings
from swtts.gateways.http.auth import check_bind, key_accepted, load_keys
from swtts.gateways.http.encoders import FORMATS, PCM_RATE, encoder_for
from swtts.gateways.http.errors import ApiError
from swtts.gateways.http.server import parse_bind
from swtts.gateways.http.voices import broker_voice, known_rate
from swtts.protocol import ErrorCode, VoiceDescription, tts_error
from swtts.service import EmbeddedService
from tests.helpers import free_port

RATE = 22050
# codec priming and frame padding a decoder may report beyond the samples fed (ADTS AAC: up to 2048 samples)
PADDING_S = 0.1


def decoded_seconds(data: bytes, name: str) -> float:
    """Seconds of audio in ``data``, decoded by FFmpeg (pcm: counted at OpenAI's 24 kHz)."""
    if name == "pcm":
        return len(data) / 2 / PCM_RATE
    with av.open(io.BytesIO(data), "r") as container:
        frames = list(container.decode(audio=0))
    return sum(frame.samples for frame in frames) / frames[0].sample_rate


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_encoder_streams_chunk_by_chunk_and_decodes_to_what_was_fed(name: str) -> None:
    encoder = encoder_for(name, RATE)
    pieces = [encoder.encode(tone(0.5)) for _ in range(8)]
    tail = encoder.finish()
    assert all(pieces[1:]), f"{name}: a chunk produced no bytes before the stream ended"
    streamed = b"".join(pieces)
    assert decoded_seconds(streamed, name) > 3.0, f"{name}: most audio must come out before finish()"
    assert 4.0 - 0.01 <= decoded_seconds(streamed + tail, name) <= 4.0 + PADDING_S


def test_wav_header_has_open_ended_sizes() -> None:
    data = encoder_for("wav", RATE).encode(tone(0.1))
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert data[4:8] == b"\xff\xff\xff\xff"
    position = data.index(b"data")
    assert data[position + 4 : position + 8] == b"\xff\xff\xff\xff"
    assert int.from_bytes(data[24:28], "little") == RATE


def test_pcm_is_resampled_to_24_khz_in_order() -> None:
    encoder = encoder_for("pcm", RATE)
    out = b"".join(encoder.encode(tone(1.0)) for _ in range(3)) + encoder.finish()
    samples = np.frombuffer(out, "<i2").astype(np.float64)
    assert abs(samples.size - 3 * PCM_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(samples[PCM_RATE : 2 * PCM_RATE]))
    assert abs(int(np.argmax(spectrum)) - 220) <= 1  # the 220 Hz tone survives, at the new rate


def test_openai_voice_names_map_through_the_config_and_the_rest_go_to_the_broker() -> None:
    voice_map = {"Nova": "fr_FR-siwis-medium", "echo": "fr"}
    assert broker_voice("alloy", voice_map) is None  # OpenAI's name, not mapped: the broker's default voice
    assert broker_voice("nova", voice_map) == "fr_FR-siwis-medium"
    assert broker_voice("ECHO", voice_map) == "fr"
    assert broker_voice("en_US-joe-medium", voice_map) == "en_US-joe-medium"
    assert broker_voice(" fr-fr ", voice_map) == "fr-fr"  # a language: the broker resolves it
    assert broker_voice("robot", {}) == "robot"  # the broker answers unknown_voice


def test_the_sample_rate_is_known_when_every_voice_the_broker_may_pick_shares_it() -> None:
    def voice(name: str, language: str, rate: int) -> VoiceDescription:
        return VoiceDescription(name, language, language.lower().replace("_", "-"), rate, workers=1)

    voices = [voice("en_US-joe-medium", "en_US", 22050), voice("fr_FR-a-low", "fr_FR", 16000)]
    assert known_rate("fr", voices) == 16000
    assert known_rate("en_US-joe-medium", voices) == 22050
    assert known_rate(None, voices) is None  # the default could be either
    assert known_rate(None, voices[:1]) == 22050
    assert known_rate("de", voices) is None


@pytest.mark.parametrize(
    ("code", "status", "param"),
    [
        (ErrorCode.BUSY, 429, None),
        (ErrorCode.UNAVAILABLE, 503, None),
        (ErrorCode.WORKER_LOST, 503, None),
        (ErrorCode.TIMEOUT, 504, None),
        (ErrorCode.TOO_LONG, 413, "input"),
        (ErrorCode.CONTROL_CHARS, 400, "input"),
        (ErrorCode.UNKNOWN_VOICE, 400, "voice"),
        (ErrorCode.BAD_PARAM, 400, None),
        (ErrorCode.SYNTHESIS_FAILED, 502, None),
        (ErrorCode.INTERNAL, 500, None),
    ],
)
def test_client_errors_become_http_statuses(code: ErrorCode, status: int, param: str | None) -> None:
    error = ApiError.from_tts_error(tts_error(code, "what went wrong"))
    assert (error.status, error.code, error.param, error.message) == (status, code.value, param, "what went wrong")


def test_api_keys_from_file_and_environment(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# keys for the speech API\nfile-key-1\n\n  file-key-2  # laptop\n")
    keys = load_keys(HttpSettings(api_keys_file=str(keys_file)), {"SWTTS_API_KEYS": "env-a, env-b"})
    assert keys == ("env-a", "env-b", "file-key-1", "file-key-2")
    assert key_accepted("Bearer file-key-2", keys) and key_accepted("bearer env-a", keys)
    assert not key_accepted("Bearer file-key", keys)
    assert not key_accepted("file-key-1", keys) and not key_accepted(None, keys)
    assert not key_accepted("Basic env-a", keys)
    with pytest.raises(ConfigError, match="api_keys_file"):
        load_keys(HttpSettings(api_keys_file=str(tmp_path / "missing")), {})


def test_binding_beyond_loopback_needs_keys() -> None:
    check_bind("127.0.0.1", 8000, ())
    check_bind("localhost", 8000, ())
    check_bind("::1", 8000, ())
    check_bind("0.0.0.0", 8000, ("key",))
    with pytest.raises(ConfigError, match=r"refusing to serve HTTP on 0\.0\.0\.0:8000 without API keys"):
        check_bind("0.0.0.0", 8000, ())
    with pytest.raises(ConfigError, match="refusing"):
        check_bind("example.org", 8000, ())


def test_bind_addresses() -> None:
    assert parse_bind("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_bind("[::1]:9000") == ("::1", 9000)


def test_an_embedded_service_does_not_serve_the_configured_http(settings: Settings) -> None:
    """``say`` starts a private service from the user's config: it must not take the HTTP port too."""
    port = free_port()
    configured = settings.override(http__enabled=True, http__bind=f"127.0.0.1:{port}")
    with EmbeddedService(configured, workers=0), socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
