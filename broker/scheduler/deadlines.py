"""Time limits on work in progress: each chunk's deadline at its worker, and how long a request
may wait with no worker for it.

A worker that heartbeats but never answers would otherwise hold a chunk, and the request
behind it, until it leaves. A chunk's bound follows the audio it should become: its
characters at ``chunk_deadline_chars_per_s`` (a speech rate; docs/benchmarks.md measures about
18 for the sample article, so 15 errs long) give its expected length in seconds, times
``chunk_deadline_factor``, never under ``chunk_deadline_min_s``. A chunk past it goes back to
the queue for another worker, and its worker is *stalled* (no work until it answers, its late
answer ignored).

A request whose chunks wait while no usable worker for its voice is connected (none at all,
none with its voice, or only stalled ones) fails after ``no_worker_timeout_s`` with "no worker
is connected", rather than at its deadline minutes later.
"""

from __future__ import annotations

from swtts.broker.scheduler.state import Request, State, Worker, speaks
from swtts.config import ServiceSettings


def chunk_deadline_s(service: ServiceSettings, text: str) -> float:
    """Seconds a worker may take for a chunk of ``text``, from the moment it is given the chunk."""
    expected_audio_s = len(text) / service.chunk_deadline_chars_per_s
    return max(service.chunk_deadline_min_s, expected_audio_s * service.chunk_deadline_factor)


def take_overdue(state: State, now: float) -> list[tuple[Worker, str, int]]:
    """Every chunk held past its deadline, moved from its worker's slots to its overdue set."""
    late: list[tuple[Worker, str, int]] = []
    for worker in state.workers.values():
        for key in sorted(key for key, due in worker.in_flight.items() if due < now):
            del worker.in_flight[key]
            worker.overdue.add(key)
            worker.missed_deadlines += 1
            late.append((worker, *key))
    return late


def unserved(state: State, now: float) -> list[tuple[Request, str]]:
    """Requests that waited ``no_worker_timeout_s`` with no usable worker, each with the reason in words."""
    limit = state.settings.service.no_worker_timeout_s
    found: list[tuple[Request, str]] = []
    for request in state.requests.values():
        able = [worker for worker in state.workers.values() if speaks(worker, request)]
        if not request.pending or any(not worker.overdue for worker in able):
            request.unserved_since = None
            continue
        if request.unserved_since is None:
            request.unserved_since = now
        if now - request.unserved_since >= limit:
            found.append((request, _no_worker(state, request, able, limit)))
    return found


def _no_worker(state: State, request: Request, stalled: list[Worker], waited_s: float) -> str:
    wanted = request.voice or request.voice_query
    if stalled:
        which = f"no worker is connected that answers: {len(stalled)} with voice {stalled[0].voice!r} stalled"
        which += (
            " (it did not answer a chunk in time)" if len(stalled) == 1 else " (they did not answer chunks in time)"
        )
    elif wanted and state.workers:
        which = f"no worker is connected with voice {wanted!r}"
    else:
        which = "no worker is connected"
    return f"{which}; waited {waited_s:g} s (service.no_worker_timeout_s)"
