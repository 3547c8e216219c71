"""Voice files without onnxruntime: metadata, identity, and one clear line for each broken voice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swtts.workers.voice_files import (
    VoiceLoadError,
    check_voice,
    default_model_path,
    language_of,
    voice_digest,
)
from tests.broken_voices import BROKEN_VOICES, REAL_CONFIG, REAL_MODEL, real_config, write_voice


def assert_one_line_naming(error: pytest.ExceptionInfo[VoiceLoadError], path: Path, words: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert words in message


def test_the_bundled_voice_and_its_metadata() -> None:
    voice = check_voice(None)
    assert voice.model_path == default_model_path() == REAL_MODEL
    assert voice.config_path == REAL_CONFIG
    assert voice.name == "en_US-joe-medium"
    assert (voice.sample_rate, voice.num_speakers, voice.speakers) == (22050, 1, {})
    assert (voice.language, voice.espeak_voice) == ("en_US", "en-us")
    assert check_voice(str(REAL_MODEL).removesuffix(".onnx")) == voice  # the suffix may be left out


def test_checking_a_voice_loads_neither_onnxruntime_nor_piper() -> None:
    code = (
        "import sys; from swtts.workers.voice_files import check_voice; check_voice(None); "
        "print(sorted(m for m in ('onnxruntime', 'onnx', 'piper', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", sorted(BROKEN_VOICES))
def test_each_broken_voice_is_one_line_naming_the_file(kind: str, tmp_path: Path) -> None:
    write, named, words = BROKEN_VOICES[kind]
    with pytest.raises(VoiceLoadError) as error:
        check_voice(write(tmp_path))
    assert_one_line_naming(error, tmp_path / named, words)


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(VoiceLoadError) as error:
        check_voice(tmp_path / "nope.onnx")
    assert_one_line_naming(error, tmp_path / "nope.onnx", "voice model not found")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = config
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = config
        for key in parents:
            target = target[key]
        del target[last]

    return change


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_drop("audio"), "lacks 'audio'"),
        (_set("audio.sample_rate", "22050"), "'audio.sample_rate' must be a positive integer, got '22050'"),
        (_set("audio.sample_rate", 0), "'audio.sample_rate' must be a positive integer, got 0"),
        (_drop("num_speakers"), "lacks 'num_speakers'"),
        (_drop("num_symbols"), "lacks 'num_symbols'"),
        (_drop("espeak.voice"), "lacks 'espeak.voice'"),
        (_set("espeak", "en-us"), "lacks 'espeak.voice'"),
        (_set("espeak.voice", ""), "'espeak.voice' must be a voice name"),
        (_drop("phoneme_id_map"), "lacks 'phoneme_id_map'"),
        (_set("phoneme_id_map", {}), "'phoneme_id_map' must be a non-empty object"),
        (_set("phoneme_id_map", {"a": 3}), "'phoneme_id_map' entry 'a' must be a list of integer ids"),
        (_set("speaker_id_map", ["alice"]), "'speaker_id_map' must map speaker names to integer ids"),
    ],
)
def test_config_keys_piper_needs_are_checked(
    change: Callable[[dict[str, Any]], None], words: str, tmp_path: Path
) -> None:
    config = real_config()
    change(config)
    model = write_voice(tmp_path, None, json.dumps(config))
    with pytest.raises(VoiceLoadError) as error:
        check_voice(model)
    assert_one_line_naming(error, tmp_path / "voice.onnx.json", words)


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "empty file"), ("[1, 2]", "not a JSON object but list"), ("{'audio': 1}", "not valid JSON")],
)
def test_config_that_is_not_a_json_object(text: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(VoiceLoadError) as error:
        check_voice(write_voice(tmp_path, None, text))
    assert_one_line_naming(error, tmp_path / "voice.onnx.json", words)


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    model = write_voice(tmp_path, None, "")
    (tmp_path / "voice.onnx.json").write_bytes(b'{"audio": "\xff"}')
    with pytest.raises(VoiceLoadError) as error:
        check_voice(model)
    assert_one_line_naming(error, tmp_path / "voice.onnx.json", "not UTF-8 text")


def test_an_unreadable_model_is_named(tmp_path: Path) -> None:
    model = write_voice(tmp_path, b"\x08\x08", REAL_CONFIG.read_text())
    model.chmod(0)
    if os.access(model, os.R_OK):
        pytest.skip("running as a user who can read any file")
    with pytest.raises(VoiceLoadError) as error:
        check_voice(model)
    assert_one_line_naming(error, model, "unreadable (Permission denied)")


def test_a_multi_speaker_config_needs_a_model_with_speaker_input(tmp_path: Path) -> None:
    config = {**real_config(), "num_speakers": 2, "speaker_id_map": {"a": 0, "b": 1}}
    with pytest.raises(VoiceLoadError) as error:
        check_voice(write_voice(tmp_path, None, json.dumps(config)))
    assert_one_line_naming(error, tmp_path / "voice.onnx", "its graph has no 'sid' input")


def test_language_comes_from_the_config_else_from_the_espeak_voice(tmp_path: Path) -> None:
    config = real_config()
    config["espeak"]["voice"] = "pt-br"
    config["language"] = {"code": "pt_BR"}
    assert check_voice(write_voice(tmp_path / "a", None, json.dumps(config))).language == "pt_BR"
    del config["language"]
    voice = check_voice(write_voice(tmp_path / "b", None, json.dumps(config)))
    assert (voice.language, voice.espeak_voice) == ("pt_BR", "pt-br")


@pytest.mark.parametrize(
    ("espeak", "language"),
    [("en-us", "en_US"), ("fr", "fr"), ("en-gb-x-rp", "en_GB"), ("cmn", "cmn"), ("de-DE", "de_DE")],
)
def test_language_of_an_espeak_voice(espeak: str, language: str) -> None:
    assert language_of(espeak) == language


def test_identity_covers_the_model_and_its_config(tmp_path: Path) -> None:
    config = real_config()
    same = write_voice(tmp_path / "same", None, REAL_CONFIG.read_text())
    config["espeak"]["voice"] = "fr"
    other = write_voice(tmp_path / "other", None, json.dumps(config))
    real = voice_digest(REAL_MODEL, REAL_CONFIG)
    assert voice_digest(same, Path(f"{same}.json")) == real
    assert voice_digest(other, Path(f"{other}.json")) != real
