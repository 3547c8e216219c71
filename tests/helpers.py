"""What the tests share: the repository and its sample text, free ports, waiting on a condition,
config files, and ``swtts`` run in processes of its own (started from the repository, logged,
and always stopped).

Children start with ``python -P -m swtts`` as users run it, so the working tree is never on
their path by accident. Waits are bounded polls for a state: a bug fails with what was awaited,
never hangs, and no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from swtts.client import Client, TTSError
from swtts.config import Settings, load_settings
from swtts.protocol import QueueStatus, StatusReply, WorkerState

REPO = Path(__file__).resolve().parent.parent
ARTICLE = (REPO / "samples" / "article.txt").read_text(encoding="utf-8")
START_TIMEOUT_S = 120.0  # a service with its voice loaded on a busy machine; only a guard against hanging
STOP_TIMEOUT_S = 30.0

T = TypeVar("T")
_STRIP_PHONEMES = re.compile(r"[ˈˌː.,;:!?¡¿—–\-…\"'«»()\[\]{}\s]")


def phoneme_words(phonemes: str) -> str:
    """Phonemes without stress, length, punctuation or spacing: what was said, not how."""
    return _STRIP_PHONEMES.sub("", phonemes)


# ----- ports, waiting, config files ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_endpoint() -> str:
    """A loopback endpoint nobody listens on (yet)."""
    return f"tcp://127.0.0.1:{free_port()}"


def wait_for(predicate: Callable[[], T | None], timeout: float = 60.0, what: str = "a condition") -> T:
    """Poll until ``predicate`` returns something truthy, and return it; fail naming ``what`` if it never does.

    ``timeout`` only guards against hanging. An exception from ``predicate`` (an assertion that
    a process is still alive, say) ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last seen: {value!r})")
        time.sleep(0.05)


def write_config(
    path: Path, defaults: Mapping[str, Mapping[str, Any]] | None = None, **sections: Mapping[str, Any]
) -> Path:
    """A TOML config file: ``defaults`` with ``sections`` (``cache={"dir": ...}``) merged over them."""
    merged: dict[str, dict[str, Any]] = {name: dict(values) for name, values in (defaults or {}).items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def children_of(pid: int) -> list[int]:
    """Processes started by ``pid``'s services, alive or not yet reaped: every local worker is given
    ``--parent-pid PID`` (read from /proc: no pattern a tool could misread as its own option)."""
    found = []
    marker = f"\0--parent-pid\0{pid}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline + b"\0":
                found.append(int(entry.name))
    return found


def cache_config(path: Path, settings: Settings) -> Path:
    """A config file whose only setting is the test session's private cache folder."""
    return write_config(path, cache={"dir": str(settings.cache.directory())})


# ----- swtts in processes of its own -------------------------------------------------------------


def swtts_command(*args: str) -> list[str]:
    """``swtts ARGS`` as a user runs it, without the working tree on the path."""
    return [sys.executable, "-P", "-m", "swtts", *args]


def run_swtts(
    *args: str, timeout: float = 300, input: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``swtts ARGS`` to its end from the repository; output captured as text."""
    return subprocess.run(
        swtts_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )


def start_swtts(*args: str, **popen: Any) -> subprocess.Popen[Any]:
    """Start ``swtts ARGS`` from the repository; ``popen`` is passed on (``stderr=subprocess.PIPE``...)."""
    return subprocess.Popen(swtts_command(*args), cwd=REPO, **{"stdin": subprocess.DEVNULL, **popen})


def terminate(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM ``process`` and return its exit status; one still running after ``timeout`` is killed (-9)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) swtts process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and b"-m\x00swtts" in cmdline


class Processes:
    """Every process a test starts, each logging to its own file; whatever still runs at the end is stopped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``python ARGS`` from the repository, stdout and stderr to ``log_name`` in the directory."""
        with open(self.directory / log_name, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_worker(
    processes: Processes, endpoint: str, config: Path, module: str = "swtts", env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``swtts worker`` (or a test worker module such as ``tests.crash_worker``) joining ``endpoint``."""
    args = ["-m", module] + (["worker"] if module == "swtts" else [])
    return processes.start(
        [*args, "--connect", endpoint, "--config", str(config)], f"worker-{uuid.uuid4().hex[:6]}.log", env
    )


class Service:
    """``swtts serve`` on a loopback TCP port, with its own config and log file."""

    def __init__(
        self, processes: Processes, config: Path, workers: int, endpoint: str | None = None, log_level: str = "INFO"
    ) -> None:
        self.processes = processes
        self.config = config
        self.workers = workers
        self.endpoint = endpoint or tcp_endpoint()
        self.settings: Settings = load_settings(config)
        self.log = processes.directory / f"serve-{uuid.uuid4().hex[:6]}.log"
        self.process = processes.start(
            [
                "-P",
                "-m",
                "swtts",
                "--log-level",
                log_level,
                "serve",
                "--bind",
                self.endpoint,
                "--workers",
                str(workers),
                "--config",
                str(config),
            ],
            self.log.name,
        )

    def client(self, **service: Any) -> Client:
        """A client of this service; ``service`` overrides ``[service]`` settings (timeouts)."""
        overrides = {f"service__{key}": value for key, value in service.items()}
        return Client(self.endpoint, self.settings.override(**overrides))

    def wait_ready(self, workers: int) -> None:
        with self.client() as client:

            def ready() -> bool:
                assert self.process.poll() is None, f"serve exited early:\n{self.log_text()}"
                try:
                    return client.ping(timeout_s=1.0).ready >= workers
                except TTSError:
                    return False

            wait_for(ready, START_TIMEOUT_S, f"{workers} ready worker(s)")

    def status(self) -> StatusReply:
        with self.client() as client:
            return client.status(timeout_s=10.0)

    def worker_pids(self, state: WorkerState | None = None) -> set[int]:
        return {int(w.worker.rsplit(":", 1)[1]) for w in self.status().workers if state in (None, w.state)}

    def wait_idle(self) -> StatusReply:
        """Wait for an empty queue; returns the status that showed it."""

        def idle() -> StatusReply | None:
            status = self.status()
            return status if status.queue == QueueStatus(0, 0, 0) else None

        return wait_for(idle, 60.0, "the broker's queue to drain")

    def log_text(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]
