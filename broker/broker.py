"""The broker process: one ROUTER socket, a poll loop, and the :class:`Scheduler` behind it.

Producers and workers all connect DEALER sockets to the same endpoint, so one address serves
both (``swtts serve --bind``, ``swtts worker --connect``, ``swtts say --connect``). The
ROUTER has ``ROUTER_MANDATORY`` set, so a message to a peer that is gone raises instead of
vanishing; a full peer queue keeps the message in a per-peer backlog for the next turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque

import zmq

from swtts.broker.cache import AudioCache
from swtts.broker.metrics import Metrics
from swtts.broker.scheduler import Scheduler
from swtts.broker.security import secure_server
from swtts.config import Settings
from swtts.protocol import ErrorCode, ProtocolError, decode

LOGGER = logging.getLogger(__name__)

_HWM = 100_000
_POLL_MS = 50


class Broker:
    """Bind, then :meth:`run` until :attr:`stop_event` is set."""

    def __init__(self, settings: Settings, endpoint: str | None = None, use_cache: bool | None = None) -> None:
        self.settings = settings
        self.endpoint = endpoint or settings.service.endpoint
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.stop_event = threading.Event()
        enabled = settings.cache.enabled if use_cache is None else use_cache
        cache_cfg = settings.cache
        self.cache = (
            AudioCache(cache_cfg.directory(), cache_cfg.max_mb * 2**20, cache_cfg.max_entries, cache_cfg.ttl_s)
            if enabled
            else None
        )
        self.metrics = Metrics()
        self.scheduler = Scheduler(settings, self.cache, self.metrics)
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, _HWM)
        self.socket.setsockopt(zmq.RCVHWM, _HWM)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.authenticator = secure_server(self.context, self.socket, self.endpoint, settings.security)
        self.socket.bind(self.endpoint)
        self.bound = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._backlog: dict[bytes, deque[list[bytes]]] = defaultdict(deque)
        if settings.metrics.enabled:
            self.metrics.serve(settings.metrics.host, settings.metrics.port)
        LOGGER.info("broker listening on %s (cache %s)", self.bound, "on" if self.cache else "off")

    def run(self) -> None:
        """Serve until stopped; then fail what is still in flight so no producer hangs."""
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        try:
            while not self.stop_event.is_set():
                if poller.poll(_POLL_MS):
                    self._drain_socket()
                self.scheduler.tick()
                self._flush()
            self.scheduler.shutdown()
            self._flush()
        finally:
            self.close()

    def close(self) -> None:
        self.socket.close(linger=200)
        if self.authenticator is not None:
            self.authenticator.stop()
        if self.cache is not None:
            self.cache.close()

    def _drain_socket(self) -> None:
        """Handle every message waiting (bounded per turn so timers still run)."""
        for _ in range(1000):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle(frames)
            self._flush()

    def _handle(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return
        peer, body = frames[0], frames[1:]
        started = time.perf_counter()
        try:
            message = decode(body)
            self.scheduler.handle(peer, message)
        except ProtocolError as error:
            LOGGER.warning("bad message from %s: %s", peer.hex(), error)
            self.scheduler.reject(peer, error)
        except Exception:  # a bug must never take the broker down with everyone's work
            LOGGER.exception("internal error handling a message from %s", peer.hex())
            self.scheduler.reject(
                peer, ProtocolError(ErrorCode.INTERNAL, "internal broker error; see the broker's log")
            )
        LOGGER.debug("handled message in %.3f ms", (time.perf_counter() - started) * 1000)

    def _flush(self) -> None:
        for peer, frames in self.scheduler.take_outbox():
            self._backlog[peer].append(frames)
        for peer in list(self._backlog):
            queue = self._backlog[peer]
            while queue:
                try:
                    self.socket.send_multipart([peer, *queue[0]], zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EHOSTUNREACH:
                        raise
                    del self._backlog[peer]
                    self.scheduler.peer_unreachable(peer)
                    break
                queue.popleft()
            else:
                del self._backlog[peer]
