"""The broker's brain, free of sockets: each inbound message becomes a method call.

Everything to send goes into an outbox of ``(peer identity, frames)`` that the socket loop
drains. Keeping I/O out makes the rules testable alone. The rules themselves live beside
this module: admission (:mod:`admission`), dispatch policy (:mod:`dispatch`), the ordered
collector (:mod:`collector`) and the status snapshot (:mod:`status`). Here: workers coming
and going, and the timers.

**Reliability**: a worker silent for ``heartbeat_liveness`` periods is dead; its chunks go
back to the front of their queues, up to ``max_attempts`` tries per chunk. So does a chunk
held past its deadline (:mod:`deadlines`), whose worker is stalled until it answers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from swtts.broker.cache import AudioCache
from swtts.broker.metrics import Metrics
from swtts.broker.scheduler import status
from swtts.broker.scheduler.admission import Admission
from swtts.broker.scheduler.collector import Collector
from swtts.broker.scheduler.deadlines import take_overdue, unserved
from swtts.broker.scheduler.dispatch import dispatch
from swtts.broker.scheduler.state import DeadWorker, Outbox, Request, State, Worker
from swtts.config import Settings
from swtts.protocol import (
    CacheClear,
    CacheClearReply,
    CacheStatsQuery,
    CacheStatsReply,
    Cancel,
    Disconnect,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Message,
    Ping,
    ProtocolError,
    Ready,
    Result,
    StatusQuery,
    StatusReply,
    Submit,
    VoicesQuery,
    VoicesReply,
    WorkerState,
    voice_name,
)

LOGGER = logging.getLogger(__name__)

_DEAD_WORKERS_KEPT = 32


class Scheduler:
    """All broker state and rules; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        cache: AudioCache | None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = State(settings, cache, metrics or Metrics(), clock)
        self.collector = Collector(self.state)
        self.admission = Admission(self.state, self.collector, voice_name(settings.voice.model))
        self.dead_workers: deque[DeadWorker] = deque(maxlen=_DEAD_WORKERS_KEPT)
        self.started = clock()
        self.next_heartbeat = self.started
        self._handlers: dict[type[Message], Callable[[bytes, Any], None]] = {
            Submit: self._on_submit,
            Cancel: self._on_cancel,
            Ping: lambda peer, ping: self._send(peer, status.ping_reply(self.state, ping.echo)),
            StatusQuery: lambda peer, query: self._send(peer, self.status(query.echo)),
            CacheStatsQuery: self._on_cache_stats,
            CacheClear: self._on_cache_clear,
            VoicesQuery: lambda peer, query: self._send(
                peer, VoicesReply(query.echo, tuple(self.state.voices().values()))
            ),
            Ready: self._on_ready,
            Heartbeat: self._on_heartbeat,
            Disconnect: self._on_disconnect,
            Result: self.collector.on_result,
            Failed: self.collector.on_failed,
        }

    @property
    def requests(self) -> dict[str, Request]:
        return self.state.requests

    @property
    def workers(self) -> dict[bytes, Worker]:
        return self.state.workers

    # ----- inbound -------------------------------------------------------------------------

    def handle(self, peer: bytes, message: Message) -> None:
        """Apply one decoded message from ``peer``; a ProtocolError means it is refused."""
        self._drop_broken_cache()
        handler = self._handlers.get(type(message))
        if handler is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{message.TYPE.value} is not accepted by the broker")
        worker = self.workers.get(peer)
        if worker is not None:
            worker.expires = self.state.clock() + self._liveness_s
        handler(peer, message)
        self.dispatch()

    def reject(self, peer: bytes, error: ProtocolError) -> None:
        """Answer a bad message with a clear error.

        A worker's bad answer about a chunk it holds fails that chunk's request at once,
        so its producer never waits for the deadline.
        """
        worker = self.workers.get(peer)
        if worker is not None and error.request_id is not None and error.index is not None:
            if (error.request_id, error.index) in worker.in_flight:
                located = self.collector.take_chunk(peer, error.request_id, error.index)
                if located is not None:
                    problem = self.collector.malformed(worker, error.index, error.message)
                    self.collector.fail(located[0], ErrorCode.SYNTHESIS_FAILED, problem)
        elif error.request_id is not None:
            self.state.metrics.requests.labels("rejected_" + error.code.value).inc()
        self._send(peer, Error(error.code, error.message, error.request_id))

    def peer_unreachable(self, peer: bytes) -> None:
        """ROUTER could not route to ``peer``: a client left or a worker vanished."""
        if peer in self.workers:
            self._worker_died(peer, "unreachable")
        for request in [r for r in self.requests.values() if r.client == peer]:
            LOGGER.info("request %s: producer went away; dropping it", request.id)
            self.collector.finish(request, outcome="abandoned")

    def tick(self) -> None:
        """Timers: heartbeats and cache gauges (once per interval), dead workers, deadlines; then dispatch."""
        state = self.state
        now = state.clock()
        self._drop_broken_cache()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + state.settings.service.heartbeat_interval_s
            for peer in [*self.workers, *{r.client for r in self.requests.values()}]:
                self._send(peer, Heartbeat())
            if state.cache is not None:
                stats = state.cache.stats()
                state.metrics.cache_bytes.set(stats.bytes_stored)
                state.metrics.cache_evictions.set(stats.evictions)
        for identity in [i for i, w in self.workers.items() if w.expires < now]:
            self._worker_died(identity, "heartbeat lost")
        for worker, request_id, index in take_overdue(state, now):
            state.metrics.chunks.labels("overdue").inc()
            LOGGER.warning(
                "worker %s did not answer chunk %s:%d in time; it is stalled (no work until it answers) "
                "and the chunk goes to another worker",
                worker.label,
                request_id,
                index,
            )
            self._requeue(request_id, index, now)
        for request in [r for r in self.requests.values() if r.deadline < now]:
            self.collector.fail(
                request,
                ErrorCode.TIMEOUT,
                f"request did not finish within its deadline of {request.deadline - request.created:.0f} s",
            )
        for request, reason in unserved(state, now):
            self.collector.fail(request, ErrorCode.UNAVAILABLE, reason)
        self.dispatch()
        status.update_gauges(state, self.dead_workers)

    def shutdown(self) -> None:
        """Fail every request still in progress so no producer waits on a broker that is leaving."""
        for request in list(self.requests.values()):
            self.collector.fail(request, ErrorCode.UNAVAILABLE, "the broker is shutting down")

    def take_outbox(self) -> Outbox:
        out, self.state.outbox = self.state.outbox, []
        return out

    def dispatch(self) -> None:
        self.state.more_to_send = False
        dispatch(self.state, self.collector.serve_cached)

    def set_blocked(self, peers: set[bytes]) -> None:
        """The peers whose outgoing queue is full now; those freed get what waited for them."""
        freed = self.state.blocked - peers
        self.state.blocked = peers
        if freed:
            for request in [r for r in self.requests.values() if r.client in freed]:
                self.collector.emit_ready(request)
            self.dispatch()

    def status(self, echo: str = "") -> StatusReply:
        return status.snapshot(self.state, self.dead_workers, self.started, echo)

    # ----- producers -----------------------------------------------------------------------

    def _on_submit(self, peer: bytes, message: Submit) -> None:
        try:
            self.admission.submit(peer, message)
        except ProtocolError as error:
            error.request_id = message.request_id
            self.reject(peer, error)

    def _on_cancel(self, peer: bytes, message: Cancel) -> None:
        request = self.requests.get(message.request_id)
        if request is None or request.client != peer:
            return
        dropped = len(request.pending)
        self.state.metrics.chunks.labels("dropped").inc(dropped)
        LOGGER.info("request %s cancelled; %d queued chunks dropped", request.id, dropped)
        self._send(peer, Error(ErrorCode.CANCELLED, "cancelled", request.id))
        self.collector.finish(request, outcome="cancelled")

    def _on_cache_stats(self, peer: bytes, query: CacheStatsQuery) -> None:
        cache = self.state.cache
        self._send(peer, CacheStatsReply(query.echo, cache.stats() if cache else None))

    def _on_cache_clear(self, peer: bytes, query: CacheClear) -> None:
        cache = self.state.cache
        self._send(peer, CacheClearReply(query.echo, cache.clear() if cache else 0))

    # ----- workers -------------------------------------------------------------------------

    def _on_ready(self, peer: bytes, ready: Ready) -> None:
        worker = self.workers.get(peer)
        if worker is None:
            now = self.state.clock()
            worker = Worker(peer, ready, now + self._liveness_s, now)
            self.workers[peer] = worker
            LOGGER.info("worker %s joined: voice %s on %s", worker.label, worker.voice, ready.device)
        worker.ready = ready

    def _on_heartbeat(self, peer: bytes, message: Heartbeat) -> None:
        if peer not in self.workers:
            self._send(peer, Error(ErrorCode.UNKNOWN_PEER, "unknown worker; send ready"))

    def _on_disconnect(self, peer: bytes, message: Disconnect) -> None:
        if peer in self.workers:
            self._worker_died(peer, "left", dead=False)

    def _worker_died(self, identity: bytes, reason: str, dead: bool = True) -> None:
        worker = self.workers.pop(identity)
        now = self.state.clock()
        if dead:
            LOGGER.warning(
                "worker %s is dead (%s); re-queueing %d chunk(s)", worker.label, reason, len(worker.in_flight)
            )
            gone = replace(worker.status(now, WorkerState.DEAD), reason=reason)
            self.dead_workers.append(DeadWorker(gone, now))
        else:
            LOGGER.info("worker %s left", worker.label)
        for request_id, index in sorted(worker.in_flight):
            self._requeue(request_id, index, now)

    def _requeue(self, request_id: str, index: int, now: float) -> None:
        """A chunk its worker will not answer goes back to the front of its queue, up to max_attempts tries."""
        request = self.requests.get(request_id)
        if request is None or index not in request.in_flight:
            return
        request.in_flight.discard(index)
        job = request.jobs[index]
        if job.attempts >= self.state.settings.service.max_attempts:
            self.collector.fail(
                request,
                ErrorCode.WORKER_LOST,
                f"chunk {index} was tried {job.attempts} times and each worker died or did not answer; giving up",
            )
            return
        self.state.metrics.chunks.labels("requeued").inc()
        job.enqueued = now
        request.pending.appendleft(index)
        request.pending = deque(sorted(request.pending))

    # ----- helpers -------------------------------------------------------------------------

    def _drop_broken_cache(self) -> None:
        """A cache that stopped working (it said so once) is no longer asked: the broker runs without it."""
        if self.state.cache is not None and self.state.cache.broken:
            self.state.cache = None

    @property
    def _liveness_s(self) -> float:
        service = self.state.settings.service
        return service.heartbeat_interval_s * service.heartbeat_liveness

    def _send(self, peer: bytes, message: Message) -> None:
        self.state.send(peer, message)
