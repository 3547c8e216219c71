"""The producer API for the LLM stage: text streams in, ordered audio streams out.

Unit tests drive :class:`AsyncClient` against an in-process fake broker (time-based flush,
Lazy-Pirate retry, cancellation). End-to-end tests use the session service (two real Piper
workers) and check behaviour only: ordering, completeness, which request finished first,
what the broker still holds after a cancel, and that audio starts before the text ends.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import soundfile
import zmq
import zmq.asyncio

from swtts.client import AsyncClient, AudioChunk, Client, SynthesisOptions, UnavailableError
from swtts.config import Settings, load_settings
from swtts.pipeline.normalize import strip_markup
from swtts.protocol import (
    Audio,
    Cancel,
    Done,
    ErrorCode,
    QueueStatus,
    RequestTimings,
    StatusReply,
    Submit,
    WorkerState,
    decode,
)
from swtts.service import EmbeddedService
from tests.helpers import ARTICLE, REPO, swtts_command, tcp_endpoint, wait_for

e2e = pytest.mark.e2e
FAST = SynthesisOptions(length_scale=0.3, noise_scale=0.0, noise_w=0.0)
WAIT_S = 60.0  # only a guard against hanging; no test asserts a duration
T = TypeVar("T")


def squeeze(text: str) -> str:
    return "".join(text.split())


def odd_pieces(text: str, sizes: tuple[int, ...] = (1, 4, 7, 2, 11, 3, 5)) -> list[str]:
    """Cut text at awkward places: inside words, right after a period, before a space."""
    pieces, position, turn = [], 0, 0
    while position < len(text):
        size = sizes[turn % len(sizes)]
        pieces.append(text[position : position + size])
        position += size
        turn += 1
    return pieces


def assert_complete_and_ordered(chunks: list[AudioChunk], text: str) -> None:
    """Every chunk, in order, together the whole text (as sent: its markup removed)."""
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert chunks[-1].total == len(chunks)
    assert squeeze("".join(chunk.text for chunk in chunks)) == squeeze(strip_markup(text).spoken)


def live(status: StatusReply) -> list[Any]:
    return [w for w in status.workers if w.state is not WorkerState.DEAD]


def live_chunks_done(status: StatusReply) -> int:
    return sum(w.chunks_done for w in live(status))


def wait_for_idle(client: Client) -> StatusReply:
    """The broker's status once no request is open and no worker is busy."""

    def idle() -> StatusReply | None:
        status = client.status()
        return status if status.queue.requests == 0 and not any(w.in_flight for w in live(status)) else None

    return wait_for(idle, WAIT_S, "the broker to go idle")


# ----- unit: AsyncClient against a fake broker ---------------------------------------------


class FakeBroker:
    """A ROUTER on inproc that records what producers send and answers closed requests.

    It ignores the first ``ignore`` requests it sees (a broker gone silent) and answers
    every part of the others at once with one silent AUDIO chunk, then DONE at the close.
    """

    def __init__(self, ignore: int = 0) -> None:
        self.endpoint = f"inproc://fake-broker-{uuid.uuid4().hex}"
        self.socket = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.endpoint)
        self.ignore = ignore
        self.request_ids: list[str] = []
        self.parts: dict[str, list[str]] = {}
        self.cancels: list[str] = []
        self.part_seen = asyncio.Event()
        self.cancel_seen = asyncio.Event()

    async def serve(self) -> None:
        while True:
            peer, *frames = await self.socket.recv_multipart()
            message = decode(frames)
            if isinstance(message, Cancel):
                self.cancels.append(message.request_id)
                self.cancel_seen.set()
                continue
            if not isinstance(message, Submit):
                continue
            request_id = message.request_id
            if request_id not in self.parts:
                self.request_ids.append(request_id)
                self.parts[request_id] = []
            texts = self.parts[request_id]
            if message.text is not None:
                texts.append(message.text)
                self.part_seen.set()
            if self.request_ids.index(request_id) < self.ignore:
                continue
            closed = not message.more
            if message.text is not None:
                audio = Audio(
                    request_id=request_id,
                    index=len(texts) - 1,
                    text=texts[-1],
                    pcm=bytes(320),
                    sample_rate=16000,
                    sentence_samples=(160,),
                    total=len(texts) if closed else None,
                    synth_ms=1.0,
                    queued_ms=0.5,
                )
                await self.socket.send_multipart([peer, *audio.encode()])
            if closed:
                timings = RequestTimings(2.0, 1.0, 0.5, 1.0, 0)
                await self.socket.send_multipart([peer, *Done(request_id, len(texts), 0.01, timings).encode()])

    def close(self) -> None:
        self.socket.close(linger=0)


def fake_settings(**changes: Any) -> Settings:
    return load_settings().override(**changes)


async def with_broker(broker: FakeBroker, body: Awaitable[T]) -> T:
    server = asyncio.create_task(broker.serve())
    try:
        return await asyncio.wait_for(body, WAIT_S)
    finally:
        server.cancel()
        broker.close()


def test_async_stream_time_flushes_while_waiting_for_the_next_token() -> None:
    """A stalled token stream without punctuation still reaches the broker after flush_after_s."""
    settings = fake_settings(stream__flush_after_s=0.2, stream__flush_chars=500)

    async def main() -> tuple[list[str], bool]:
        broker = FakeBroker()
        flushed_while_waiting = False

        async def tokens() -> AsyncIterator[str]:
            nonlocal flushed_while_waiting
            for token in ["the ", "answer ", "is ", "coming "]:
                yield token
            # The next token only comes once the broker has the text so far: the old client,
            # which flushed only when a token arrived, would wait here for the guard to expire.
            try:
                await asyncio.wait_for(broker.part_seen.wait(), 10)
                flushed_while_waiting = True
            except TimeoutError:
                pass
            yield "soon."

        async def consume() -> list[str]:
            client = AsyncClient(broker.endpoint, settings)
            return [chunk.text async for chunk in client.stream(tokens())]

        texts = await with_broker(broker, consume())
        return texts, flushed_while_waiting

    texts, flushed_while_waiting = asyncio.run(main())
    assert flushed_while_waiting
    assert texts == ["the answer is coming", "soon."]


def test_async_stream_accepts_a_plain_iterable_and_odd_splits() -> None:
    text = "Dr. Smith arrived at 3.45 p.m. on Monday. He said hello! Then he left, quietly."

    async def main() -> list[str]:
        broker = FakeBroker()
        client = AsyncClient(broker.endpoint, fake_settings())
        return await with_broker(broker, _collect(client.stream(odd_pieces(text))))

    texts = asyncio.run(main())
    assert texts == ["Dr. Smith arrived at 3.45 p.m. on Monday.", "He said hello!", "Then he left, quietly."]


async def _collect(stream: AsyncIterator[AudioChunk]) -> list[str]:
    return [chunk.text async for chunk in stream]


def test_async_slow_first_token_is_not_taken_for_a_silent_broker() -> None:
    """Before anything is sent there is nothing to wait for, however long the LLM thinks."""
    settings = fake_settings(service__client_timeout_s=0.3, service__client_retries=0)

    async def tokens() -> AsyncIterator[str]:
        await asyncio.sleep(0.8)  # the point: the LLM thinks longer than client_timeout_s
        yield "Finally."

    async def main() -> tuple[list[str], int]:
        broker = FakeBroker()
        client = AsyncClient(broker.endpoint, settings)
        texts = await with_broker(broker, _collect(client.stream(tokens())))
        return texts, len(broker.request_ids)

    assert asyncio.run(main()) == (["Finally."], 1)


def test_async_stream_retries_a_silent_broker_with_the_parts_replayed() -> None:
    settings = fake_settings(service__client_timeout_s=0.3, service__client_retries=2)

    async def main() -> tuple[list[str], FakeBroker]:
        broker = FakeBroker(ignore=1)
        client = AsyncClient(broker.endpoint, settings)
        texts = await with_broker(broker, _collect(client.stream(["First part. ", "Second part."])))
        return texts, broker

    texts, broker = asyncio.run(main())
    assert texts == ["First part.", "Second part."]
    assert len(broker.request_ids) == 2
    first, second = (broker.parts[rid] for rid in broker.request_ids)
    assert first == second == ["First part.", "Second part."]


def test_async_stream_gives_up_with_a_clear_error() -> None:
    settings = fake_settings(service__client_timeout_s=0.1, service__client_retries=1)

    async def main() -> int:
        broker = FakeBroker(ignore=100)
        client = AsyncClient(broker.endpoint, settings)
        with pytest.raises(UnavailableError) as failure:
            await with_broker(broker, _collect(client.stream("Is anybody there?")))
        assert failure.value.code is ErrorCode.UNAVAILABLE
        assert broker.endpoint in str(failure.value) and "did not answer" in str(failure.value)
        return len(broker.request_ids)

    assert asyncio.run(main()) == 2  # the first try and one retry


def test_unreachable_broker_is_a_clear_error() -> None:
    settings = load_settings().override(service__client_timeout_s=0.3, service__client_retries=1)
    with Client(tcp_endpoint(), settings) as client:
        with pytest.raises(UnavailableError) as failure:
            client.synthesize("Anyone there?")
        assert failure.value.code == "unavailable"
        with pytest.raises(UnavailableError) as no_ping:
            client.ping(timeout_s=0.3)
        assert no_ping.value.code == "unavailable"


def test_async_stream_reports_a_failing_token_source() -> None:
    async def tokens() -> AsyncIterator[str]:
        yield "Some text. "
        raise RuntimeError("the LLM connection dropped")

    async def main() -> None:
        broker = FakeBroker()
        client = AsyncClient(broker.endpoint, fake_settings())
        with pytest.raises(RuntimeError, match="LLM connection dropped"):
            await with_broker(broker, _collect(client.stream(tokens())))

    asyncio.run(main())


def test_async_break_cancels_the_request_and_the_token_source() -> None:
    source_closed = False

    async def tokens() -> AsyncIterator[str]:
        nonlocal source_closed
        try:
            yield "One. Two. "
            await asyncio.Event().wait()  # an LLM that never finishes
            yield "never"
        finally:
            source_closed = True

    async def main() -> tuple[FakeBroker, str]:
        broker = FakeBroker()
        client = AsyncClient(broker.endpoint, fake_settings())

        async def body() -> str:
            async for chunk in client.stream(tokens()):  # noqa: B007 - the chunk is read after the loop
                break
            await broker.cancel_seen.wait()
            return chunk.text

        return broker, await with_broker(broker, body())

    broker, text = asyncio.run(main())
    assert text == "One."
    assert broker.cancels == broker.request_ids
    assert source_closed


# ----- end to end: the session service with two real workers ------------------------------


@e2e
def test_concurrent_producers_each_get_their_own_chunks_in_order(service: EmbeddedService, settings: Settings) -> None:
    names = ["Alpha", "Bravo", "Charlie"]
    documents = {
        name: " ".join(f"{name} says line {n} of {len(names) + 2}, and then keeps going." for n in range(1, 6))
        for name in names
    }
    results: dict[str, list[AudioChunk]] = {}
    errors: list[BaseException] = []

    def produce(name: str, as_tokens: bool) -> None:
        try:
            with Client(service.endpoint, settings) as client:
                text = documents[name]
                source = iter(odd_pieces(text)) if as_tokens else text
                results[name] = list(client.stream(source, replace(FAST, max_chunk_chars=60, use_cache=False)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(name, i == 2)) for i, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert not errors, errors
    for name in names:
        chunks = results[name]
        assert len(chunks) >= 3
        assert_complete_and_ordered(chunks, documents[name])
        assert all(name in chunk.text and not any(o in chunk.text for o in names if o != name) for chunk in chunks)
        assert {chunk.sample_rate for chunk in chunks} == {22050} and all(chunk.pcm for chunk in chunks)


@e2e
def test_cancelled_stream_frees_the_workers_and_spares_other_producers(
    service: EmbeddedService, settings: Settings
) -> None:
    other_text = ARTICLE[:1200]
    other: list[AudioChunk] = []
    errors: list[BaseException] = []

    def other_producer() -> None:
        try:
            with Client(service.endpoint, settings) as client:
                other.extend(client.stream(other_text, replace(FAST, max_chunk_chars=200, use_cache=False)))
        except BaseException as exc:
            errors.append(exc)

    with Client(service.endpoint, settings) as client:
        before = wait_for_idle(client)
        capacity = sum(w.capacity for w in live(before))
        thread = threading.Thread(target=other_producer)
        stream = client.stream(ARTICLE + "\n\n" + ARTICLE, replace(FAST, max_chunk_chars=200, use_cache=False))
        thread.start()
        first = next(stream)
        stream.close()
        thread.join(WAIT_S)
        assert not errors, errors
        short = client.synthesize("Served right after the cancel.", replace(FAST, use_cache=False))
        after = wait_for_idle(client)

    assert first.index == 0
    assert_complete_and_ordered(other, other_text)
    assert short.chunks and short.audio.size > 0
    assert after.queue == QueueStatus(0, 0, 0)
    # Of the cancelled document (about 60 chunks) only what had been handed out was spoken:
    # its queued chunks were dropped, not synthesized ahead of the request that came after.
    synthesized = live_chunks_done(after) - live_chunks_done(before)
    assert synthesized <= 1 + capacity + len(other) + len(short.chunks), synthesized


@e2e
def test_short_reply_finishes_while_a_long_document_is_in_progress(
    service: EmbeddedService, settings: Settings
) -> None:
    long_started = threading.Event()
    finished: dict[str, float] = {}
    long_chunks: list[AudioChunk] = []

    def long_producer() -> None:
        with Client(service.endpoint, settings) as client:
            for chunk in client.stream(ARTICLE, replace(FAST, max_chunk_chars=300, use_cache=False)):
                long_chunks.append(chunk)
                long_started.set()
        finished["long"] = time.monotonic()

    thread = threading.Thread(target=long_producer)
    thread.start()
    assert long_started.wait(WAIT_S)
    with Client(service.endpoint, settings) as client:
        short = client.synthesize("Yes, of course.", replace(FAST, use_cache=False))
        finished["short"] = time.monotonic()
        received_by_then = len(long_chunks)
    thread.join(WAIT_S)
    assert finished["short"] < finished["long"]
    assert received_by_then < len(long_chunks)
    assert_complete_and_ordered(long_chunks, ARTICLE)
    assert short.chunks[-1].total == len(short.chunks)


@e2e
def test_async_api_streams_tokens_and_cancels_by_breaking_out(service: EmbeddedService, settings: Settings) -> None:
    text = "The async client takes tokens. It speaks them in order! Does it finish? It does."

    async def tokens() -> AsyncIterator[str]:
        for piece in odd_pieces(text):
            yield piece
            await asyncio.sleep(0.005)  # tokens arrive over time, as from an LLM

    async def main() -> tuple[list[AudioChunk], AudioChunk | None]:
        client = AsyncClient(service.endpoint, settings)
        chunks = [chunk async for chunk in client.stream(tokens(), replace(FAST, use_cache=False))]
        first = None
        async for chunk in client.stream(ARTICLE, replace(FAST, max_chunk_chars=200, use_cache=False)):
            first = chunk
            break
        await asyncio.sleep(0)  # let the abandoned generator's clean-up (the CANCEL) run
        return chunks, first

    with Client(service.endpoint, settings) as client:
        before = wait_for_idle(client)
        chunks, first = asyncio.run(main())
        after = wait_for_idle(client)
    assert_complete_and_ordered(chunks, text)
    assert first is not None and first.index == 0
    assert after.queue == QueueStatus(0, 0, 0)
    capacity = sum(w.capacity for w in live(before))
    synthesized = live_chunks_done(after) - live_chunks_done(before)
    assert synthesized <= len(chunks) + 1 + capacity, synthesized  # not the ~30 chunks of the article
    whole = asyncio.run(AsyncClient(service.endpoint, settings).synthesize("Async synthesis has timings.", FAST))
    assert whole.duration_s > 0.3 and whole.timings["total_ms"] > 0 and "assembly_ms" in whole.timings


@e2e
def test_token_stream_speaks_the_same_text_and_starts_before_the_llm_finishes(
    service: EmbeddedService, settings: Settings
) -> None:
    text = (
        "Here is the first sentence. Then, a second one follows it. Mr. Brown paid $3.50 for it; "
        "cheap!\n\nA new paragraph starts here. And the last sentence ends the reply."
    )
    first_audio = threading.Event()
    spoke_before_end: list[bool] = []
    stall_after = text.index("Then") + 3  # the first sentence is confirmed by the capital after it

    def llm() -> Iterator[str]:
        sent = 0
        for piece in odd_pieces(text):
            yield piece
            sent += len(piece)
            if sent >= stall_after and not spoke_before_end:
                spoke_before_end.append(first_audio.wait(WAIT_S))

    chunks: list[AudioChunk] = []
    with Client(service.endpoint, settings) as client:
        for chunk in client.stream(llm(), replace(FAST, use_cache=False)):
            chunks.append(chunk)
            first_audio.set()
    assert spoke_before_end == [True]
    assert_complete_and_ordered(chunks, text)
    assert chunks[0].text == "Here is the first sentence."
    assert any(chunk.paragraph_start for chunk in chunks)


@e2e
def test_chunk_timings_add_up_and_first_audio_does_not_wait_for_the_document(
    service: EmbeddedService, settings: Settings
) -> None:
    first_sentence = ARTICLE.split("\n", 1)[0]
    with Client(service.endpoint, settings) as client:
        stream = client.stream(ARTICLE, replace(FAST, use_cache=False))
        time.sleep(0.3)  # received_ms counts from the first next(), not from creating the stream
        began = time.perf_counter()
        chunks = list(stream)
        elapsed_ms = (time.perf_counter() - began) * 1000
        alone = list(client.stream(first_sentence, replace(FAST, use_cache=False)))
    timings = stream.timings
    assert chunks[-1].received_ms <= elapsed_ms + 1
    assert timings["client_total_ms"] <= elapsed_ms + 1
    for chunk in chunks:
        assert chunk.synth_ms > 0 and chunk.queued_ms >= 0 and not chunk.cached
        # Queue wait (broker) and synthesis (worker) both happen before the client has the audio.
        assert chunk.received_ms + 1 >= chunk.queued_ms + chunk.synth_ms, chunk
    received = [chunk.received_ms for chunk in chunks]
    assert received == sorted(received)
    assert abs(timings["synth_ms"] - sum(c.synth_ms for c in chunks)) < 1 + 0.001 * timings["synth_ms"]
    assert abs(timings["queued_ms"] - sum(c.queued_ms for c in chunks)) < 1 + 0.001 * max(1.0, timings["queued_ms"])
    # The first chunk is the same short sentence whether it opens a 5,800-character article
    # or stands alone, so the wait for the first audio does not grow with the document.
    first_chunk_chars = settings.chunker.first_chunk_chars
    assert chunks[0].text == alone[0].text == first_sentence and len(chunks[0].text) <= first_chunk_chars
    assert len(chunks[1].text) > len(chunks[0].text)
    assert timings["first_audio_ms"] < timings["total_ms"] / 3


@e2e
def test_cli_stream_pipes_pcm_as_text_arrives_and_writes_a_wav(
    service: EmbeddedService, settings: Settings, tmp_path: Path
) -> None:
    text = (
        "Streaming from a pipe works. The audio starts before the text ends. "
        "Every sentence is spoken once, in order.\n\nEven across a paragraph break."
    )
    common = [
        "--connect",
        service.endpoint,
        "--no-cache",
        "--length-scale",
        "0.3",
        "--noise-scale",
        "0",
        "--noise-w",
        "0",
    ]
    split = text.index("The audio") + 3
    process = subprocess.Popen(
        swtts_command("say", "--stream", "-o", "-", "--file", "-", *common),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    pcm = bytearray()
    audio_arrived = threading.Event()

    def read_stdout() -> None:
        assert isinstance(process.stdout, io.BufferedReader)
        while data := process.stdout.read1(65536):
            pcm.extend(data)
            audio_arrived.set()

    reader = threading.Thread(target=read_stdout)
    reader.start()
    process.stdin.write(text[:split].encode())  # no newline yet: an LLM mid-line
    process.stdin.flush()
    arrived_before_end = audio_arrived.wait(WAIT_S)
    process.stdin.write(text[split:].encode())
    process.stdin.close()
    reader.join(WAIT_S)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.wait(WAIT_S) == 0, stderr
    assert arrived_before_end

    reference = tmp_path / "reference.wav"
    streamed = tmp_path / "streamed.wav"
    (tmp_path / "text.txt").write_text(text)
    for extra, out in (([], reference), (["--stream"], streamed)):
        done = subprocess.run(
            swtts_command("say", *extra, "--file", str(tmp_path / "text.txt"), "-o", str(out), *common),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert done.returncode == 0, done.stderr
    ref_info, streamed_info = soundfile.info(str(reference)), soundfile.info(str(streamed))
    assert streamed_info.format == "WAV" and streamed_info.samplerate == 22050 and streamed_info.channels == 1
    assert len(pcm) % 2 == 0
    for frames in (len(pcm) // 2, streamed_info.frames):
        assert abs(frames - ref_info.frames) / ref_info.frames < 0.04, (frames, ref_info.frames)
    assert not list(tmp_path.glob(".streamed.wav*")), "temporary file left behind"
