"""End to end through real processes, real ZeroMQ sockets and the real Piper voice."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from piper import PiperVoice, SynthesisConfig

from swtts.client import Client, SynthesisOptions
from swtts.config import Settings
from swtts.pipeline.normalize import normalize, strip_markup
from swtts.service import EmbeddedService, worker_command
from tests.helpers import (
    ARTICLE,
    REPO,
    cache_config,
    children_of,
    phoneme_words,
    start_swtts,
    tcp_endpoint,
    terminate,
    write_config,
)
from tests.helpers import run_swtts as swtts

pytestmark = pytest.mark.e2e


def no_gap_client(service: EmbeddedService, settings: Settings) -> Client:
    """A client that adds no pauses, so durations compare with one-go synthesis."""
    quiet = dataclasses.replace(
        settings, assembly=dataclasses.replace(settings.assembly, sentence_gap_s=0.0, paragraph_gap_s=0.0)
    )
    return Client(service.endpoint, quiet)


def test_say_cli_embedded_writes_a_wav(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "hello.wav"
    config = cache_config(tmp_path / "config.toml", settings)
    done = swtts("say", "Hello there. How are you today?", "-o", str(out), "--workers", "1", "--config", str(config))
    assert done.returncode == 0, done.stderr
    info = soundfile.info(str(out))
    assert info.samplerate == 22050 and info.channels == 1
    assert 1.0 < info.duration < 5.0
    assert not list(tmp_path.glob(".hello.wav*")), "temporary file left behind"


def test_article_says_every_word_once_at_small_chunks(
    service: EmbeddedService, settings: Settings, reference_voice: PiperVoice
) -> None:
    with no_gap_client(service, settings) as client:
        result = client.synthesize(
            ARTICLE, SynthesisOptions(max_chunk_chars=200, use_cache=False, noise_scale=0.0, noise_w=0.0)
        )
    article = normalize(ARTICLE, "en-us").spoken  # as the pipeline reads it, chunk by chunk
    reference = [p for sentence in reference_voice.phonemize(article) for p in ["".join(sentence)]]
    spoken = phoneme_words(" ".join(chunk.phonemes for chunk in result.chunks))
    assert spoken == phoneme_words(" ".join(reference))
    assert all(len(chunk.text) <= 200 for chunk in result.chunks)
    assert [c.index for c in result.chunks] == list(range(len(result.chunks)))
    ref_samples = sum(
        chunk.audio_int16_array.size
        for chunk in reference_voice.synthesize(article, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    )
    assert abs(result.audio.size - ref_samples) / ref_samples < 0.04


def test_long_document_is_spread_over_two_workers(service: EmbeddedService) -> None:
    with service.client() as client:
        result = client.synthesize(ARTICLE, SynthesisOptions(use_cache=False))
    workers = {chunk.worker for chunk in result.chunks}
    assert len(workers) == 2, workers
    assert len(result.chunks) >= 7
    assert result.timings["first_audio_ms"] < result.timings["total_ms"]


def test_a_lone_reply_runs_solo_on_every_core_and_a_document_does_not(service: EmbeddedService) -> None:
    def solo_chunks(client: Client) -> int:
        return sum(worker.solo_chunks for worker in client.status().workers)

    with service.client() as client:
        before = solo_chunks(client)
        client.synthesize("A lone short reply.", SynthesisOptions(use_cache=False))
        after_reply = solo_chunks(client)
        client.synthesize(ARTICLE[:1500], SynthesisOptions(use_cache=False, max_chunk_chars=200))
        after_document = solo_chunks(client)
    solo_possible = (os.cpu_count() or 1) >= 2  # two workers get one core each; solo gives a worker both
    assert after_reply - before == (1 if solo_possible else 0)
    assert after_document - after_reply <= 1  # only its last chunk can find nothing waiting and no one busy


def test_loudness_is_even_across_chunks(service: EmbeddedService) -> None:
    with service.client() as client:
        result = client.synthesize(ARTICLE, SynthesisOptions(max_chunk_chars=300))
    levels = []
    for chunk in result.chunks:
        audio = chunk.audio.astype(np.float64) / 32767
        frames = audio[: audio.size - audio.size % 441].reshape(-1, 441)
        rms = np.sqrt((frames**2).mean(axis=1))
        voiced = rms[rms > rms.max() * 10 ** (-30 / 20)]
        levels.append(20 * np.log10(np.sqrt((voiced**2).mean())))
    assert max(levels) - min(levels) < 1.5, levels


@pytest.mark.parametrize("size", [20_000, 50_000])
def test_very_long_documents(service: EmbeddedService, size: int) -> None:
    text = "\n\n".join([ARTICLE] * (size // len(ARTICLE) + 1))[:size].rsplit(" ", 1)[0] + "."
    with service.client() as client:
        result = client.synthesize(
            text, SynthesisOptions(use_cache=False, length_scale=0.3, noise_scale=0.0, noise_w=0.0)
        )
    said = "".join(chunk.text for chunk in result.chunks)
    assert "".join(said.split()) == "".join(strip_markup(text).spoken.split())  # the text as sent
    assert result.duration_s > size / 60


def test_serve_and_remote_worker_processes(tmp_path: Path) -> None:
    endpoint = tcp_endpoint()
    config = write_config(tmp_path / "config.toml", cache={"dir": str(tmp_path / "cache")})
    serve = start_swtts("serve", "--bind", endpoint, "--workers", "0", "--config", str(config))
    worker = start_swtts("worker", "--connect", endpoint, "--config", str(config))
    try:
        assert swtts("ping", "--connect", endpoint, "--wait", "120").returncode == 0
        out = tmp_path / "remote.wav"
        done = swtts(
            "say",
            "--connect",
            endpoint,
            "Spoken by a worker in another process.",
            "-o",
            str(out),
            "--config",
            str(config),
        )
        assert done.returncode == 0, done.stderr
        assert soundfile.info(str(out)).duration > 1.0
    finally:
        assert [terminate(worker), terminate(serve)] == [0, 0]


def test_embedded_service_bound_to_tcp_is_joined_by_separate_workers(settings: Settings) -> None:
    """What the load test's "joined over tcp" rows run: the chunks come from the joined workers."""
    with EmbeddedService(settings, workers=0, use_cache=False, bind=tcp_endpoint()) as service:
        assert service.endpoint.startswith("tcp://127.0.0.1:")
        command = worker_command(service.config_file, service.endpoint, "WARNING", 1)
        workers = [subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=REPO) for _ in range(2)]
        try:
            service.wait_ready(2)
            result = service.client().synthesize(
                "First sentence here. Second one there. A third to share.", SynthesisOptions(use_cache=False)
            )
            assert {chunk.worker.rpartition(":")[2] for chunk in result.chunks} <= {str(w.pid) for w in workers}
            assert result.duration_s > 1.0
        finally:
            assert [terminate(worker) for worker in workers] == [0, 0]


def test_say_leaves_no_orphan_processes(tmp_path: Path, settings: Settings) -> None:
    """Its two workers (one in-process, one a child) are gone when it exits: none carries its pid as parent.

    (This once called ``pgrep -f "--config ..."``, which pgrep reads as an unknown option: it found
    nothing whatever happened. ``children_of`` reads /proc, and a test shows it finds a live child.)
    """
    config = tmp_path / "config.toml"
    config.write_text(f'[cache]\ndir = "{settings.cache.directory()}"\n')
    args = ["say", "Nothing left behind.", "-o", str(tmp_path / "x.wav"), "--workers", "2", "--embedded"]
    command = [sys.executable, "-P", "-m", "swtts", *args, "--config", str(config)]
    say = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=REPO)
    _, stderr = say.communicate(timeout=120)
    assert say.returncode == 0, stderr
    assert children_of(say.pid) == []


def test_stdin_and_flac_output(tmp_path: Path, settings: Settings) -> None:
    config = cache_config(tmp_path / "config.toml", settings)
    out = tmp_path / "stdin.flac"
    done = swtts(
        "say",
        "--file",
        "-",
        "-o",
        str(out),
        "--workers",
        "1",
        "--config",
        str(config),
        input="Read from standard input.",
    )
    assert done.returncode == 0, done.stderr
    assert soundfile.info(str(out)).format == "FLAC"


def test_unwritable_output_fails_before_synthesis(tmp_path: Path) -> None:
    done = swtts("say", "Hello.", "-o", str(tmp_path / "out.mp3"))
    assert done.returncode == 1
    assert "use one of .wav, .flac, .ogg" in done.stderr
