"""``swtts serve``: the broker in this process and supervised local worker processes.

:class:`Supervisor` is ``swtts serve``: the broker runs on a thread of this process and N
worker processes are started beside it and restarted if they die. :class:`EmbeddedService`
starts such a supervisor as a child process on a private ipc:// endpoint for ``swtts say``,
scripts and tests, and tears it all down on exit, leaving no orphan processes (children also
exit on their own if their parent disappears).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from swtts.broker.broker import Broker
from swtts.config import Settings, dump_settings
from swtts.workers.worker import parent_alive

LOGGER = logging.getLogger(__name__)

_RESTART_WINDOW_S = 60.0
_MAX_RESTARTS_PER_WINDOW = 10


def threads_per_worker(settings: Settings, workers: int) -> int:
    """``voice.threads``, or the host's cores shared evenly among its ``workers``."""
    return settings.voice.threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def worker_command(config_file: Path, endpoint: str, log_level: str, threads: int) -> list[str]:
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
    ]


class Supervisor:
    """Broker in-process plus supervised local worker processes, until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        endpoint: str | None = None,
        workers: int | None = None,
        use_cache: bool | None = None,
        log_level: str = "WARNING",
        parent_pid: int | None = None,
        http_bind: str | None = None,
    ) -> None:
        self.settings = settings
        self.http_bind = http_bind or (settings.http.bind if settings.http.enabled else None)
        self.broker = Broker(settings, endpoint, use_cache)
        self.endpoint = self.broker.bound
        self.gateway = self._http_gateway()
        self.count = settings.service.local_workers() if workers is None else workers
        self.threads = threads_per_worker(settings, self.count)
        self.log_level = log_level
        self.parent_pid = parent_pid
        self.stop_event = threading.Event()
        self._dir = Path(tempfile.mkdtemp(prefix="swtts-serve-"))
        self._config_file = self._dir / "config.toml"
        self._config_file.write_text(dump_settings(settings))
        self.processes: list[subprocess.Popen[bytes]] = []
        self._restarts: list[float] = []

    def _http_gateway(self) -> Any:
        """The HTTP speech API for ``--http``: a thread of this process, a client of this broker."""
        if self.http_bind is None:
            return None
        from swtts.gateways.http import HttpThread

        return HttpThread(self.settings, self.endpoint, self.http_bind, [self.broker.metrics.registry])

    def run(self) -> None:
        """Serve until stopped (signal, parent gone); then drain and stop the workers.

        The broker runs on this (the calling) thread, which owns its socket and cache; a
        watcher thread starts and restarts the worker processes.
        """
        watcher = threading.Thread(target=self._watch, name="worker-watcher", daemon=True)
        if self.gateway is not None:
            try:
                self.gateway.start()
            except BaseException:
                shutil.rmtree(self._dir, ignore_errors=True)
                raise
        self.processes = [self._spawn() for _ in range(self.count)]
        LOGGER.info("serving on %s with %d local worker(s)", self.endpoint, self.count)
        watcher.start()
        try:
            self.broker.run()
        finally:
            if self.gateway is not None:
                self.gateway.stop()
            self.stop_event.set()
            watcher.join(timeout=5)
            self._stop_workers()
            shutil.rmtree(self._dir, ignore_errors=True)

    def stop(self) -> None:
        self.stop_event.set()
        self.broker.stop_event.set()

    def _watch(self) -> None:
        while not self.stop_event.wait(0.2):
            if not parent_alive(self.parent_pid):
                LOGGER.warning("parent process is gone; shutting down")
                self.stop()
                return
            self._restart_dead()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            worker_command(self._config_file, self.endpoint, self.log_level, self.threads), stdin=subprocess.DEVNULL
        )

    def _restart_dead(self) -> None:
        for position, process in enumerate(self.processes):
            code = process.poll()
            if code is None or not self.settings.service.restart_workers:
                continue
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < _RESTART_WINDOW_S]
            if len(self._restarts) >= _MAX_RESTARTS_PER_WINDOW:
                continue
            LOGGER.warning("worker pid %d exited with %s; restarting it", process.pid, code)
            self._restarts.append(now)
            self.processes[position] = self._spawn()

    def _stop_workers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
