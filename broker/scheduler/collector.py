"""The ordered collector: workers' results in, each request's audio out in document order.

A result is held until every earlier chunk of its request has been sent, so the producer
receives audio in document order, each chunk exactly once; the request ends with DONE (and
its chunk list cached) or with one ERROR; a request whose audio is empty altogether (a text of
only punctuation, which the voice does not read) ends with an ``empty_text`` error rather than
a silent file.

Memory stays flat in the document's length: a cached chunk is read from the cache only when
its turn comes, a bounded number of results wait per request (:meth:`State.holds_enough`), and nothing
more is sent to a producer whose queue is full (a slow reader) until it has taken some.
"""

from __future__ import annotations

import logging

from swtts.broker.cache import CachedAudio
from swtts.broker.scheduler.state import ChunkResult, Job, Request, State, Worker
from swtts.pipeline.timings import words_from_ink, words_to_ink
from swtts.protocol import (
    CHANNELS,
    SAMPLE_WIDTH,
    Audio,
    Done,
    Error,
    ErrorCode,
    Failed,
    ProtocolError,
    RequestTimings,
    Result,
)

LOGGER = logging.getLogger(__name__)

_FALLBACK_SAMPLE_RATE = 22050
NOTHING_TO_SPEAK = "nothing to speak: the voice finds no words in the text (only punctuation?)"


class Collector:
    """Results and failures from workers; audio, DONE and ERROR to producers."""

    def __init__(self, state: State) -> None:
        self.state = state

    def take_chunk(self, peer: bytes, request_id: str, index: int) -> tuple[Request, Job, Worker] | None:
        """Free the worker's slot for a returned chunk; find the chunk's request if it is still live.

        Only the worker a chunk was given to may answer for it, so no other peer can inject audio
        into (or fail) someone else's request.
        """
        state = self.state
        worker = state.workers.get(peer)
        if worker is None:
            state.send(peer, Error(ErrorCode.UNKNOWN_PEER, "unknown worker; send ready"))
            return None
        if (request_id, index) in worker.overdue:
            worker.overdue.discard((request_id, index))  # it is alive: work may go to it again
            LOGGER.info("worker %s answered chunk %s:%d after its deadline; ignored", worker.label, request_id, index)
            return None
        if (request_id, index) not in worker.in_flight:
            state.warnings.warning(
                peer,
                LOGGER,
                "worker %s answered for chunk %s:%d it does not hold; ignoring it",
                worker.label,
                request_id,
                index,
            )
            return None
        del worker.in_flight[request_id, index]
        worker.chunks_done += 1
        request = state.requests.get(request_id)
        if request is None or index >= len(request.jobs):
            return None
        request.in_flight.discard(index)
        return request, request.jobs[index], worker

    def on_result(self, peer: bytes, result: Result) -> None:
        located = self.take_chunk(peer, result.request_id, result.index)
        if located is None:
            return
        request, job, worker = located
        if (result.sample_width, result.channels) != (SAMPLE_WIDTH, CHANNELS):
            # The chunk is out of every queue now: fail its request rather than leave it hanging.
            self.fail(request, ErrorCode.SYNTHESIS_FAILED, self.malformed(worker, job.chunk.index, "not int16 mono"))
            raise ProtocolError(ErrorCode.MALFORMED, "result: the audio must be int16 mono")
        if result.words and result.words[-1].text_end > len(job.chunk.text):
            problem = "word timings past the end of the chunk's text"
            self.fail(request, ErrorCode.SYNTHESIS_FAILED, self.malformed(worker, job.chunk.index, problem))
            raise ProtocolError(ErrorCode.MALFORMED, f"result: {problem}")
        state, metrics = self.state, self.state.metrics
        queued_ms = (job.dispatched - job.enqueued) * 1000
        metrics.chunks.labels("synthesized").inc()
        metrics.stage_seconds.labels("queue_wait").observe(queued_ms / 1000)
        metrics.stage_seconds.labels("synthesis").observe(result.synth_ms / 1000)
        if state.cache is not None and job.cache_key is not None:
            meta = {
                "sentence_samples": list(result.sentence_samples),
                "phonemes": result.phonemes,
                "words": words_to_ink(job.chunk.text, result.words),
            }
            state.cache.put(job.cache_key, CachedAudio(result.pcm, result.sample_rate, meta))
        if job.chunk.index in request.results or job.chunk.index < request.next_emit:
            return
        request.results[job.chunk.index] = ChunkResult(
            result.pcm,
            result.sample_rate,
            result.sentence_samples,
            result.phonemes,
            result.synth_ms,
            queued_ms,
            worker.label,
            False,
            state.clock(),
            result.words,
        )
        worker.batch_sizes[result.batch] = worker.batch_sizes.get(result.batch, 0) + 1
        worker.solo_chunks += result.solo
        LOGGER.debug(
            "request %s chunk %d: %d chars, queued %.1f ms, synth %.1f ms on %s",
            request.id,
            job.chunk.index,
            len(job.chunk.text),
            queued_ms,
            result.synth_ms,
            worker.label,
        )
        self.emit_ready(request)

    def on_failed(self, peer: bytes, failed: Failed) -> None:
        located = self.take_chunk(peer, failed.request_id, failed.index)
        if located is None:
            return
        request, job, _ = located
        self.state.metrics.chunks.labels("failed").inc()
        self.fail(
            request,
            ErrorCode.SYNTHESIS_FAILED,
            f"chunk {job.chunk.index} could not be synthesized: {failed.error}",
        )

    def malformed(self, worker: Worker, index: int, problem: str) -> str:
        return f"chunk {index}: worker {worker.label} sent a malformed result ({problem})"

    def cache_get(self, key: str | None) -> CachedAudio | None:
        state = self.state
        if key is None or state.cache is None:
            return None
        cached = state.cache.get(key)
        state.metrics.cache_events.labels("hit" if cached else "miss").inc()
        if cached is not None:
            state.metrics.chunks.labels("cached").inc()
        return cached

    def serve_cached(self, request: Request) -> None:
        """Send what is next; answer the head of the request's queue from the cache, within its limit.

        The first chunk the cache does not have stops it: that one goes to a worker (dispatch
        takes only chunks the cache was asked for), and the ones after it are asked once it is gone.
        """
        budget = self.state.ahead_limit()  # chunks sent in one turn: the socket says between turns if it is full
        while True:
            budget -= self.emit_ready(request, budget)
            if budget <= 0:
                self.state.more_to_send = True  # the broker takes another turn at once
                return
            if not request.pending or self.state.holds_enough(request):
                return
            index = request.pending[0]
            job = request.jobs[index]
            if job.looked_up:
                return
            job.looked_up = True
            cached = self.cache_get(job.cache_key)
            if cached is None:
                return
            request.pending.popleft()
            request.results[index] = ChunkResult(
                cached.pcm,
                cached.sample_rate,
                tuple(cached.meta.get("sentence_samples", [])),
                str(cached.meta.get("phonemes", "")),
                0.0,
                0.0,
                "cache",
                True,
                words=words_from_ink(job.chunk.text, cached.meta.get("words", [])) or (),
            )

    def emit_ready(self, request: Request, most: int | None = None) -> int:
        """Send the results that are next in document order (at most ``most``), unless the
        producer's queue is full; finish the request when all are out. Returns how many were sent."""
        state, metrics = self.state, self.state.metrics
        sent = 0
        while request.next_emit in request.results and request.client not in state.blocked:
            if most is not None and sent >= most:
                break
            sent += 1
            index = request.next_emit
            result = request.results.pop(index)
            chunk = request.jobs[index].chunk
            now = state.clock()
            if request.first_audio is None:
                request.first_audio = now
                metrics.first_audio.observe(now - request.created)
            if result.arrived:
                metrics.stage_seconds.labels("assembly").observe(now - result.arrived)
            request.next_emit += 1
            request.cached_chunks += result.cached
            request.synth_ms += result.synth_ms
            request.queued_ms += result.queued_ms
            request.audio_samples += len(result.pcm) // SAMPLE_WIDTH
            if result.cached:
                request.workers_used.add("cache")
            audio = Audio(
                request_id=request.id,
                index=index,
                text=chunk.text,
                pcm=result.pcm,
                sample_rate=result.sample_rate,
                sentence_samples=result.sentence_samples,
                paragraph_start=chunk.paragraph_start,
                sentence_end=chunk.sentence_end,
                phonemes=result.phonemes,
                words=result.words,
                total=len(request.jobs) if request.closed else None,
                cached=result.cached,
                worker=result.worker,
                queued_ms=round(result.queued_ms, 3),
                synth_ms=round(result.synth_ms, 3),
            )
            state.send(request.client, audio)
        if request.closed and request.next_emit == len(request.jobs):
            self._complete(request)
        return sent

    def _complete(self, request: Request) -> None:
        if request.audio_samples == 0:  # the voice found nothing to say ("...", "?", "--"): no silent file
            self.fail(request, ErrorCode.EMPTY_TEXT, NOTHING_TO_SPEAK)
            return
        state = self.state
        now = state.clock()
        total_s = now - request.created
        sample_rate = self._sample_rate_of(request)
        audio_s = request.audio_samples / sample_rate
        timings = RequestTimings(
            total_ms=round(total_s * 1000, 3),
            first_audio_ms=round(((request.first_audio or now) - request.created) * 1000, 3),
            queued_ms=round(request.queued_ms, 3),
            synth_ms=round(request.synth_ms, 3),
            cached_chunks=request.cached_chunks,
            workers=tuple(sorted(request.workers_used)),
        )
        state.send(request.client, Done(request.id, len(request.jobs), audio_s, timings))
        if request.doc_key is not None and not request.doc_hit and state.cache is not None:
            chunks = [job.chunk.__dict__ for job in request.jobs]
            state.cache.put(request.doc_key, CachedAudio(b"", sample_rate, {"chunks": chunks}))
        state.metrics.request_latency.observe(total_s)
        state.metrics.audio_seconds.inc(audio_s)
        state.audio_seconds_total += audio_s
        LOGGER.info(
            "request %s done: %d chars, %d chunks (%d cached), %.1f s audio, first audio %.0f ms, total %.0f ms",
            request.id,
            request.text_chars,
            len(request.jobs),
            request.cached_chunks,
            audio_s,
            timings.first_audio_ms,
            timings.total_ms,
        )
        self.finish(request, outcome="completed")

    def _sample_rate_of(self, request: Request) -> int:
        worker = self.state.worker_with(request.voice)
        return worker.description.sample_rate if worker is not None else _FALLBACK_SAMPLE_RATE

    def fail(self, request: Request, code: ErrorCode, error: str) -> None:
        LOGGER.warning("request %s failed: %s", request.id, error)
        self.state.send(request.client, Error(code, error, request.id))
        self.finish(request, outcome=code.value)

    def finish(self, request: Request, outcome: str) -> None:
        self.state.requests.pop(request.id, None)
        request.pending.clear()
        self.state.metrics.requests.labels(outcome).inc()
