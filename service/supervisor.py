"""``swtts serve``: the broker in this process and supervised local worker processes.

:class:`Supervisor` is ``swtts serve``: the broker runs on a thread of this process and N
worker processes are started beside it and restarted if they die, unless they could not load
their voice (:data:`VOICE_LOAD_EXIT_CODE`): a retry would fail the same way, so once no local
worker is left ``serve`` stops with the worker's one line. :class:`EmbeddedService`
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swtts.broker.broker import Broker
from swtts.broker.security import check_local_worker_key
from swtts.config import Settings, dump_settings
from swtts.workers.parent import parent_alive
from swtts.workers.voice_files import VOICE_LOAD_EXIT_CODE, VoiceLoadError, check_voice

if TYPE_CHECKING:
    from swtts.gateways.wyoming import GatewayThread

LOGGER = logging.getLogger(__name__)

_RESTART_WINDOW_S = 60.0
_MAX_RESTARTS_PER_WINDOW = 10
# A sibling alive this many times as long as a failed worker took to fail (and at least this
# long) has loaded the voice that one could not: only then is that one's failure logged.
_LOADED_AFTER_FACTOR = 3.0
_LOADED_AFTER_MIN_S = 10.0


@dataclass
class _VoiceError:
    """A worker slot whose process could not load the voice (never restarted)."""

    line: str
    lived_s: float
    logged: bool = False


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


def _wyoming_thread(settings: Settings, endpoint: str, uri: str) -> GatewayThread:
    """The Wyoming server of ``serve --wyoming [URI]`` (``[wyoming] uri`` when ``uri`` is empty)."""
    from swtts.gateways.wyoming import GatewayThread, WyomingGateway

    return GatewayThread(WyomingGateway(settings.override(wyoming__uri=uri or None), endpoint))


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
        wyoming_uri: str | None = None,
    ) -> None:
        self.settings = settings
        self.count = settings.service.local_workers() if workers is None else workers
        if self.count:
            check_voice(settings.voice.model or None)  # a voice that cannot load refuses to serve before binding
            check_local_worker_key(settings.security)
        self.broker = Broker(settings, endpoint, use_cache)
        self.endpoint = self.broker.bound
        self.gateway = self._http_gateway()
        warn_if_oversubscribed(self.count, settings.voice.device)
        self.wyoming = _wyoming_thread(settings, self.endpoint, wyoming_uri) if wyoming_uri is not None else None
        self.threads = threads_per_worker(settings, self.count)
        self.log_level = log_level
        self.parent_pid = parent_pid
        self.stop_event = threading.Event()
        self._dir = Path(tempfile.mkdtemp(prefix="swtts-serve-"))
        self._config_file = self._dir / "config.toml"
        self._config_file.write_text(dump_settings(settings))
        self.processes: list[subprocess.Popen[bytes]] = []
        self._restarts: list[float] = []
        self._spawned: dict[int, float] = {}  # worker slot -> when its process started
        self._voice_errors: dict[int, _VoiceError] = {}
        self.failure = ""

    def _http_gateway(self) -> Any:
        """The HTTP speech API (``serve --http``, ``[http] enabled``): a thread of this process, a client of this broker."""
        if not self.settings.http.enabled:
            return None
        from swtts.gateways.http import HttpThread

        return HttpThread(self.settings, self.endpoint, [self.broker.metrics.registry])

    def run(self) -> None:
        """Serve until stopped (signal, parent gone); then drain and stop the workers.

        The broker runs on this (the calling) thread, which owns its socket and cache; a
        watcher thread starts and restarts the worker processes; the HTTP gateway (``[http]
        enabled``) and, with ``wyoming_uri``, a Wyoming server each run on a thread of their
        own, reaching the broker through their own client.
        """
        watcher = threading.Thread(target=self._watch, name="worker-watcher", daemon=True)
        try:
            if self.gateway is not None:
                self.gateway.start()
            if self.wyoming is not None:
                self.wyoming.start()
            self.processes = [self._spawn(position) for position in range(self.count)]
            LOGGER.info("serving on %s with %d local worker(s)", self.endpoint, self.count)
            watcher.start()
            self.broker.run()
        finally:
            if self.wyoming is not None:
                self.wyoming.stop()
            if self.gateway is not None:
                self.gateway.stop()
            self.stop_event.set()
            if watcher.ident is not None:
                watcher.join(timeout=5)
            self._stop_workers()
            shutil.rmtree(self._dir, ignore_errors=True)
        if self.failure:
            raise VoiceLoadError(self.failure)

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

    def _spawn(self, position: int) -> subprocess.Popen[bytes]:
        error_file = self._error_file(position)
        error_file.unlink(missing_ok=True)
        command = worker_command(self._config_file, self.endpoint, self.log_level, self.threads, error_file)
        self._spawned[position] = time.monotonic()
        return subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def _error_file(self, position: int) -> Path:
        return self._dir / f"worker-{position}.error"

    def _restart_dead(self) -> None:
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
        if self._voice_errors:
            self._settle_voice_errors()

    def _error_line(self, position: int, process: subprocess.Popen[bytes]) -> str:
        try:
            line = self._error_file(position).read_text(encoding="utf-8").strip()
        except OSError:
            line = ""
        return line or f"worker pid {process.pid} could not load its voice"

    def _settle_voice_errors(self) -> None:
        """Stop with the first voice error once no local worker is left; log one that others outlived.

        Siblings load the same voice the same way and usually fail together: then the line is
        told once, by ``serve`` on its way out, not once per worker on the way.
        """
        now = time.monotonic()
        alive = [slot for slot, process in enumerate(self.processes) if process.poll() is None]
        if not alive:
            self.failure = next(iter(self._voice_errors.values())).line
            self.stop()
            return
        for error in self._voice_errors.values():
            loaded_after = max(_LOADED_AFTER_MIN_S, _LOADED_AFTER_FACTOR * error.lived_s)
            if not error.logged and all(now - self._spawned[slot] > loaded_after for slot in alive):
                error.logged = True
                LOGGER.error("a local worker could not load its voice and is not restarted: %s", error.line)

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
