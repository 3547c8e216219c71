"""The broker process: one ROUTER socket, a poll loop, and the :class:`Scheduler` behind it.

Producers and workers all connect DEALER sockets to the same endpoint, so one address serves
both (``swtts serve --bind``, ``swtts worker --connect``, ``swtts say --connect``); with
CURVE, each message is checked against its sender's role (:mod:`swtts.broker.roles`). The
ROUTER has ``ROUTER_MANDATORY`` set, so a message to a peer that is gone raises instead of
vanishing; a full peer queue keeps the message in a per-peer backlog for the next turn.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import defaultdict, deque

import zmq

from swtts.broker.cache import AudioCache, open_cache
from swtts.broker.metrics import Metrics
from swtts.broker.scheduler import Scheduler
from swtts.broker.security import Guard, secure_server
from swtts.config import Settings
from swtts.protocol import ErrorCode, ProtocolError, decode

LOGGER = logging.getLogger(__name__)

_HWM = 100_000
_SEND_HWM = 8
"""Messages queued per peer before a send to it fails (and waits in the backlog): low, so a
producer that reads slowly blocks further audio for it after a few chunks (the collector holds
back) instead of the whole document queueing in this process."""
_POLL_MS = 50


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere nothing to do).

    Freed audio otherwise stays in this process's resident memory, in glibc's arenas, after a
    long document is done.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


class BindError(RuntimeError):
    """The broker's endpoint (or its metrics port) cannot be bound; the message names it."""


class Broker:
    """Bind, then :meth:`run` until :attr:`stop_event` is set."""

    def __init__(self, settings: Settings, endpoint: str | None = None, use_cache: bool | None = None) -> None:
        self.settings = settings
        self.endpoint = endpoint or settings.service.endpoint
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.stop_event = threading.Event()
        enabled = settings.cache.enabled if use_cache is None else use_cache
        self.cache: AudioCache | None = open_cache(settings.cache) if enabled else None
        # counted only where someone can read them: the metrics port, or the HTTP gateway's /metrics
        self.metrics = Metrics(settings.metrics.enabled or settings.http.enabled)
        self.scheduler = Scheduler(settings, self.cache, self.metrics)
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, _SEND_HWM)
        self.socket.setsockopt(zmq.RCVHWM, _HWM)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.guard: Guard | None = None
        try:
            self.guard = secure_server(self.context, self.socket, self.endpoint, settings.security)
            self._bind()
            if settings.metrics.enabled:
                self.metrics.serve(settings.metrics.host, settings.metrics.port)
        except BaseException:
            self.close()
            raise
        self.bound = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._backlog: dict[bytes, deque[list[bytes]]] = defaultdict(deque)
        LOGGER.info("broker listening on %s (cache %s)", self.bound, "on" if self.cache else "off")

    def _bind(self) -> None:
        try:
            self.socket.bind(self.endpoint)
        except zmq.ZMQError as exc:  # a port in use, an address not of this host, a folder that is not there
            raise BindError(f"cannot bind {self.endpoint}: {zmq.strerror(exc.errno or 0)}") from None

    def run(self) -> None:
        """Serve until stopped; then fail what is still in flight so no producer hangs."""
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        busy = False
        try:
            while not self.stop_event.is_set():
                if poller.poll(0 if self.scheduler.state.more_to_send else _POLL_MS):
                    self._drain_socket()
                self.scheduler.tick()
                self.scheduler.state.warnings.flush()
                self._flush()
                if busy and not self.requests_in_progress:
                    release_free_memory()  # what the last request used goes back to the system
                busy = bool(self.requests_in_progress)
            if poller.poll(0):
                self._drain_socket()  # what came before the stop first: a producer's cancel ends its request quietly
            self.scheduler.shutdown()
            self._flush()
        finally:
            self.close()

    @property
    def requests_in_progress(self) -> int:
        return len(self.scheduler.requests)

    def close(self) -> None:
        self.socket.close(linger=200)
        if self.guard is not None:
            self.guard.stop()
        if self.cache is not None:
            self.cache.close()

    def _drain_socket(self) -> None:
        """Handle every message waiting (bounded per turn so timers still run)."""
        for _ in range(1000):
            try:
                if self.guard is None:
                    self._handle(self.socket.recv_multipart(zmq.NOBLOCK), None)
                else:  # the frames carry the sender's CURVE key (the ZAP User-Id)
                    frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                    self._handle([frame.bytes for frame in frames], str(frames[-1].get("User-Id")))
            except zmq.Again:
                return
            self._flush()

    def _handle(self, frames: list[bytes], user_id: str | None) -> None:
        if len(frames) < 2:
            return
        peer, body = frames[0], frames[1:]
        started = time.perf_counter()
        try:
            message = decode(body)
            if self.guard is not None:
                self.guard.roles.check(user_id, message)
            self.scheduler.handle(peer, message)
        except ProtocolError as error:
            self.scheduler.state.warnings.warning(peer, LOGGER, "bad message from %s: %s", peer.hex(), error)
            self.scheduler.reject(peer, error)
        except Exception:  # a bug must never take the broker down with everyone's work
            LOGGER.exception("internal error handling a message from %s", peer.hex())
            self.scheduler.reject(
                peer, ProtocolError(ErrorCode.INTERNAL, "internal broker error; see the broker's log")
            )
        LOGGER.debug("handled message in %.3f ms", (time.perf_counter() - started) * 1000)

    def _flush(self) -> None:
        """Send what the scheduler queued; a peer whose queue is full keeps the rest in its backlog.

        The scheduler learns which peers are blocked, and a peer freed gets what waited for it
        in the same turn.
        """
        for _ in range(4):
            for peer, frames in self.scheduler.take_outbox():
                self._backlog[peer].append(frames)
            for peer in list(self._backlog):
                self._send_backlog(peer)
            blocked = set(self._backlog)
            if blocked == self.scheduler.state.blocked:
                return
            self.scheduler.set_blocked(blocked)

    def _send_backlog(self, peer: bytes) -> None:
        queue = self._backlog[peer]
        while queue:
            try:
                self.socket.send_multipart([peer, *queue[0]], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EHOSTUNREACH:
                    raise
                del self._backlog[peer]
                self.scheduler.peer_unreachable(peer)
                return
            queue.popleft()
        del self._backlog[peer]
