"""Installing and running swtts beside a user's own code: one top-level package, no shadowing,
and the parts that need no engine run without it (issue 12's "Done when")."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile

from swtts.client import Client
from swtts.config import load_settings
from tests.helpers import REPO, free_port, start_swtts, terminate, wait_for

SHADOWED = ("config", "pipeline", "broker", "workers", "protocol", "client", "service", "cli", "gateways", "swtts")
BLOCKED = ("onnxruntime", "piper", "onnx")


def _packages_that_raise(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} must not be imported here')\n")
    return folder


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is ``folder`` (children inherit it from ``say``)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == folder:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("swtts-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"swtts"}
    assert "swtts/config/default.toml" in archive.namelist()


@pytest.mark.e2e
def test_say_from_a_folder_of_shadowing_packages_works_and_leaves_nothing(tmp_path: Path) -> None:
    """The user's ``config/``, ``pipeline/``... raise on import; swtts and its children never load them."""
    here = _packages_that_raise(tmp_path / "project", SHADOWED)
    out = here / "hello.wav"
    cache = tmp_path / "cache"
    (here / "swtts.toml").write_text(f'[cache]\ndir = "{cache}"\n')
    swtts = Path(sys.executable).with_name("swtts")  # the console script a user types
    done = subprocess.run(
        [str(swtts), "say", "Hello from a crowded folder.", "-o", str(out), "--workers", "1", "--config", "swtts.toml"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert soundfile.info(str(out)).duration > 0.5
    assert wait_for(lambda: not _processes_in(here), 30, "say's children to exit") is True


@pytest.mark.e2e
def test_a_broker_and_a_client_run_where_the_engine_cannot_be_imported(tmp_path: Path) -> None:
    """``serve --workers 0`` and ``say --connect`` never import onnxruntime or piper; only the worker does."""
    blocked = _packages_that_raise(tmp_path / "blocked", BLOCKED)
    without_engine = {**os.environ, "PYTHONPATH": str(blocked)}
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(f'[cache]\ndir = "{tmp_path / "cache"}"\n')
    broker = start_swtts("serve", "--bind", endpoint, "--workers", "0", "--no-cache", env=without_engine)
    worker = None
    try:
        with Client(endpoint, load_settings()) as client:
            assert wait_for(lambda: client.ping(timeout_s=1.0), 60, "the engine-less broker").workers == 0
            worker = start_swtts("worker", "--connect", endpoint, "--config", str(config))
            wait_for(lambda: client.ping(timeout_s=1.0).ready >= 1, 120, "a worker beside it")
        out = tmp_path / "remote.wav"
        said = subprocess.run(
            [sys.executable, "-P", "-m", "swtts", "say", "--connect", endpoint, "Spoken far away.", "-o", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env=without_engine,
        )
        assert said.returncode == 0, said.stderr
        assert soundfile.info(str(out)).duration > 0.5
        assert broker.poll() is None, "the broker died"
    finally:
        if worker is not None:
            terminate(worker)
        assert terminate(broker) == 0
