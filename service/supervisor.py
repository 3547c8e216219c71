"""``swtts serve``: the broker on this process's thread and supervised local worker processes.

:class:`Supervisor` runs the broker and a :class:`~swtts.service.pool.WorkerPool` beside it,
restarting workers that die unless they could not load their voice: once no local worker is
left that way, ``serve`` stops with the worker's one line. Children also exit on their own if
their parent disappears, so nothing is left behind. The embedded service
(:mod:`swtts.service.embedded`) runs a Supervisor on a thread of its own process.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from swtts.broker.broker import Broker
from swtts.broker.security import check_local_worker_key
from swtts.config import Settings
from swtts.service.pool import (
    CPU_WORKER_MEMORY_MB,
    PrivateFolder,
    WorkerPool,
    threads_per_worker,
    warn_if_oversubscribed,
    worker_command,
)
from swtts.workers.parent import parent_alive
from swtts.workers.voice_files import VoiceLoadError, check_voice

__all__ = [
    "CPU_WORKER_MEMORY_MB",
    "Supervisor",
    "threads_per_worker",
    "warn_if_oversubscribed",
    "worker_command",
]

if TYPE_CHECKING:
    from swtts.gateways.wyoming import GatewayThread

LOGGER = logging.getLogger(__name__)

_WATCH_S = 0.2


def _wyoming_thread(settings: Settings, endpoint: str, uri: str) -> GatewayThread:
    """The Wyoming server of ``serve --wyoming [URI]`` (``[wyoming] uri`` when ``uri`` is empty)."""
    from swtts.gateways.wyoming import GatewayThread, WyomingGateway

    return GatewayThread(WyomingGateway(settings.override(wyoming__uri=uri or None), endpoint))


class Supervisor:
    """Broker in-process plus supervised local worker processes, until :meth:`stop`.

    ``pool`` hands over workers started already (the embedded service starts them first);
    without it the supervisor makes its own folder and pool of ``workers`` processes.
    """

    def __init__(
        self,
        settings: Settings,
        endpoint: str | None = None,
        workers: int | None = None,
        use_cache: bool | None = None,
        log_level: str = "WARNING",
        parent_pid: int | None = None,
        pool: WorkerPool | None = None,
        wyoming_uri: str | None = None,
    ) -> None:
        self.settings = settings
        count = settings.service.local_workers() if workers is None else workers
        if pool is None and count:
            check_voice(settings.voice.model or None)  # a voice that cannot load refuses to serve before binding
        if count:
            check_local_worker_key(settings.security)
        self.broker = Broker(settings, endpoint, use_cache)
        self.endpoint = self.broker.bound
        self.gateway = self._http_gateway()
        self.wyoming = _wyoming_thread(settings, self.endpoint, wyoming_uri) if wyoming_uri is not None else None
        self.parent_pid = parent_pid
        self.stop_event = threading.Event()
        self._folder: PrivateFolder | None = None
        if pool is None:
            self._folder = PrivateFolder("serve")
            warn_if_oversubscribed(count, settings.voice.device)
            pool = WorkerPool(settings, self.endpoint, count, log_level, self._folder.path)
        self.pool = pool
        self.failure = ""

    @property
    def count(self) -> int:
        return self.pool.count

    def _http_gateway(self) -> Any:
        """The HTTP speech API (``serve --http``, ``[http] enabled``): a thread of this process, a client of this broker."""
        if not self.settings.http.enabled:
            return None
        from swtts.gateways.http import HttpThread

        return HttpThread(self.settings, self.endpoint, self.broker.metrics.registries)

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
            if not self.pool.processes:
                self.pool.start()
            LOGGER.info("serving on %s with %d local worker process(es)", self.endpoint, self.count)
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
            if self._folder is not None:
                self.pool.stop()
                self._folder.remove()
        if self.failure:
            raise VoiceLoadError(self.failure)

    def stop(self) -> None:
        self.stop_event.set()
        self.broker.stop_event.set()

    def _watch(self) -> None:
        while not self.stop_event.wait(_WATCH_S):
            if not parent_alive(self.parent_pid):
                LOGGER.warning("parent process is gone; shutting down")
                self.stop()
                return
            if not self.pool.watch():
                self.failure = self.pool.failure
                self.stop()
                return
