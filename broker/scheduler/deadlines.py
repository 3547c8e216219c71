"""Time limits on work in progress: each chunk's deadline at its worker.

A worker that heartbeats but never answers would otherwise hold a chunk, and the request
behind it, until it leaves. A chunk's bound follows the audio it should become: its
characters at ``chunk_deadline_chars_per_s`` (a speech rate; docs/benchmarks.md measures about
18 for the sample article, so 15 errs long) give its expected length in seconds, times
``chunk_deadline_factor``, never under ``chunk_deadline_min_s``. A chunk past it goes back to
the queue for another worker, and its worker is *stalled* (no work until it answers, its late
answer ignored).
"""

from __future__ import annotations

from swtts.broker.scheduler.state import State, Worker
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
