"""What the broker tells about itself: the status snapshot, ping and voice answers, Prometheus gauges."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from swtts.broker.scheduler.state import DeadWorker, State
from swtts.protocol import PingReply, QueueStatus, StatusReply, WorkerState


def snapshot(state: State, dead: Iterable[DeadWorker], started: float, echo: str = "") -> StatusReply:
    """A snapshot for ``swtts status`` (the same figures Prometheus sees)."""
    now = state.clock()
    requests = state.requests.values()
    return StatusReply(
        echo=echo,
        uptime_s=round(now - started, 1),
        workers=tuple(w.status(now) for w in state.workers.values())
        + tuple(replace(d.status, died_s_ago=round(now - d.died_at, 1)) for d in dead),
        queue=QueueStatus(
            requests=len(state.requests),
            pending_chunks=sum(len(r.pending) for r in requests),
            in_flight_chunks=sum(len(r.in_flight) for r in requests),
        ),
        audio_seconds_total=round(state.audio_seconds_total, 3),
        cache=state.cache.stats() if state.cache else None,
    )


def ping_reply(state: State, echo: str) -> PingReply:
    workers = state.workers.values()
    return PingReply(
        echo=echo,
        workers=len(state.workers),
        ready=sum(1 for w in workers if w.has_room),
        voices=tuple(sorted({w.voice for w in workers})),
    )


def update_gauges(state: State, dead: Iterable[DeadWorker]) -> None:
    metrics = state.metrics
    metrics.queue_depth.set(sum(len(r.pending) for r in state.requests.values()))
    metrics.active_requests.set(len(state.requests))
    counts: dict[tuple[str, str], int] = {}
    for worker in state.workers.values():
        key = worker.state.value, worker.ready.device
        counts[key] = counts.get(key, 0) + 1
    for entry in dead:
        key = (WorkerState.DEAD.value, entry.status.device)
        counts[key] = counts.get(key, 0) + 1
    metrics.workers.clear()
    for (label, device), count in counts.items():
        metrics.workers.labels(label, device).set(count)
