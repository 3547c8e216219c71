"""An embedded, disposable service: a supervisor in a child process on a private endpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from swtts.client import Client, TTSError, UnavailableError
from swtts.config import Settings, dump_settings
from swtts.workers.voice_files import check_voice


class EmbeddedService:
    """A private broker and worker pool in child processes, for one program's lifetime.

    >>> with EmbeddedService(load_settings(), workers=2) as service:
    ...     result = service.client().synthesize("Hello there.")

    ``bind`` replaces the private ipc:// endpoint (e.g. ``tcp://127.0.0.1:PORT``), so workers
    started elsewhere with :attr:`config_file` can join it as they would a ``swtts serve``.
    """

    def __init__(
        self,
        settings: Settings,
        workers: int | None = None,
        use_cache: bool | None = None,
        log_level: str = "WARNING",
        start_timeout_s: float = 180.0,
        bind: str | None = None,
    ) -> None:
        self.settings = settings
        self.bind = bind
        self.workers = settings.service.local_workers() if workers is None else workers
        self.use_cache = use_cache
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self._dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self._clients: list[Client] = []

    def __enter__(self) -> EmbeddedService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the service and wait for its workers; a voice that cannot load fails before anything starts."""
        if self.workers:
            check_voice(self.settings.voice.model or None)
        self._dir = Path(tempfile.mkdtemp(prefix="swtts-embedded-"))
        self.endpoint = self.bind or f"ipc://{self._dir}/broker.sock"
        # its own gateways stay off: a user config that serves HTTP must not make every `say` serve it too
        self.config_file.write_text(dump_settings(self.settings.override(http__enabled=False)))
        command = [
            sys.executable,
            "-P",
            "-m",
            "swtts",
            "--log-level",
            self.log_level,
            "serve",
            "--config",
            str(self.config_file),
            "--bind",
            self.endpoint,
            "--workers",
            str(self.workers),
            "--parent-pid",
            str(os.getpid()),
            "--error-file",
            str(self._dir / "serve.error"),
        ]
        if self.use_cache is False:
            command.append("--no-cache")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        try:
            self.wait_ready(self.workers)
        except BaseException:
            self.stop()  # a service that failed to start leaves no process and no folder behind
            raise

    @property
    def config_file(self) -> Path:
        """The service's settings as a TOML file (what its own workers are started with)."""
        if self._dir is None:
            raise RuntimeError("the embedded service is not running")
        return self._dir / "config.toml"

    def wait_ready(self, workers: int) -> None:
        """Block until ``workers`` workers are connected and ready (or fail clearly)."""
        deadline = time.monotonic() + self.start_timeout_s
        with Client(self.endpoint, self.settings) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise UnavailableError(self._exit_reason(self.process.returncode))
                try:
                    if client.ping(timeout_s=1.0).ready >= workers:
                        return
                except TTSError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise UnavailableError(
            f"the embedded service did not get {workers} ready worker(s) in {self.start_timeout_s:g} s"
        )

    def _exit_reason(self, code: int) -> str:
        """The service's own one-line error (e.g. its workers' voice cannot load), else its exit code."""
        try:
            line = (self._dir / "serve.error").read_text(encoding="utf-8").strip() if self._dir else ""
        except OSError:
            line = ""
        return line or f"the embedded service exited with code {code}"

    def client(self) -> Client:
        """A client bound to this service (closed when the service stops)."""
        client = Client(self.endpoint, self.settings)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
