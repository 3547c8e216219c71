"""Local worker processes: started, restarted when they die, stopped; no broker imported here.

:class:`WorkerPool` is what ``swtts serve`` and the embedded service share. It is light to
import (no zmq, numpy or broker), so ``swtts say`` starts its workers before it pays for its
own heavy imports: each worker's interpreter and voice load then overlap the rest of the
start-up. A worker that could not load its voice (:data:`VOICE_LOAD_EXIT_CODE`) is never
restarted: a retry would fail the same way; once no worker is left the pool reports the
first such worker's one line as its :attr:`~WorkerPool.failure`.

A service's private folder (:class:`PrivateFolder`: settings, error files, an embedded
service's socket) is locked by its owner while it lives, so a folder left by a process that
was killed outright (SIGKILL, a crash in native code) is removed by the next one made.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from swtts.config import Settings, dump_settings
from swtts.workers.voice_files import VOICE_LOAD_EXIT_CODE

LOGGER = logging.getLogger(__name__)

_RESTART_WINDOW_S = 60.0
_MAX_RESTARTS_PER_WINDOW = 10
# A sibling alive this many times as long as a failed worker took to fail (and at least this
# long) has loaded the voice that one could not: only then is that one's failure logged.
_LOADED_AFTER_FACTOR = 3.0
_LOADED_AFTER_MIN_S = 10.0
_FOLDER = re.compile(r"swtts-(?:serve|embedded)-\w+")
_LOCK_NAME = "owner.lock"

CPU_WORKER_MEMORY_MB = 600
"""Resident memory of one CPU worker, rounded: the soak run in docs/benchmarks.md measured
585 MiB median and 667 MiB peak per worker (the voice's sessions plus onnxruntime's arena)."""


def warn_if_oversubscribed(workers: int, device: str) -> None:
    """More CPU workers than cores add memory, not speed: say so, with the memory they will take."""
    cores = os.cpu_count() or 1
    if device == "cpu" and workers > cores:
        LOGGER.warning(
            "%d local workers on %d CPU cores will take about %.1f GB of memory (about %d MB per CPU worker); "
            "workers beyond the cores add memory, not speed",
            workers,
            cores,
            workers * CPU_WORKER_MEMORY_MB / 1000,
            CPU_WORKER_MEMORY_MB,
        )


def threads_per_worker(settings: Settings, workers: int) -> int:
    """``voice.threads``, or the host's cores shared evenly among its ``workers``."""
    return settings.voice.threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def worker_command(
    config_file: Path, endpoint: str, log_level: str, threads: int, error_file: Path | None = None
) -> list[str]:
    """``swtts worker`` for a local worker; with ``error_file`` it writes a fatal error there, not to stderr."""
    return [
        sys.executable,
        "-P",
        "-m",
        "swtts",
        "--log-level",
        log_level,
        "worker",
        "--config",
        str(config_file),
        "--connect",
        endpoint,
        "--threads",
        str(threads),
        "--parent-pid",
        str(os.getpid()),
        *(["--error-file", str(error_file)] if error_file else []),
    ]


class PrivateFolder:
    """A new 0700 folder for one service of this process, locked for as long as it lives.

    The lock (``flock`` on a file inside) goes with the process however it ends, SIGKILL
    included, so each new folder first removes the folders whose owners are gone.
    """

    def __init__(self, kind: str) -> None:
        _remove_abandoned()
        self.path = Path(tempfile.mkdtemp(prefix=f"swtts-{kind}-"))
        self._lock = open(self.path / _LOCK_NAME, "w")  # noqa: SIM115 - held until remove()
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()


def _remove_abandoned() -> None:
    for folder in Path(tempfile.gettempdir()).glob("swtts-*"):
        if not _FOLDER.fullmatch(folder.name):
            continue
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            with open(folder / _LOCK_NAME) as lock:  # none yet: its owner is still creating it
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use, or not ours to judge
        shutil.rmtree(folder, ignore_errors=True)
        LOGGER.debug("removed %s, left by a process that is gone", folder)


@dataclass
class _VoiceError:
    """A worker slot whose process could not load the voice (never restarted)."""

    line: str
    lived_s: float
    logged: bool = False


class WorkerPool:
    """``count`` local ``swtts worker`` processes on ``endpoint``, with their private folder.

    The broker need not be bound yet when they start: a worker's socket connects once it is.
    """

    def __init__(
        self, settings: Settings, endpoint: str, count: int, log_level: str, folder: Path, threads: int | None = None
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.count = count
        self.log_level = log_level
        self.folder = folder
        self.threads = threads or threads_per_worker(settings, count)
        self.config_file = folder / "config.toml"
        self.config_file.write_text(dump_settings(settings))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.failure = ""
        self._restarts: list[float] = []
        self._spawned: dict[int, float] = {}  # worker slot -> when its process started
        self._voice_errors: dict[int, _VoiceError] = {}

    def start(self) -> None:
        self.processes = [self._spawn(position) for position in range(self.count)]

    def _spawn(self, position: int) -> subprocess.Popen[bytes]:
        error_file = self._error_file(position)
        error_file.unlink(missing_ok=True)
        command = worker_command(self.config_file, self.endpoint, self.log_level, self.threads, error_file)
        self._spawned[position] = time.monotonic()
        return subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def _error_file(self, position: int) -> Path:
        return self.folder / f"worker-{position}.error"

    def watch(self) -> bool:
        """Restart dead workers; False once none is left because none could load the voice (see :attr:`failure`)."""
        for position, process in enumerate(self.processes):
            code = process.poll()
            if code is None or position in self._voice_errors:
                continue
            if code == VOICE_LOAD_EXIT_CODE:
                lived = time.monotonic() - self._spawned.get(position, time.monotonic())
                self._voice_errors[position] = _VoiceError(self._error_line(position, process), lived)
                continue
            if not self.settings.service.restart_workers:
                continue
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < _RESTART_WINDOW_S]
            if len(self._restarts) >= _MAX_RESTARTS_PER_WINDOW:
                continue
            LOGGER.warning("worker pid %d exited with %s; restarting it", process.pid, code)
            self._restarts.append(now)
            self.processes[position] = self._spawn(position)
        return not self._voice_errors or self._settle_voice_errors()

    def _error_line(self, position: int, process: subprocess.Popen[bytes]) -> str:
        try:
            line = self._error_file(position).read_text(encoding="utf-8").strip()
        except OSError:
            line = ""
        return line or f"worker pid {process.pid} could not load its voice"

    def _settle_voice_errors(self) -> bool:
        """The first voice error once no worker is left (False); log one that others outlived.

        Siblings load the same voice the same way and usually fail together: then the line is
        told once, by the pool's owner on its way out, not once per worker on the way.
        """
        now = time.monotonic()
        alive = [slot for slot, process in enumerate(self.processes) if process.poll() is None]
        if not alive:
            self.failure = next(iter(self._voice_errors.values())).line
            return False
        for error in self._voice_errors.values():
            loaded_after = max(_LOADED_AFTER_MIN_S, _LOADED_AFTER_FACTOR * error.lived_s)
            if not error.logged and all(now - self._spawned[slot] > loaded_after for slot in alive):
                error.logged = True
                LOGGER.error("a local worker could not load its voice and is not restarted: %s", error.line)
        return True

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (a worker finishes the chunk in hand and says goodbye), SIGKILL after ``grace_s``.

        ``grace_s=0`` kills at once: a one-shot command whose output is written loses nothing.
        """
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
