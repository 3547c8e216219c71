"""Reliability and security: under faults, load and bad input the service keeps working,
loses nothing it accepted, and lets in only whom it should.

Everything here runs real processes (``swtts serve``, ``swtts worker``, ``swtts say``), real
ZeroMQ sockets on loopback and the real voice. Synthesis is made cheap where its content does
not matter (``length_scale=0.3``, no noise, no cache). Waits are bounded polls for a state;
no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from swtts.client import AudioChunk, InvalidRequestError, SynthesisOptions, TTSError
from swtts.pipeline.normalize import strip_markup
from swtts.protocol import (
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION,
    Accepted,
    Audio,
    Cancel,
    Disconnect,
    Done,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Message,
    MsgType,
    Ping,
    PingReply,
    Ready,
    Result,
    StatusQuery,
    StatusReply,
    Submit,
    SynthesisParams,
    Task,
    VoiceDescription,
    WorkerState,
    decode,
)
from tests import helpers
from tests.crash_worker import MARKER_ENV
from tests.helpers import (
    ARTICLE,
    START_TIMEOUT_S,
    Processes,
    Service,
    alive,
    free_port,
    run_swtts,
    start_swtts,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.e2e

FAST_PARAMS = SynthesisParams(length_scale=0.3, noise_scale=0.0, noise_w=0.0)
FAST = SynthesisOptions(length_scale=0.3, noise_scale=0.0, noise_w=0.0, use_cache=False)
MAX_TEXT_CHARS = 3000


# ----- processes ----------------------------------------------------------------------------

QUICK: dict[str, dict[str, Any]] = {
    "cache": {"enabled": False},
    "service": {"heartbeat_interval_s": 0.5, "heartbeat_liveness": 4},
    "voice": {"threads": 1},
}


def write_config(path: Path, **sections: dict[str, Any]) -> Path:
    """A TOML config: no cache, quick heartbeats, one thread per worker, plus ``sections``."""
    return helpers.write_config(path, QUICK, **sections)


def squash(text: str) -> str:
    return "".join(text.split())


def assert_complete(chunks: list[AudioChunk], document: str) -> None:
    """Every chunk exactly once, in order, with audio, together covering the document (as sent: its markup removed)."""
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert all(chunk.pcm for chunk in chunks)
    assert chunks[-1].total == len(chunks)
    assert squash("".join(chunk.text for chunk in chunks)) == squash(strip_markup(document).spoken)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop_all()


# ----- a raw peer, for what the Client would never send --------------------------------------


class RawPeer:
    """A bare DEALER speaking (or breaking) the wire protocol directly."""

    def __init__(self, endpoint: str) -> None:
        self.socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def close(self) -> None:
        self.socket.close(linger=0)

    def send(self, frames: list[bytes]) -> None:
        self.socket.send_multipart(frames)

    def next(self, accept: Callable[[Message], bool], timeout: float = 30.0) -> Message:
        """The next message ``accept`` wants, skipping heartbeats, audio and the like."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.socket.poll(int(left * 1000) + 1):
                message = decode(self.socket.recv_multipart())
                if accept(message):
                    return message
        raise AssertionError("no answer from the broker")

    def error_after(self, frames: list[bytes]) -> Error:
        self.send(frames)
        error = self.next(lambda m: isinstance(m, Error) and m.code is not ErrorCode.UNKNOWN_PEER)
        assert isinstance(error, Error)
        return error

    def ping(self, timeout: float = 30.0) -> PingReply:
        ping = Ping(uuid.uuid4().hex)
        self.send(ping.encode())
        reply = self.next(lambda m: isinstance(m, PingReply) and m.echo == ping.echo, timeout)
        assert isinstance(reply, PingReply)
        return reply

    def outcome(self, request_id: str, timeout: float = 60.0) -> Done | Error:
        """The final word (done or error) on one request."""
        final = self.next(lambda m: isinstance(m, (Done, Error)) and m.request_id == request_id, timeout)
        assert isinstance(final, (Done, Error))
        return final


def submit(text: bytes | None, rid: str | None = None, **fields: Any) -> list[bytes]:
    """SUBMIT frames as a raw peer sends them; ``fields`` replace header fields, valid or not."""
    header = json.loads(Submit(rid or uuid.uuid4().hex, "-", params=FAST_PARAMS, use_cache=False).encode()[0])
    header.update(fields)
    return [json.dumps(header).encode()] + ([text] if text is not None else [])


def with_fields(message: Message, **fields: Any) -> list[bytes]:
    """``message``'s frames with header fields replaced (to break them)."""
    frames = message.encode()
    return [json.dumps({**json.loads(frames[0]), **fields}).encode(), *frames[1:]]


def raw_header(header: bytes, payload: bytes | None = b"Hello.") -> list[bytes]:
    return [header] + ([payload] if payload is not None else [])


def header(fields: str) -> bytes:
    """A header of this protocol version with ``fields`` written as raw JSON (NaN, 1e999 and all)."""
    return f'{{"v":{PROTOCOL_VERSION}{"," if fields else ""}{fields}}}'.encode()


# ----- a shared service for the cheap tests ---------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One broker and one worker for the bad-input, fuzz and deadline tests."""
    directory = tmp_path_factory.mktemp("shared")
    processes = Processes(directory)
    config = write_config(directory / "config.toml", service={"max_text_chars": MAX_TEXT_CHARS})
    service = Service(processes, config, workers=1)
    try:
        service.wait_ready(1)
        yield service
    finally:
        processes.stop_all()


def speaks(service: Service) -> None:
    """The service still answers a normal request completely."""
    with service.client() as client:
        result = client.synthesize("Still here. Still speaking.", FAST)
    assert_complete(result.chunks, "Still here. Still speaking.")


# ----- workers dying --------------------------------------------------------------------------


def test_worker_killed_mid_document_loses_nothing_and_is_restarted(processes: Processes, tmp_path: Path) -> None:
    service = Service(processes, write_config(tmp_path / "config.toml"), workers=2)
    service.wait_ready(2)
    original = service.worker_pids()
    killed: list[int] = []

    def kill_a_busy_worker(chunk: AudioChunk) -> None:
        if chunk.index == 2:
            victim = min(service.worker_pids(WorkerState.BUSY))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with service.client() as client:
        result = client.synthesize(ARTICLE, replace(FAST, max_chunk_chars=200), on_chunk=kill_a_busy_worker)
    assert_complete(result.chunks, ARTICLE)
    assert killed and killed[0] in original

    def restarted() -> StatusReply | None:
        status = service.status()
        ready = {int(w.worker.rsplit(":", 1)[1]) for w in status.workers if w.state is WorkerState.READY}
        return status if len(ready) == 2 and ready - original else None

    status = wait_for(restarted, START_TIMEOUT_S, "the supervisor to restart the killed worker")
    dead = [w for w in status.workers if w.state is WorkerState.DEAD and w.worker.endswith(f":{killed[0]}")]
    assert len(dead) == 1, status.workers
    assert dead[0].in_flight >= 1, "the killed worker held a chunk, which had to be re-queued"


def test_poison_chunk_fails_its_request_after_max_attempts(processes: Processes, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", service={"max_attempts": 3})
    service = Service(processes, config, workers=0)
    marker = "Poison pill"
    crashers = [
        start_worker(processes, service.endpoint, config, "tests.crash_worker", {MARKER_ENV: marker}) for _ in range(3)
    ]
    service.wait_ready(3)
    with service.client() as client, pytest.raises(TTSError) as failure:
        client.synthesize(f"{marker} in this sentence kills every worker that speaks it.", FAST)
    assert failure.value.code == "worker_lost"
    assert "tried 3 times" in failure.value.message
    assert [process.wait(timeout=30) for process in crashers] == [-signal.SIGKILL] * 3
    assert len([w for w in service.status().workers if w.state is WorkerState.DEAD]) == 3
    start_worker(processes, service.endpoint, config)
    service.wait_ready(1)
    speaks(service)
    service.wait_idle()


# ----- the broker going away ------------------------------------------------------------------


def test_client_and_workers_survive_a_broker_restart(processes: Processes, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml",
        service={"reconnect_initial_s": 0.1, "reconnect_max_s": 1.0, "no_worker_timeout_s": 60},  # the worker rejoins
    )
    first = Service(processes, config, workers=0)
    worker = start_worker(processes, first.endpoint, config)
    first.wait_ready(1)
    document = ARTICLE[:1500].rsplit(".", 1)[0] + "."
    received = threading.Event()
    outcome: dict[str, Any] = {}

    def on_chunk(chunk: AudioChunk) -> None:
        if chunk.index == 1:
            received.set()

    def speak() -> None:
        try:
            with first.client(client_timeout_s=1.5, client_retries=20) as client:
                outcome["result"] = client.synthesize(document, replace(FAST, max_chunk_chars=100), on_chunk=on_chunk)
        except Exception as exc:  # reported by the main thread
            outcome["error"] = exc

    speaker = threading.Thread(target=speak)
    speaker.start()
    assert received.wait(START_TIMEOUT_S), "no audio before the restart"
    first.process.kill()
    first.process.wait()
    second = Service(processes, config, workers=0, endpoint=first.endpoint)
    speaker.join(START_TIMEOUT_S)
    assert not speaker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert_complete(outcome["result"].chunks, document)
    assert "done:" in second.log_text(), "the client resubmitted to the new broker, which finished the request"
    assert worker.poll() is None, "the worker lived through the restart"
    assert second.worker_pids() == {worker.pid}, "the worker re-registered with the new broker"
    with second.client() as client:
        late = client.synthesize("Served after the restart.", FAST)
    assert late.chunks[0].worker.endswith(f":{worker.pid}")


def test_client_gives_up_clearly_when_the_broker_never_returns(processes: Processes, tmp_path: Path) -> None:
    service = Service(
        processes,
        write_config(tmp_path / "config.toml", service={"heartbeat_interval_s": 0.25, "no_worker_timeout_s": 600}),
        workers=0,
    )
    wait_for(lambda: service.status(), 60.0, "the broker")
    outcome: dict[str, Any] = {}

    def speak() -> None:
        try:
            with service.client(client_timeout_s=2.0, client_retries=2) as client:
                client.synthesize("Nobody will ever say this.", FAST)
        except TTSError as exc:
            outcome["error"] = exc

    speaker = threading.Thread(target=speak)
    speaker.start()
    wait_for(lambda: service.status().queue.requests == 1, 30.0, "the request to be queued")
    time.sleep(3.0)  # the point: longer than client_timeout_s, so only the broker's heartbeats keep it waiting
    assert speaker.is_alive() and not outcome, "broker heartbeats keep a waiting client from giving up"
    service.process.kill()
    speaker.join(60)
    assert not speaker.is_alive()
    error = outcome["error"]
    assert error.code == "unavailable"
    assert "after 2 retries" in error.message and service.endpoint in error.message


# ----- deadlines and load ---------------------------------------------------------------------


def test_tiny_deadline_times_out_and_the_service_goes_on(shared: Service) -> None:
    with shared.client() as client, pytest.raises(TTSError) as failure:
        client.synthesize(ARTICLE[:2000], replace(FAST, deadline_s=0.001))
    assert failure.value.code == "timeout"
    assert "deadline" in failure.value.message
    speaks(shared)
    shared.wait_idle()


def test_flood_beyond_the_queue_bound_is_busy_not_lost(processes: Processes, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", service={"max_queued_chunks": 8})
    service = Service(processes, config, workers=1)
    service.wait_ready(1)
    text = b"First sentence here. Second sentence there. Third one ends it."
    peer = RawPeer(service.endpoint)
    ids = [uuid.uuid4().hex for _ in range(12)]
    audio: dict[str, list[int]] = {request_id: [] for request_id in ids}
    outcomes: dict[str, Done | Error] = {}

    def record(message: Message) -> bool:
        if isinstance(message, Audio):
            audio[message.request_id].append(message.index)
        elif isinstance(message, (Done, Error)) and message.request_id is not None:
            outcomes[message.request_id] = message
        return len(outcomes) == len(ids)

    try:
        for request_id in ids:
            peer.send(submit(text, request_id, max_chunk_chars=25, first_chunk_chars=25))
        peer.next(record, timeout=START_TIMEOUT_S)
    finally:
        peer.close()
    refused = {i: m for i, m in outcomes.items() if isinstance(m, Error)}
    done = {i: m for i, m in outcomes.items() if isinstance(m, Done)}
    assert refused and done
    assert {m.code for m in refused.values()} == {ErrorCode.BUSY}
    assert all("Retry later" in m.message for m in refused.values())
    assert all(audio[i] == [] for i in refused)
    assert all(audio[i] == list(range(m.chunks)) and len(audio[i]) > 1 for i, m in done.items())
    status = service.wait_idle()
    assert status.workers[0].state is WorkerState.READY
    speaks(service)


# ----- bad input ------------------------------------------------------------------------------


FAKE_READY = Ready(VoiceDescription("v", "xx_XX", "xx", 22050), "h", "cpu", "fake-host", 1)
BAD_INPUTS: dict[str, tuple[list[bytes], str]] = {
    "empty text": (submit(b""), "empty_text"),
    "whitespace only": (submit(b" \n\t  \n"), "empty_text"),
    "no text frame": (submit(None), "malformed"),
    "invalid utf-8": (submit(b"Hello \xff\xfe world."), "bad_utf8"),
    "truncated utf-8": (submit("Caf\u00e9".encode()[:-1]), "bad_utf8"),
    "overlong utf-8": (submit(b"A \xc0\xaf slash."), "bad_utf8"),
    "NUL": (submit(b"Hello\x00world."), "control_chars"),
    "escape": (submit(b"Hello \x1b[31mred\x1b[0m."), "control_chars"),
    "C1 control": (submit("Hello \u0085 there.".encode()), "control_chars"),
    "over max_text_chars": (submit(b"word " * (MAX_TEXT_CHARS // 5 + 1)), "too_long"),
    "unknown voice": (submit(b"Hello.", voice="xx_XX-nobody-low"), "unknown_voice"),
    "voice not a string": (submit(b"Hello.", voice=["a"]), "bad_param"),
    "negative length_scale": (submit(b"Hello.", params={"length_scale": -1.0}), "bad_param"),
    "negative noise_scale": (submit(b"Hello.", params={"noise_scale": -0.5}), "bad_param"),
    "zero length_scale": (submit(b"Hello.", params={"length_scale": 0}), "bad_param"),
    "infinite scale": (
        raw_header(header('"t":"submit","request_id":"inf","params":{"length_scale":1e999}')),
        "bad_param",
    ),
    "NaN scale": (raw_header(header('"t":"submit","request_id":"nan","params":{"length_scale":NaN}')), "malformed"),
    "scale as text": (submit(b"Hello.", params={"noise_w": "loud"}), "bad_param"),
    "unknown parameter": (submit(b"Hello.", params={"pitch": 2}), "bad_param"),
    "params not an object": (submit(b"Hello.", params=[1, 2]), "bad_param"),
    "unknown speaker": (submit(b"Hello.", params={"speaker": 7}), "bad_param"),
    "negative speaker": (submit(b"Hello.", params={"speaker": -1}), "bad_param"),
    "negative deadline": (submit(b"Hello.", deadline_s=-1), "bad_param"),
    "tiny chunks": (submit(b"Hello.", max_chunk_chars=5), "bad_param"),
    "no request id": (submit(b"Hello.", request_id=""), "malformed"),
    "more not a boolean": (submit(b"Hello.", more="yes"), "malformed"),
    "cache not a boolean": (submit(b"Hello.", use_cache=1), "bad_param"),
    "negative part": (submit(b"Hello.", part=-1), "malformed"),
    "part of nothing": (submit(b"Hello.", part=3), "unknown_request"),
    "not JSON": (raw_header(b"hello broker"), "malformed"),
    "truncated header": (raw_header(b'{"v":1,"t":"sub'), "malformed"),
    "header is a list": (raw_header(b'[1,"submit"]'), "malformed"),
    "header not UTF-8": (raw_header(b'{"v":1,"t":"\xff"}'), "malformed"),
    "empty frame": ([b""], "malformed"),
    "three frames": ([*submit(b"Hello."), b"extra"], "malformed"),
    "oversized header": ([b'{"v":1,"t":"ping","pad":"' + b"x" * MAX_HEADER_BYTES + b'"}'], "malformed"),
    "deep nesting": ([b'{"v":1,"t":"ping","x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"], "malformed"),
    "wrong version": (
        raw_header(json.dumps({"v": PROTOCOL_VERSION + 1, "t": "submit", "id": "v"}).encode()),
        "version",
    ),
    "no version": (raw_header(b'{"t":"ping"}', None), "version"),
    "unknown type": (raw_header(header('"t":"frobnicate"'), None), "unknown_type"),
    "no type": (raw_header(header(""), None), "unknown_type"),
    "payload on a ping": (raw_header(header('"t":"ping"'), b"extra"), "malformed"),
    "broker-only type": (Audio("x", 0, b"\x00\x00", 22050, text="Hi.").encode(), "unknown_type"),
    "ready without voice": (raw_header(header('"t":"ready","capacity":1'), None), "malformed"),
    "ready with bad capacity": (with_fields(FAKE_READY, capacity=10**6), "malformed"),
    "ready with bad sample rate": (
        with_fields(FAKE_READY, voice={**FAKE_READY.voice.to_wire(), "sample_rate": "fast"}),
        "malformed",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_code(shared: Service, case: str) -> None:
    frames, code = BAD_INPUTS[case]
    peer = RawPeer(shared.endpoint)
    try:
        error = peer.error_after(frames)
        assert error.code == code, error
        assert error.message and "\n" not in error.message, "every error says in one line what is wrong"
        assert peer.ping().workers == 1, "the broker keeps serving (and enrolled no bogus worker)"
    finally:
        peer.close()


def test_duplicate_request_id_is_refused(shared: Service) -> None:
    peer = RawPeer(shared.endpoint)
    try:
        request_id = uuid.uuid4().hex
        peer.send(submit(b"An open stream.", request_id, more=True))
        peer.next(lambda m: isinstance(m, Accepted))
        assert peer.error_after(submit(b"Again.", request_id)).code == "duplicate_request"
        peer.send(Cancel(request_id).encode())
        cancelled = peer.outcome(request_id)
        assert isinstance(cancelled, Error) and cancelled.code == "cancelled"
    finally:
        peer.close()


def test_only_the_chunks_worker_may_answer_for_it(shared: Service) -> None:
    """Another peer cannot fail, or slip audio into, someone else's request."""
    owner, blocker, intruder = (RawPeer(shared.endpoint) for _ in range(3))
    request_id, blocking_id = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        owner.send(submit(b"A stream that stays open.", request_id, more=True))
        owner.next(lambda m: isinstance(m, Audio) and m.index == 0)
        blocker.send(submit(ARTICLE[:600].encode(), blocking_id, params={}))  # keeps the one worker busy
        blocker.next(lambda m: isinstance(m, Accepted))
        owner.send(submit(b"And its last part.", request_id, part=1, more=False))
        owner.next(lambda m: isinstance(m, Accepted) and m.part == 1)
        for forged in (
            Result(request_id, 1, b"\x00\x00" * 99, 22050),
            Failed(request_id, 1, "forged"),
            Failed(request_id, 0, "forged"),
        ):
            intruder.send(forged.encode())
            refusal = intruder.next(lambda m: isinstance(m, Error))
            assert isinstance(refusal, Error) and refusal.code == "unknown_peer"
        blocker.send(Cancel(blocking_id).encode())
        audio = owner.next(lambda m: isinstance(m, Audio) and m.index == 1)
        assert isinstance(audio, Audio) and audio.text == "And its last part." and audio.worker != "?"
        assert isinstance(owner.outcome(request_id), Done)
    finally:
        for peer in (owner, blocker, intruder):
            peer.close()


@pytest.mark.parametrize("answer", ["failed", "odd-length pcm", "bad header"])
def test_a_worker_that_cannot_speak_a_chunk_fails_its_request_clearly(shared: Service, answer: str) -> None:
    """A worker's failure or garbage never leaves the producer waiting for the deadline."""
    worker, producer = RawPeer(shared.endpoint), RawPeer(shared.endpoint)
    voice = f"fake-{uuid.uuid4().hex[:6]}"
    request_id = uuid.uuid4().hex
    try:
        worker.send(Ready(VoiceDescription(voice, "xx_XX", "xx", 22050), voice, "cpu", "fake-host", 1).encode())
        assert voice in worker.ping().voices  # the broker has the READY before the request comes
        producer.send(submit(b"A chunk for the fake worker.", request_id, voice=voice))
        task = worker.next(lambda m: isinstance(m, Task))
        assert isinstance(task, Task)
        result = Result(task.request_id, task.index, b"\x00\x00", 22050)
        worker.send(
            {
                "failed": Failed(task.request_id, task.index, "voice exploded").encode(),
                "odd-length pcm": [result.encode()[0], b"\x00" * 7],
                "bad header": with_fields(result, sentence_samples=["many"]),
            }[answer]
        )
        error = producer.outcome(request_id)
        assert isinstance(error, Error) and error.code == "synthesis_failed", error
        assert ("voice exploded" if answer == "failed" else "malformed result") in error.message
        worker.send(Disconnect().encode())
        assert voice not in worker.ping().voices
    finally:
        worker.close()
        producer.close()


def test_client_rejects_bad_input_before_sending(shared: Service) -> None:
    with shared.client() as client:
        for text, code in [
            ("", "empty_text"),
            ("  \n ", "empty_text"),
            ("a\x00b", "control_chars"),
            ("x" * (MAX_TEXT_CHARS + 1), "too_long"),
        ]:
            with pytest.raises(TTSError) as failure:
                client.synthesize(text)
            assert failure.value.code == code
        for options in [
            SynthesisOptions(length_scale=-1.0),
            SynthesisOptions(noise_scale=math.nan),
            SynthesisOptions(volume=math.inf),
            SynthesisOptions(speaker=-2),
        ]:
            with pytest.raises(InvalidRequestError) as invalid:
                client.synthesize("Hello.", options)
            assert invalid.value.code == "bad_param"
        with pytest.raises(TTSError) as failure:
            client.synthesize("Hello.", SynthesisOptions(voice="xx_XX-nobody-low"))
        assert failure.value.code == "unknown_voice"


def test_after_all_bad_input_a_normal_request_succeeds(shared: Service) -> None:
    speaks(shared)
    assert shared.process.poll() is None


# ----- fuzzing the wire protocol --------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_FIELDS = [
    "request_id",
    "index",
    "part",
    "more",
    "params",
    "voice",
    "use_cache",
    "deadline_s",
    "max_chunk_chars",
    "first_chunk_chars",
    "capacity",
    "voice_hash",
    "device",
    "host",
    "pid",
    "solo",
    "sample_rate",
    "sample_width",
    "channels",
    "echo",
    "code",
    "message",
    "error",
    "sentence_samples",
    "synth_ms",
    "batch",
    "phonemes",
]
_headers = st.builds(
    lambda base, extra: {**extra, **base},
    st.fixed_dictionaries(
        {},
        optional={
            "v": st.sampled_from([PROTOCOL_VERSION, PROTOCOL_VERSION, 0, 2, "1", None, 1.5]),
            "t": st.sampled_from([t.value for t in MsgType] + ["", "PING", "nope"]),
        },
    ),
    st.dictionaries(st.sampled_from(_FIELDS), _json | st.sampled_from([0, 1, "r:0", "x"]), max_size=5),
)
_payloads = st.lists(st.binary(max_size=120) | st.text(max_size=120).map(str.encode), max_size=2)
_structured = st.builds(lambda header, payload: [json.dumps(header).encode(), *payload], _headers, _payloads)
_raw = st.lists(st.binary(max_size=200), min_size=1, max_size=4)
_VALID_HEADERS: list[dict[str, Any]] = [
    json.loads(message.encode()[0])
    for message in (
        Submit("fz", "Hi.", params=FAST_PARAMS, use_cache=False),
        Submit("fz", "Hi.", more=True, params=FAST_PARAMS, deadline_s=30),
        Submit("fz", None, part=1),
        Cancel("fz"),
        Ready(VoiceDescription("fz-voice", "en_US", "en-us", 22050), "fz", "cpu", "fz-host", 1),
        Result("fz", 0, b"\x00\x00", 22050, sentence_samples=(1,), synth_ms=1.0),
        Failed("fz", 0, "fz"),
        Heartbeat(),
        Disconnect(),
        Ping("fz"),
        StatusQuery("fz"),
    )
]


def _mutate(base: dict[str, Any], key: str, value: Any, drop: bool) -> dict[str, Any]:
    header = {"v": PROTOCOL_VERSION, **base}
    if drop:
        header.pop(key, None)
    else:
        header[key] = value
    return header


_near_valid = st.builds(
    lambda header, payload: [json.dumps(header).encode(), *payload],
    st.builds(_mutate, st.sampled_from(_VALID_HEADERS), st.sampled_from(["t", "v", *_FIELDS]), _json, st.booleans()),
    _payloads,
)


@pytest.fixture(scope="module")
def fuzz_peer(shared: Service) -> Iterator[RawPeer]:
    peer = RawPeer(shared.endpoint)
    yield peer
    peer.close()


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.one_of(_near_valid, _structured, _raw))
def test_fuzzed_frames_never_break_the_broker(fuzz_peer: RawPeer, frames: list[bytes]) -> None:
    fuzz_peer.send(frames)
    assert fuzz_peer.ping().workers >= 1


def test_after_fuzzing_the_service_still_speaks(shared: Service, fuzz_peer: RawPeer) -> None:
    fuzz_peer.close()
    shared.wait_idle()
    speaks(shared)
    assert shared.process.poll() is None
    assert "internal error" not in shared.log_text(tail=10**9), "every bad message is refused by a rule, not a crash"


# ----- security -------------------------------------------------------------------------------


def test_public_bind_without_keys_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml")
    done = run_swtts(
        "serve", "--bind", f"tcp://0.0.0.0:{free_port()}", "--workers", "0", "--config", str(config), timeout=60
    )
    assert done.returncode != 0
    assert "refusing to bind" in done.stderr and "CURVE" in done.stderr
    half = write_config(tmp_path / "half.toml", security={"server_secret": str(tmp_path / "server.key_secret")})
    done = run_swtts("serve", "--bind", f"tcp://127.0.0.1:{free_port()}", "--workers", "0", "--config", str(half))
    assert done.returncode != 0 and "allowed_workers is empty" in done.stderr


# ----- shutdown -------------------------------------------------------------------------------


def test_sigterm_fails_in_flight_requests_clearly_and_leaves_no_worker(processes: Processes, tmp_path: Path) -> None:
    service = Service(processes, write_config(tmp_path / "config.toml"), workers=2)
    service.wait_ready(2)
    workers = service.worker_pids()
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def speak() -> None:
        try:
            with service.client() as client:
                client.synthesize(ARTICLE, SynthesisOptions(use_cache=False), on_chunk=lambda chunk: started.set())
        except TTSError as exc:
            outcome["error"] = exc

    speaker = threading.Thread(target=speak)
    speaker.start()
    assert started.wait(START_TIMEOUT_S)
    service.process.send_signal(signal.SIGTERM)
    speaker.join(60)
    assert not speaker.is_alive(), "the client must not hang"
    error = outcome["error"]
    assert error.code == "unavailable" and "shutting down" in error.message
    assert service.process.wait(timeout=60) == 0, service.log_text()
    assert len(workers) == 2 and not [pid for pid in workers if alive(pid)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_say_leaves_no_partial_file(shared: Service, tmp_path: Path, signum: int) -> None:
    source, folder = tmp_path / "article.txt", tmp_path / "out"
    source.write_text(ARTICLE[: MAX_TEXT_CHARS - 100])
    folder.mkdir()
    out = folder / "article.wav"
    say = start_swtts(
        "say",
        "--connect",
        shared.endpoint,
        "--file",
        str(source),
        "-o",
        str(out),
        "--stream",
        "--no-cache",
        "--config",
        str(shared.config),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: list(folder.iterdir()) or say.poll() is not None, START_TIMEOUT_S, "say to start writing")
        assert say.poll() is None, f"say ended before it could be interrupted: {say.communicate()[1]}"
        say.send_signal(signum)
        code = say.wait(timeout=60)
    finally:
        if say.poll() is None:
            say.kill()
    assert code == 130, say.communicate()[1]
    assert list(folder.iterdir()) == [], "no temporary or partial file is left"
    shared.wait_idle()
