"""Running the app: on a thread of the broker process (``serve --http``) or as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence

import uvicorn
from prometheus_client import CollectorRegistry

from swtts.config import Settings
from swtts.gateways.http.app import create_app
from swtts.gateways.http.auth import check_bind, load_keys
from swtts.gateways.http.backend import SpeechBackend

LOGGER = logging.getLogger(__name__)
_START_TIMEOUT_S = 30.0
_SHUTDOWN_S = 2  # on shutdown, streams still running after this are cancelled (at the broker too)


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; checked by the ``http.bind`` setting) into its parts."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def _server(settings: Settings, endpoint: str, registries: Sequence[CollectorRegistry]) -> uvicorn.Server:
    """Uvicorn serving the app at ``[http] bind`` for the broker at ``endpoint``; refuses an open bind without keys."""
    host, port = parse_bind(settings.http.bind)
    keys = load_keys(settings.http)
    check_bind(host, port, keys)
    app = create_app(settings, SpeechBackend(endpoint, settings), keys, registries)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


class HttpThread:
    """The gateway on a thread of its own, with its own event loop and client (``serve --http``)."""

    def __init__(self, settings: Settings, endpoint: str, registries: Sequence[CollectorRegistry] = ()) -> None:
        self.bind = settings.http.bind
        self.server = _server(settings, endpoint, registries)
        self._thread = threading.Thread(target=self._run, name="http-gateway", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind; start() reports it
            asyncio.run(self.server.serve())

    def start(self) -> None:
        """Start serving; raises a clear error if the address cannot be bound."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise OSError(f"cannot serve HTTP on {self.bind} (address in use or not available)")
        LOGGER.info("HTTP speech API on http://%s", self.bind)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def run_gateway(settings: Settings, endpoint: str) -> None:
    """Serve in this process until SIGINT/SIGTERM (``swtts http``)."""
    server = _server(settings, endpoint, ())
    server.run()
    if not server.started:
        raise OSError(f"cannot serve HTTP on {settings.http.bind} (address in use or not available)")
