"""An embedded, disposable service: the broker on a thread of this process, workers beside it.

Nothing is started that a caller would wait on needlessly: the worker processes are started
first (this module imports nothing heavy until they run, so their interpreters and voice loads
overlap the broker's start), then the broker is bound on a thread of this process (no
supervisor process in between), and with ``in_process=True`` one of the workers is a thread of
this process too (no interpreter to start, no second copy of the imports; what the one-shot
``swtts say`` uses). Stopping kills the worker processes at once: whatever they had to say has
been received by then, and waiting for their goodbyes would only delay the caller's exit.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from swtts.config import Settings
from swtts.service.pool import PrivateFolder, WorkerPool, threads_per_worker
from swtts.workers.voice_files import VoiceLoadError, check_voice

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from swtts.client import Client
    from swtts.service.supervisor import Supervisor
    from swtts.workers.worker import Worker

LOGGER = logging.getLogger(__name__)

_READY_POLL_S = 0.005
_LOCAL_POLL_S = 0.01  # the in-process worker notices stop within this (the caller's exit waits for it)
_JOIN_S = 10.0


class EmbeddedService:
    """A private broker and worker pool for one program's lifetime.

    >>> with EmbeddedService(load_settings(), workers=2) as service:
    ...     result = service.client().synthesize("Hello there.")

    ``bind`` replaces the private ipc:// endpoint (e.g. ``tcp://127.0.0.1:PORT``, a fixed
    port), so workers started elsewhere with :attr:`config_file` can join it as they would a
    ``swtts serve``. ``in_process`` runs one of the ``workers`` on a thread of this process.
    """

    def __init__(
        self,
        settings: Settings,
        workers: int | None = None,
        use_cache: bool | None = None,
        log_level: str = "WARNING",
        start_timeout_s: float = 180.0,
        bind: str | None = None,
        in_process: bool = False,
    ) -> None:
        self.settings = settings
        self.bind = bind
        self.workers = settings.service.local_workers() if workers is None else workers
        self.use_cache = use_cache
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.in_process = in_process and self.workers > 0
        self.endpoint = ""
        self.pool: WorkerPool | None = None
        self.supervisor: Supervisor | None = None
        self._folder: PrivateFolder | None = None
        self._threads: list[threading.Thread] = []
        self._local: Worker | None = None
        self._stopping = threading.Event()
        self._imported = threading.Event()
        self._error: BaseException | None = None
        self._clients: list[Client] = []

    def __enter__(self) -> EmbeddedService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start_workers(self) -> None:
        """Start the worker processes (and the in-process worker's voice load) now, without waiting.

        :meth:`start` does this if it was not done; calling it first lets a caller do its own
        start-up (imports, checks) while the workers load.
        """
        if self.pool is not None:
            return
        if self.workers and not self.in_process:  # (the in-process worker checks it at once, and says why)
            check_voice(self.settings.voice.model or None)
        try:
            self._folder = PrivateFolder("embedded")
            self.endpoint = self.bind or f"ipc://{self._folder.path}/broker.sock"
            threads = threads_per_worker(self.settings, self.workers)
            processes = self.workers - 1 if self.in_process else self.workers
            self.pool = WorkerPool(self.settings, self.endpoint, processes, self.log_level, self._folder.path, threads)
            self.pool.start()
            if self.in_process:
                self._spawn_thread(self._run_local_worker, "local-worker", threads)
                # onnxruntime's import first, alone: the voice's session then loads (letting go of
                # the GIL for much of it) while the engine and the broker are imported, not after.
                self._imported.wait(self.start_timeout_s)
        except BaseException:
            self.stop()
            raise

    def start(self, ready: int | None = None) -> None:
        """Start everything and wait for ``ready`` workers (default: all of them).

        A voice that cannot load fails before anything starts, or with the worker's own line;
        any failure, Ctrl-C included, leaves no process, thread or folder behind.
        """
        self.start_workers()
        try:
            import swtts.client  # noqa: F401 - now, while the voice loads, not once it is ready

            self._spawn_thread(self._serve, "broker")
            self.wait_ready(self.workers if ready is None else ready)
        except BaseException:
            self.stop()
            raise

    def _spawn_thread(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        """The broker, made and run on this thread (its socket and its cache's SQLite connection live here)."""
        from swtts.service.supervisor import Supervisor

        try:
            # its own gateways stay off: a user config that serves HTTP must not make every `say` serve it too
            settings = self.settings.override(http__enabled=False)
            supervisor = Supervisor(settings, self.endpoint, use_cache=self.use_cache, pool=self.pool)
        except Exception as exc:  # a bind or key error: raised to the caller as it is
            self._error = self._error or exc
            return
        self.supervisor = supervisor
        if self._stopping.is_set():
            supervisor.stop()
        try:
            supervisor.run()
        except VoiceLoadError as exc:
            self._fail(str(exc))
        except Exception as exc:  # the broker thread must not die silently: the caller waits on it
            LOGGER.exception("the embedded broker failed")
            self._fail(f"the embedded broker failed: {exc}")

    def _fail(self, line: str) -> None:
        from swtts.protocol import UnavailableError

        self._error = self._error or UnavailableError(line)

    def _run_local_worker(self, threads: int) -> None:
        """A worker on this thread: the voice's sessions open on another from the moment onnxruntime
        is imported, while this thread imports the engine and the caller's the broker."""
        try:
            from swtts.workers.session import SessionOpening

            opening = SessionOpening.for_settings(self.settings, threads)
        finally:
            self._imported.set()
        try:
            from swtts.workers.engine import Engine
            from swtts.workers.worker import Worker, load_reading

            voice = opening.voice if opening is not None else check_voice(self.settings.voice.model or None)
            load_reading(voice.espeak_voice, voice.language)  # while the sessions open
            worker = Worker(Engine.from_settings(self.settings, threads, opening), self.settings, self.endpoint)
        except VoiceLoadError as exc:
            self._error = self._error or exc  # raised to the caller as it is: the voice's own one line
            return
        except Exception as exc:
            LOGGER.exception("the in-process worker failed to start")
            self._fail(f"the in-process worker failed to start: {exc}")
            return
        worker.poll_s = _LOCAL_POLL_S
        self._local = worker
        if not self._stopping.is_set():
            worker.run()

    @property
    def config_file(self) -> Path:
        """The service's settings as a TOML file (what its own workers are started with)."""
        if self.pool is None:
            raise RuntimeError("the embedded service is not running")
        return self.pool.config_file

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The worker processes (``subprocess.Popen``), restarted ones included as they are now."""
        return list(self.pool.processes) if self.pool is not None else []

    def wait_ready(self, workers: int) -> None:
        """Block until ``workers`` workers are connected (or fail clearly: the workers' own line)."""
        from swtts.protocol import UnavailableError

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._error is not None:
                raise self._error
            supervisor = self.supervisor
            if supervisor is not None and len(supervisor.broker.scheduler.workers) >= workers:
                return
            time.sleep(_READY_POLL_S)
        raise UnavailableError(
            f"the embedded service did not get {workers} ready worker(s) in {self.start_timeout_s:g} s"
        )

    def client(self) -> Client:
        """A client bound to this service (closed when the service stops)."""
        from swtts.client import Client

        client = Client(self.endpoint, self.settings)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        """Stop the broker, the in-process worker and the worker processes; remove the folder."""
        self._stopping.set()
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._local is not None:
            self._local.stop_event.set()
            self._local.engine.cancel()  # a chunk in progress ends now: onnxruntime must not run on into exit
        if self.supervisor is not None:
            self.supervisor.stop()
        for thread in self._threads:
            thread.join(timeout=_JOIN_S)
        if self.pool is not None:
            self.pool.stop(grace_s=0)
        if self._folder is not None:
            self._folder.remove()
            self._folder = None
