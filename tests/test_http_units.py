"""HTTP gateway pieces without processes: encoders, voice names, API keys, bind rules, config."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from swtts.config import ConfigError, HttpSettings, dump_settings, load_settings
from swtts.gateways.http.auth import check_bind, key_accepted, load_keys
from swtts.gateways.http.encoders import FORMATS, PCM_RATE, encoder_for
from swtts.gateways.http.server import parse_bind
from swtts.gateways.http.voices import resolve_voice

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


def test_voice_names_map_to_the_workers_voices() -> None:
    voices = ["en_US-joe-medium", "fr_FR-siwis-medium", "fr_CA-x-low"]
    assert resolve_voice("alloy", voices, {}) is None  # OpenAI name: the default voice
    assert resolve_voice("Nova", voices, {"nova": "fr_FR-siwis-medium"}) == "fr_FR-siwis-medium"
    assert resolve_voice("echo", voices, {"echo": "fr_CA"}) == "fr_CA-x-low"
    assert resolve_voice("en_US-joe-medium", voices, {}) == "en_US-joe-medium"
    assert resolve_voice("fr-fr", voices, {}) == "fr_FR-siwis-medium"
    assert resolve_voice("fr", voices, {}) == "fr_CA-x-low"
    with pytest.raises(LookupError, match="unknown voice 'de'"):
        resolve_voice("de", voices, {})
    with pytest.raises(LookupError, match="unknown voice 'robot'"):
        resolve_voice("robot", voices, {})


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
    for bad in ("8000", "host:", "host:port", "host:70000"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_bind(bad)


def test_http_config_lists_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "http.toml"
    path.write_text('[http]\nmodels = ["piper"]\nvoice_map = { alloy = "fr_FR" }\n')
    settings = load_settings(path)
    assert settings.http.models == ["piper"] and settings.http.voice_map == {"alloy": "fr_FR"}
    (tmp_path / "dump.toml").write_text(dump_settings(settings))
    assert load_settings(tmp_path / "dump.toml") == settings
    path.write_text("[http]\nvoice_map = { alloy = 3 }\n")
    with pytest.raises(ConfigError, match=r"http\.voice_map must be a table of strings"):
        load_settings(path)
    path.write_text('[http]\nmodels = "piper"\n')
    with pytest.raises(ConfigError, match=r"http\.models must be a list of strings"):
        load_settings(path)
