"""Admission: a submitted part becomes chunks in the queue, or a clear refusal.

Here a request's voice is chosen (a name or a language, checked against the voices of
connected workers), its text checked, cut into chunks and looked up in the cache, and the
queue's bounds enforced (backpressure: a full queue answers ``busy`` rather than growing).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from swtts.broker.cache import cache_key
from swtts.broker.scheduler.collector import Collector
from swtts.broker.scheduler.state import Job, Request, State
from swtts.pipeline.chunker import Chunk, split_text
from swtts.pipeline.sentences import looks_complete
from swtts.protocol import (
    Accepted,
    ErrorCode,
    ProtocolError,
    Submit,
    SynthesisParams,
    check_text,
    choose_voice,
)

LOGGER = logging.getLogger(__name__)


class Admission:
    """Takes SUBMIT parts in; ``default_voice`` is used when a request names none."""

    def __init__(self, state: State, collector: Collector, default_voice: str) -> None:
        self.state = state
        self.collector = collector
        self.default_voice = default_voice

    def submit(self, peer: bytes, message: Submit) -> None:
        """Queue one part of a request (opening it at part 0), or raise a ProtocolError saying why not."""
        state = self.state
        request_id, part = message.request_id, message.part
        request = state.requests.get(request_id)
        if part == 0:
            if request is not None:
                raise ProtocolError(ErrorCode.DUPLICATE_REQUEST, f"request {request_id!r} is already in progress")
            request = self._open(peer, message)
        elif request is None or request.client != peer:
            raise ProtocolError(ErrorCode.UNKNOWN_REQUEST, f"no open request {request_id!r} to add part {part} to")
        elif request.closed or part != request.parts:
            raise ProtocolError(
                ErrorCode.MALFORMED, f"part {part} of {request_id!r} is out of order (expected {request.parts})"
            )
        if part > 0 and not message.more and not message.text:
            request.parts += 1
            request.closed = True
            self.collector.emit_ready(request)
            return
        if message.text is None:
            raise ProtocolError(ErrorCode.MALFORMED, "submit: the text frame is missing")
        text = check_text(message.text, state.settings.service.max_text_chars - (request.text_chars if part else 0))
        if part == 0 and not message.more:
            request.doc_key = self._doc_key(request, text)
        chunks = self._document_chunks(request) or split_text(
            text,
            max_chars=request.max_chunk_chars,
            first_chunk_chars=request.first_chunk_chars if not request.jobs else None,
            start_index=len(request.jobs),
            workers=self._workers_for(request.voice),
        )
        self._check_capacity(len(chunks), len(text.encode()))
        if part == 0:
            state.requests[request_id] = request
        request.parts += 1
        request.text_chars += len(text)
        request.closed = not message.more
        if chunks and request.jobs and text[: len(text) - len(text.lstrip())].count("\n") >= 2:
            chunks[0] = replace(chunks[0], paragraph_start=True)
        if chunks and message.more and not looks_complete(chunks[-1].text, 0, len(chunks[-1].text)):
            chunks[-1] = replace(chunks[-1], sentence_end=False)
        self._enqueue(request, chunks)
        state.send(peer, Accepted(request_id, part, len(request.jobs)))
        LOGGER.debug("request %s part %d: %d chars, %d chunks", request_id, part, len(text), len(chunks))
        self.collector.emit_ready(request)

    def _enqueue(self, request: Request, chunks: list[Chunk]) -> None:
        """Each chunk joins the request's queue; the cache is asked when its turn comes
        (:meth:`Collector.serve_cached`), so a cached document is never loaded whole."""
        now = self.state.clock()
        for chunk in chunks:
            request.jobs.append(Job(chunk, self._chunk_key(request, chunk.text), now))
            request.pending.append(chunk.index)

    def _workers_for(self, voice: str | None) -> int:
        """How many connected workers hold ``voice`` (at least 1): the chunker packs each chunk a share of what is left."""
        return max(1, sum(1 for w in self.state.workers.values() if voice is None or w.voice == voice))

    def _open(self, peer: bytes, message: Submit) -> Request:
        service, chunker = self.state.settings.service, self.state.settings.chunker
        voice, query = self.resolve_voice(message.voice, message.params)
        max_chars = message.max_chunk_chars or chunker.max_chunk_chars
        first_chars = message.first_chunk_chars or chunker.first_chunk_chars
        now = self.state.clock()
        return Request(
            id=message.request_id,
            client=peer,
            voice=voice,
            voice_query=query,
            params=message.params,
            use_cache=message.use_cache and self.state.cache is not None,
            max_chunk_chars=max_chars,
            first_chunk_chars=min(first_chars, max_chars),
            created=now,
            deadline=now + (message.deadline_s or service.request_deadline_s),
            unserved_since=now,  # until a worker for it is seen (see deadlines.unserved)
            normalize=message.normalize,
        )

    def resolve_voice(self, requested: str | None, params: SynthesisParams) -> tuple[str | None, str | None]:
        """``(voice name, None)`` for the voice a request uses, checked with its speaker.

        With no worker connected yet nothing can be checked: ``(None, requested)``, and the
        first worker whose voice matches takes the request.
        """
        offered = self.state.voices()
        if not offered:
            return None, requested
        chosen = choose_voice(requested, offered.values(), self.default_voice)
        if chosen is None:
            available = ", ".join(f"{v.name} ({v.language or v.espeak_voice})" for v in offered.values())
            raise ProtocolError(ErrorCode.UNKNOWN_VOICE, f"unknown voice {requested!r}; available: {available}")
        if params.speaker >= chosen.num_speakers:
            raise ProtocolError(
                ErrorCode.BAD_PARAM,
                f"unknown speaker {params.speaker}; voice {chosen.name!r} has {chosen.num_speakers} speaker(s)",
            )
        return chosen.name, None

    def _check_capacity(self, new_chunks: int, new_bytes: int) -> None:
        service = self.state.settings.service
        requests = self.state.requests.values()
        queued = sum(len(r.pending) for r in requests)
        queued_bytes = sum(len(r.jobs[i].chunk.text.encode()) for r in requests for i in r.pending)
        if queued + new_chunks > service.max_queued_chunks or queued_bytes + new_bytes > service.max_queued_bytes:
            raise ProtocolError(
                ErrorCode.BUSY,
                f"busy: {queued} chunks ({queued_bytes} bytes) queued; this request would pass the limit of "
                f"{service.max_queued_chunks} chunks / {service.max_queued_bytes} bytes. Retry later.",
            )

    # ----- the cache --------------------------------------------------------------------------

    def _document_chunks(self, request: Request) -> list[Chunk]:
        """The chunk list of a document seen before (its document-level entry), if cached.

        The document entry holds the chunking only; audio comes from the chunk entries, so
        nothing is stored twice and a chunk evicted since is simply synthesized again.
        """
        cached = self.collector.cache_get(request.doc_key)
        if cached is None:
            return []
        try:
            chunks = [Chunk(**fields) for fields in cached.meta.get("chunks", [])]
        except TypeError:  # written by a version whose Chunk had other fields: chunk the text again
            return []
        request.doc_hit = True
        return chunks

    def _voice(self, request: Request) -> tuple[str, dict[str, object]] | None:
        """The voice hash and what else shapes the audio of the request's chunks; None: no caching.

        A normalized chunk is read by the worker's normalizer (its language and rules' version,
        from READY); the producer removed the markup, so the text sent carries that already.
        """
        worker = self.state.worker_with(request.voice) if request.use_cache else None
        if worker is None or not worker.ready.voice_hash:  # "": the voice is not identified
            return None
        normalizer = worker.ready.normalizer if request.normalize else None
        return worker.ready.voice_hash, {**request.params.to_wire(), "format": "pcm_s16le_mono", "read": normalizer}

    def _chunk_key(self, request: Request, text: str) -> str | None:
        voice = self._voice(request)
        return cache_key("chunk", text, *voice) if voice else None

    def _doc_key(self, request: Request, text: str) -> str | None:
        voice = self._voice(request)
        if voice is None:
            return None
        chunking = {"max_chunk_chars": request.max_chunk_chars, "first_chunk_chars": request.first_chunk_chars}
        return cache_key("doc", text, voice[0], {**voice[1], **chunking})
