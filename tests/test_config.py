"""Configuration: defaults load, overrides apply, mistakes are named, every key is used."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from swtts.config import ConfigError, Settings, default_config_path, dump_settings, load_settings

REPO = Path(__file__).resolve().parent.parent


def test_default_file_matches_the_typed_defaults() -> None:
    assert load_settings() == Settings()


def test_every_key_is_documented_and_read_by_code() -> None:
    data = tomllib.loads(default_config_path().read_text())
    code = "\n".join(
        p.read_text() for folder in ("pipeline", "broker", "workers", "config", "client", "service", "cli", "protocol", "gateways/http") for p in (REPO / folder).glob("*.py")
    )
    for section in dataclasses.fields(Settings):
        keys = {f.name for f in dataclasses.fields(getattr(Settings(), section.name))}
        assert set(data[section.name]) == keys, section.name
        for key in keys:
            assert re.search(rf"\.{key}\b|\b{section.name}__{key}\b", code), f"{section.name}.{key} is read by nothing"


def test_user_file_overrides_and_unknown_keys_fail(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[chunker]\nmax_chunk_chars = 300\n[service]\nclient_timeout_s = 2\n")
    settings = load_settings(good)
    assert settings.chunker.max_chunk_chars == 300
    assert settings.service.client_timeout_s == 2.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[chunker]\nmax_chunk_char = 300\n")
    with pytest.raises(ConfigError, match="chunker.max_chunk_char"):
        load_settings(bad)
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('[service]\nworkers = "two"\n')
    with pytest.raises(ConfigError, match="service.workers must be an integer"):
        load_settings(wrong_type)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_override_and_dump_round_trip(tmp_path: Path) -> None:
    settings = load_settings().override(service__workers=3, voice__device="cuda:0", chunker__max_chunk_chars=None)
    assert settings.service.workers == 3 and settings.voice.device == "cuda:0"
    path = tmp_path / "dump.toml"
    path.write_text(dump_settings(settings))
    assert load_settings(path) == settings
