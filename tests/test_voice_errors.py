"""A broken voice through real processes: one line naming the file and the problem, a distinct
exit status, and no worker restarted in a loop (``say``, ``serve``, ``worker``, EmbeddedService)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from swtts.client import TTSError
from swtts.config import Settings
from swtts.service import EmbeddedService
from swtts.service.pool import WorkerPool
from swtts.workers.voice_files import VOICE_LOAD_EXIT_CODE
from tests.broken_voices import BROKEN_VOICES, REJECTED_BY_ONNXRUNTIME, write_rejected_voice
from tests.helpers import cache_config, run_swtts, tcp_endpoint

TIMEOUT_S = 120  # a generous bound for a loaded machine; a restart loop never ends within it


def swtts(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return run_swtts(*args, "--config", str(config), timeout=TIMEOUT_S)


@pytest.fixture
def config(tmp_path: Path, settings: Settings) -> Path:
    return cache_config(tmp_path / "config.toml", settings)


def assert_one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The process failed with the voice exit status and said why in one line (no traceback).

    ``serve``'s banner (its endpoint) may come first: it is printed as it starts.
    """
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("swtts: serving on ")]
    assert done.returncode == VOICE_LOAD_EXIT_CODE, done.stderr
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.e2e
@pytest.mark.parametrize("kind", sorted(BROKEN_VOICES))
def test_say_with_a_broken_voice_fails_in_one_line(kind: str, tmp_path: Path, config: Path) -> None:
    write, named, words = BROKEN_VOICES[kind]
    model = write(tmp_path / "voice")
    out = tmp_path / "out.wav"
    done = swtts("say", "--voice", str(model), "Hello.", "-o", str(out), config=config)
    line = assert_one_line(done, str(tmp_path / "voice" / named), words)
    assert line.startswith("swtts: error: voice ")
    assert not out.exists()


@pytest.mark.e2e
def test_say_with_a_voice_onnxruntime_rejects_reports_the_workers_line(tmp_path: Path, config: Path) -> None:
    """Past the cheap check: the worker fails, is not restarted, and its line reaches ``say``."""
    model = write_rejected_voice(tmp_path / "voice")
    done = swtts(
        "say", "--voice", str(model), "Hello.", "-o", str(tmp_path / "out.wav"), "--workers", "1", config=config
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0
    assert len(lines) == 1, done.stderr
    assert f"voice model {model}: {REJECTED_BY_ONNXRUNTIME}" in lines[0]


@pytest.mark.e2e
@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_a_voice_onnxruntime_rejects_exits_instead_of_restarting(
    workers: str, tmp_path: Path, config: Path
) -> None:
    model = write_rejected_voice(tmp_path / "voice")
    bind = tcp_endpoint()
    done = swtts("serve", "--voice", str(model), "--workers", workers, "--bind", bind, config=config)
    assert_one_line(done, f"voice model {model}: {REJECTED_BY_ONNXRUNTIME}")


@pytest.mark.e2e
def test_serve_refuses_a_broken_voice_before_starting_workers(tmp_path: Path, config: Path) -> None:
    write, _, words = BROKEN_VOICES["text file"]
    model = write(tmp_path / "voice")
    bind = tcp_endpoint()
    done = swtts("serve", "--voice", str(model), "--workers", "1", "--bind", bind, config=config)
    assert_one_line(done, str(model), words)


@pytest.mark.e2e
def test_worker_with_a_bad_voice_exits_with_the_voice_status(tmp_path: Path, config: Path) -> None:
    model = write_rejected_voice(tmp_path / "voice")
    done = swtts("worker", "--voice", str(model), "--connect", tcp_endpoint(), config=config)
    assert_one_line(done, "swtts: error: ", f"voice model {model}: {REJECTED_BY_ONNXRUNTIME}")


@pytest.mark.e2e
def test_embedded_service_raises_the_workers_line(tmp_path: Path, settings: Settings) -> None:
    model = write_rejected_voice(tmp_path / "voice")
    service = EmbeddedService(settings.override(voice__model=str(model)), workers=1, start_timeout_s=TIMEOUT_S)
    with pytest.raises(TTSError) as error:
        service.start()
    assert error.value.message.startswith(f"voice model {model}: {REJECTED_BY_ONNXRUNTIME}: ")
    assert [process.returncode for process in service.processes] == [VOICE_LOAD_EXIT_CODE]
    assert service._folder is None  # its folder is gone with it


class ExitedWorker:
    """Stands in for a worker process in the supervisor's slots."""

    def __init__(self, pid: int, code: int | None) -> None:
        self.pid = pid
        self.code = code

    def poll(self) -> int | None:
        return self.code


def test_supervisor_keeps_serving_while_other_workers_run(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that cannot load its voice is never restarted; its line is logged once a sibling
    has clearly outlived it (loaded the voice), and the pool gives up once no worker is left."""
    pool = WorkerPool(settings, f"ipc://{tmp_path}/broker.sock", 0, "WARNING", tmp_path)
    failed, running = ExitedWorker(101, VOICE_LOAD_EXIT_CODE), ExitedWorker(102, None)
    fakes: list[Any] = [failed, running]
    pool.processes = fakes
    pool._error_file(0).write_text("voice model /x.onnx: broken\n")
    now = time.monotonic()
    pool._spawned = {0: now - 1.0, 1: now - 2.0}  # failed after 1 s; the sibling is still loading
    with caplog.at_level("ERROR"):
        assert pool.watch()
        assert pool.processes == fakes, "nothing restarted"
        assert not caplog.text, "the sibling may yet fail the same way: nothing said yet"
        pool._spawned[1] = now - 60.0  # the sibling has long outlived it: it loaded the voice
        assert pool.watch()
        assert pool.watch()
    assert caplog.text.count("could not load its voice and is not restarted: voice model /x.onnx: broken") == 1
    assert (pool.failure,) == ("",)
    running.code = VOICE_LOAD_EXIT_CODE
    assert not pool.watch()
    assert pool.failure == "voice model /x.onnx: broken"  # the first line; the second worker left none
