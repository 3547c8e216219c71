"""Dispatch policy: which queued chunk goes to which free worker, and whether it runs solo.

- **Load balancing**: a chunk goes only to a worker with free capacity (it said READY or
  returned a result), the least loaded first (fewest chunks in flight, then the one used
  last: its onnxruntime threads still spin for a moment after a run, and a neighbour started
  then would share the cores with them), one chunk at a time, so a slow chunk never blocks
  the others and a batching worker never hoards chunks an idle neighbour could speak.
- **Fairness**: a free worker takes the next chunk of the request with the fewest chunks in
  flight, then the one served longest ago, so requests interleave and a short reply never
  waits behind a long article.
- **Solo runs**: a chunk given to the only busy worker on its host while nothing else waits
  is marked ``solo``; a CPU worker then speaks it on every core instead of its one. A
  document's first chunk (short, so audio starts early) also runs solo when the host is idle
  and the document has at least a chunk per worker to follow, or is a stream still open (its
  next sentences arrive while the first is spoken); the rest of the document waits off that
  host until it is spoken, which costs the other workers a short first chunk's time and
  brings first audio to a whole host's speed.
- **Held hosts**: while a worker speaks a solo chunk no longer than a first chunk, its
  neighbours take nothing, not even other requests' chunks: a run on every core that shares
  them with one more thread took 2.3 times as long here (its threads wait for each other at
  every step), and slowed that neighbour too. The wait is short, and it ends in a solo run
  or in every worker busy. A longer solo chunk holds nothing: waiting for it would cost a
  short reply more than sharing the cores does.
"""

from __future__ import annotations

from collections.abc import Callable

from swtts.broker.scheduler.deadlines import chunk_deadline_s
from swtts.broker.scheduler.state import Request, State, Worker, speaks
from swtts.protocol import Task


def dispatch(state: State, serve_cached: Callable[[Request], None]) -> None:
    """Give queued chunks to free workers one at a time, least loaded worker first.

    The least loaded worker has the fewest chunks in flight, then was used last (warm). One
    chunk per turn matters for batching workers (capacity > 1): filling one worker's every
    slot before the next left a GPU's other workers idle while one padded all the passes.

    ``serve_cached`` first answers what the cache has at the head of each queue, so only
    chunks the cache lacks reach a worker (and a cached document needs no free worker).
    """
    for waiting in list(state.requests.values()):
        serve_cached(waiting)
    declined: set[bytes] = set()
    while True:
        holders = _host_holders(state)
        free = [
            w
            for w in state.workers.values()
            if w.has_room and w.identity not in declined and holders.get(w.host, w) is w
        ]
        if not free:
            return
        worker = min(free, key=lambda w: (len(w.in_flight), -w.last_used))
        request = _next_request_for(state, worker)
        if request is None:
            declined.add(worker.identity)
            continue
        index = request.pending.popleft()
        job = request.jobs[index]
        now = state.clock()
        job.attempts += 1
        job.dispatched = now
        request.in_flight.add(index)
        request.last_dispatch = now
        request.unserved_since = None
        request.workers_used.add(worker.label)
        worker.in_flight[request.id, index] = now + chunk_deadline_s(state.settings.service, job.chunk.text)
        worker.last_used = now
        leads = _leads(state, worker, request, index)
        if index == 0:  # a re-sent first chunk that does not lead must not keep holding its old host
            request.lead_host = worker.host if leads else None
        solo = leads or _alone(state, worker)
        short = len(job.chunk.text) <= state.settings.chunker.first_chunk_chars
        worker.holds_host = (request.id, index) if solo and short else None
        state.send(worker.identity, Task(request.id, index, job.chunk.text, request.params, solo, request.normalize))
        serve_cached(request)  # what follows may be in the cache


def _host_holders(state: State) -> dict[str, Worker]:
    """Each host whose worker speaks a short solo chunk, with that worker: only it may take more there."""
    return {worker.host: worker for worker in state.workers.values() if worker.holds_host in worker.in_flight}


def _alone(state: State, worker: Worker) -> bool:
    """True when ``worker`` can take its host's every core: no neighbour is busy, nothing waits."""
    return _idle_neighbours(state, worker) is not None and not any(r.pending for r in state.requests.values())


def _leads(state: State, worker: Worker, request: Request, index: int) -> bool:
    """True for a document's first chunk that may take the idle host while the rest waits.

    An open stream leads whatever is queued behind its first chunk: more is on its way, and
    without the lead its next sentence, arriving a moment later, would take a neighbour's core
    from under the first chunk's solo run.
    """
    if index != 0 or request.first_audio is not None:
        return False
    neighbours = _idle_neighbours(state, worker)
    return (
        neighbours is not None
        and (not request.closed or len(request.pending) > len(neighbours))
        and not any(other.pending for other in state.requests.values() if other is not request)
    )


def _idle_neighbours(state: State, worker: Worker) -> list[Worker] | None:
    """The other workers on ``worker``'s host when it offers solo runs and none of them (nor it,
    beyond the chunk just given) is busy; None when it cannot have the host to itself."""
    if not worker.ready.solo or len(worker.in_flight) > 1:
        return None
    neighbours = [other for other in state.workers.values() if other is not worker and other.host == worker.host]
    return None if any(other.in_flight for other in neighbours) else neighbours


def _next_request_for(state: State, worker: Worker) -> Request | None:
    best: Request | None = None
    for request in state.requests.values():
        if not request.pending or not speaks(worker, request) or not request.jobs[request.pending[0]].looked_up:
            continue
        if state.holds_enough(request):
            continue  # it waits for its producer to take what is done
        if 0 in request.in_flight and request.lead_host is not None and request.lead_host == worker.host:
            continue  # its first chunk is being spoken on every core of this host
        if best is None or _turn(request) < _turn(best):
            best = request
    if best is not None and best.voice is None:
        best.voice = worker.voice
    return best


def _turn(request: Request) -> tuple[int, float, float]:
    """Fair order: fewest chunks in flight, then longest since last served, then oldest."""
    return len(request.in_flight), request.last_dispatch, request.created
