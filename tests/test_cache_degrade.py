"""Degrade, don't die: a cache that cannot be used costs one warning, never synthesis.

Unit tests of the store's rules, then ``serve`` and ``say`` as real processes with a read-only
cache folder (a chmod for a normal user; for root, whom file modes do not stop, a read-only
bind mount in a private mount namespace).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swtts.broker.cache import AudioCache, CachedAudio, CacheUnusableError, open_cache
from swtts.broker.cache.recovery import KEEP_CORRUPT
from swtts.config import load_settings
from swtts.protocol import Audio, Done
from tests.conftest import REPO, free_port
from tests.test_scheduler import CLIENT, Harness, ready, submit

AUDIO = CachedAudio(b"\x01\x00" * 500, 22050, {"phonemes": "p"})


class FullDisk:
    """A connection whose every statement fails as SQLite does on a full disk."""

    in_transaction = False

    def execute(self, *args: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        pass


def test_moved_aside_files_are_bounded_to_the_newest_few(tmp_path: Path) -> None:
    database = tmp_path / "audio-cache.sqlite3"
    for round_ in range(KEEP_CORRUPT + 3):
        database.write_bytes(f"wreck {round_} is not a database\n".encode() * 100)
        with AudioCache(tmp_path) as cache:
            cache.put("k", AUDIO)
    wrecks = sorted(tmp_path.glob("audio-cache.sqlite3.corrupt-*"), key=lambda p: int(p.name.rpartition("-")[2]))
    assert len(wrecks) == KEEP_CORRUPT
    assert [w.read_bytes().split(b"\n")[0] for w in wrecks] == [
        f"wreck {n} is not a database".encode() for n in range(3, KEEP_CORRUPT + 3)
    ], "the newest are kept"


def test_a_storage_failure_is_one_warning_then_the_cache_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with AudioCache(tmp_path) as cache:
        cache.put("k", AUDIO)
        cache._conn = FullDisk()  # type: ignore[assignment]
        with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"):
            for _ in range(5):
                cache.put("other", AUDIO)
                assert cache.get("k") is None
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "database or disk is full" in warnings[0].getMessage() and str(tmp_path) in warnings[0].getMessage()
        assert "database or disk is full" in cache.broken
        with pytest.raises(CacheUnusableError, match="unusable"):
            cache.stats()


def test_a_cache_that_cannot_be_opened_is_no_cache_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    settings = load_settings().override(cache__dir=str(occupied / "cache"))
    with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"):
        assert open_cache(settings.cache) is None
    assert len(caplog.records) == 1 and "going on without a cache" in caplog.records[0].getMessage()
    with pytest.raises(CacheUnusableError, match=str(occupied)):
        AudioCache(occupied / "cache")


def test_the_scheduler_stops_asking_a_broken_cache(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    h = Harness(cache=cache)
    h.handle(b"w1", ready())
    cache._conn = FullDisk()  # type: ignore[assignment]
    h.handle(CLIENT, submit("r", "Spoken without a cache."))
    h.finish(b"w1", h.tasks(b"w1")[0])
    assert len(h.to(CLIENT, Audio)) == 1 and len(h.to(CLIENT, Done)) == 1
    assert h.scheduler.state.cache is None and h.scheduler.status().cache is None


# ----- through real processes -----------------------------------------------------------------


def read_only(folder: Path, command: list[str]) -> list[str]:
    """``command`` run where ``folder`` cannot be written."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return command
    if shutil.which("unshare") is None:
        pytest.skip("root ignores file modes, and unshare (for a read-only mount) is missing")
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), "true"]
    )
    if probe.returncode != 0:
        pytest.skip("root ignores file modes, and a read-only bind mount is not allowed here")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), *command]


@pytest.fixture
def read_only_cache(tmp_path: Path) -> Iterator[Path]:
    """A cache folder with a cache in it from an earlier run, and a config using it."""
    folder = tmp_path / "cache"
    with AudioCache(folder) as cache:
        cache.put("earlier", AUDIO)
    config = tmp_path / "config.toml"
    config.write_text(f'[cache]\ndir = "{folder}"\n[voice]\nthreads = 1\n')
    yield config
    folder.chmod(0o755)


def cache_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "cache" in line and "WARNING" in line]


@pytest.mark.e2e
def test_say_with_a_read_only_cache_speaks_and_warns_once(tmp_path: Path, read_only_cache: Path) -> None:
    out = tmp_path / "out" / "hello.wav"
    out.parent.mkdir()
    swtts = [sys.executable, "-P", "-m", "swtts"]
    command = read_only(tmp_path / "cache", [*swtts, "say", "Hello there.", "-o", str(out), "--workers", "1"])
    done = subprocess.run(
        [*command, "--config", str(read_only_cache)], capture_output=True, text=True, timeout=180, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 1000
    warnings = cache_warnings(done.stderr)
    assert len(warnings) == 1, done.stderr
    assert "going on without a cache" in warnings[0] and "Traceback" not in done.stderr


@pytest.mark.e2e
def test_serve_with_a_read_only_cache_serves_and_warns_once(tmp_path: Path, read_only_cache: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    swtts = [sys.executable, "-P", "-m", "swtts"]
    command = read_only(tmp_path / "cache", [*swtts, "serve", "--bind", endpoint, "--workers", "1"])
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        serve = subprocess.Popen(
            [*command, "--config", str(read_only_cache)], stdout=sink, stderr=subprocess.STDOUT, cwd=REPO
        )
    try:
        ping = subprocess.run([*swtts, "ping", "--connect", endpoint, "--wait", "120"], capture_output=True, text=True)
        assert ping.returncode == 0, log.read_text()
        for attempt in range(2):  # the second time it would be a cache hit
            out = tmp_path / f"again-{attempt}.wav"
            said = subprocess.run(
                [*swtts, "say", "--connect", endpoint, "Twice the same.", "-o", str(out)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert said.returncode == 0, said.stderr
        assert serve.poll() is None
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    warnings = cache_warnings(log.read_text())
    assert len(warnings) == 1, log.read_text()
    assert "going on without a cache" in warnings[0]
