"""The Wyoming server end to end, through the ``wyoming`` package's own client.

One ``swtts serve --wyoming`` runs for the module (two real Piper workers, a TCP broker, its
metrics on HTTP). Speech is deterministic there (noise scales 0) and Wyoming requests skip the
cache, so "every word once" is checked by duration against a plain synthesis of the same text.
Tests check behaviour only: events and their order, audio lengths, what the broker did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, write_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

import swtts
from swtts.client import Client, SynthesisOptions
from swtts.protocol import QueueStatus
from tests.conftest import ARTICLE, REPO, free_port
from tests.helpers import wait_for
from tests.test_streaming import live, live_chunks_done, odd_pieces, wait_for_idle
from tests.test_voices import french_voice  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e
WAIT_S = 90.0  # only a guard against hanging; no test asserts a duration
JOE = "en_US-joe-medium"
PARAGRAPH = (
    "The lighthouse keeper climbed the stairs at dusk. He wound the clock, trimmed the wick, "
    "and watched the first ships turn toward the harbour. Nobody thanked him, and he liked it that way."
)


@dataclass
class Served:
    """The module's ``swtts serve --wyoming`` and its addresses."""

    broker: str
    port: int
    metrics_port: int
    config: Path
    process: subprocess.Popen[bytes]
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)


@dataclass
class Answer:
    """Everything a server sent for one request."""

    events: list[Event]

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    @property
    def chunks(self) -> list[AudioChunk]:
        return [AudioChunk.from_event(e) for e in self.events if AudioChunk.is_type(e.type)]

    @property
    def seconds(self) -> float:
        return sum(chunk.seconds for chunk in self.chunks)

    @property
    def error(self) -> Error | None:
        return next((Error.from_event(e) for e in self.events if Error.is_type(e.type)), None)


def swtts_process(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-P", "-m", "swtts", *args], cwd=REPO, stdin=subprocess.DEVNULL)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("wyoming")
    config = folder / "config.toml"
    config.write_text(
        f'[cache]\ndir = "{folder / "cache"}"\n'
        "[synthesis]\nnoise_scale = 0.0\nnoise_w = 0.0\n"
        "[wyoming]\nuse_cache = false\nwrite_timeout_s = 2.0\nwrite_buffer_bytes = 65536\n"
    )
    broker, port, metrics_port = f"tcp://127.0.0.1:{free_port()}", free_port(), free_port()
    process = swtts_process(
        "serve",
        "--config",
        str(config),
        "--bind",
        broker,
        "--workers",
        "2",
        "--metrics-port",
        str(metrics_port),
        "--wyoming",
        f"tcp://127.0.0.1:{port}",
        "--parent-pid",
        str(os.getpid()),
    )
    served = Served(broker, port, metrics_port, config, process)
    try:
        with Client(broker) as client:
            deadline = time.monotonic() + WAIT_S
            while not _ready(client) and time.monotonic() < deadline:
                time.sleep(0.2)
        wait_for_port(port, process)
        yield served
    finally:
        for extra in served.extra:
            stop(extra)
        assert stop(process) == 0


def _ready(client: Client) -> bool:
    with contextlib.suppress(swtts.TTSError):
        return client.ping(timeout_s=1.0).ready >= 2
    return False


async def exchange(port: int, *events: Event, until: tuple[str, ...] = ("audio-stop",)) -> Answer:
    """Send ``events`` on a fresh connection, then read until one of ``until``, an error, or the end."""
    async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
        for event in events:
            await client.write_event(event)
        return await read_until(client, until)


async def read_until(client: AsyncTcpClient, until: tuple[str, ...]) -> Answer:
    events: list[Event] = []
    while (event := await client.read_event()) is not None:
        events.append(event)
        if event.type in (*until, "error"):
            break
    return Answer(events)


def talk(port: int, *events: Event, until: tuple[str, ...] = ("audio-stop",)) -> Answer:
    return asyncio.run(exchange(port, *events, until=until))


def describe(port: int) -> Info:
    answer = talk(port, Describe().event(), until=("info",))
    return Info.from_event(answer.events[-1])


def metric(served: Served, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def cancelled(served: Served) -> float:
    return metric(served, 'swtts_requests_total{outcome="cancelled"}')


def outcomes_of(served: Served) -> str:
    """The broker's request counts by outcome, as its metrics give them."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10).read().decode()
    return ", ".join(line for line in text.splitlines() if line.startswith("swtts_requests_total{"))


def assert_one_audio_response(answer: Answer) -> None:
    """One audio-start, audio chunks of one format, one audio-stop; nothing else."""
    assert answer.error is None, answer.error
    assert answer.types[0] == "audio-start" and answer.types.count("audio-start") == 1
    assert answer.types.count("audio-stop") == 1
    start = AudioStart.from_event(answer.events[0])
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    assert {(c.rate, c.width, c.channels) for c in answer.chunks} == {(22050, 2, 1)}
    assert all(0 < c.samples <= 1024 for c in answer.chunks)


def test_describe_lists_every_voice_the_workers_hold(served: Served) -> None:
    info = describe(served.port)
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.name == "swtts" and program.installed and program.attribution.name
    assert program.version == swtts.__version__
    assert program.supports_synthesize_streaming is True
    assert [(v.name, v.languages, v.installed) for v in program.voices] == [(JOE, ["en_US"], True)]


def test_voices_follow_the_workers_and_a_language_picks_the_voice(served: Served, french_voice: Path) -> None:  # noqa: F811
    worker = swtts_process("worker", "--connect", served.broker, "--voice", str(french_voice), "--threads", "1")
    served.extra.append(worker)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and len(describe(served.port).tts[0].voices) < 2:
        time.sleep(0.2)
    voices = {v.name: v.languages for v in describe(served.port).tts[0].voices}
    assert voices == {JOE: ["en_US"], "fr_FR-test-medium": ["fr_FR"]}

    with Client(served.broker) as client:
        before = {w.worker: w.chunks_done for w in client.status().workers}
        answer = talk(served.port, Synthesize("Bonjour à tous.", SynthesizeVoice(language="fr")).event())
        after = client.status().workers
    assert_one_audio_response(answer)
    spoke = {w.voice for w in after if w.chunks_done > before.get(w.worker, 0)}
    assert spoke == {"fr_FR-test-medium"}

    assert stop(worker) == 0
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and len(describe(served.port).tts[0].voices) > 1:
        time.sleep(0.2)
    assert [v.name for v in describe(served.port).tts[0].voices] == [JOE]
    gone = talk(served.port, Synthesize("Bonjour.", SynthesizeVoice(name="fr_FR-test-medium")).event())
    assert gone.error is not None and gone.error.code == "unknown_voice"
    assert gone.types == ["error"]  # and the connection was closed: nothing followed


def test_synthesize_is_one_audio_response_as_the_client_hears_it(served: Served) -> None:
    answer = talk(served.port, Synthesize(PARAGRAPH, SynthesizeVoice(name=JOE)).event())
    assert_one_audio_response(answer)
    assert [c.timestamp for c in answer.chunks] == sorted(c.timestamp or 0 for c in answer.chunks)
    with Client(served.broker) as client:
        plain = client.synthesize(PARAGRAPH, SynthesisOptions(use_cache=False, noise_scale=0.0, noise_w=0.0))
    assert answer.seconds == pytest.approx(plain.duration_s, rel=0.02)


def test_home_assistant_streaming_sequence_speaks_every_word_once(served: Served) -> None:
    """Start, LLM deltas (words cut anywhere), the full text again as a plain synthesize, stop."""
    voice = SynthesizeVoice(name=JOE)
    sequence = [
        SynthesizeStart(voice=voice).event(),
        *(SynthesizeChunk(piece).event() for piece in odd_pieces(PARAGRAPH)),
        Synthesize(text=PARAGRAPH, voice=voice).event(),
        SynthesizeStop().event(),
    ]
    answer = talk(served.port, *sequence, until=("synthesize-stopped",))
    plain = talk(served.port, Synthesize(PARAGRAPH, voice).event())
    assert answer.types[-1] == "synthesize-stopped"
    assert_one_audio_response(Answer(answer.events[:-1]))
    assert answer.seconds == pytest.approx(plain.seconds, rel=0.05)  # twice would be about 2x


def test_each_sentence_is_spoken_before_the_stream_ends(served: Served) -> None:
    first, rest = "Good evening, the kitchen lights are now off.", " The front door is locked, and it is 21 degrees."

    async def scenario() -> tuple[Answer, Answer]:
        async with AsyncTcpClient("127.0.0.1", served.port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            for piece in odd_pieces(first + rest[:5]):
                await client.write_event(SynthesizeChunk(piece).event())
            early = await read_until(client, ("audio-chunk",))  # the stream is still open here
            for piece in odd_pieces(rest[5:]):
                await client.write_event(SynthesizeChunk(piece).event())
            await client.write_event(SynthesizeStop().event())
            return early, await read_until(client, ("synthesize-stopped",))

    early, late = asyncio.run(scenario())
    assert early.types == ["audio-start", "audio-chunk"]
    assert late.types[-2:] == ["audio-stop", "synthesize-stopped"] and "audio-start" not in late.types
    whole = talk(served.port, Synthesize(first + rest).event())
    assert early.seconds + late.seconds == pytest.approx(whole.seconds, rel=0.05)


def test_two_clients_are_served_at_once(served: Served) -> None:
    long_text, short_text = ARTICLE[:2500], "Yes, the garage door is closed."
    finished: list[str] = []

    async def speak(name: str, text: str, after: asyncio.Event | None, started: asyncio.Event | None) -> Answer:
        async with AsyncTcpClient("127.0.0.1", served.port, read_timeout=WAIT_S) as client:
            if after is not None:
                await after.wait()
            await client.write_event(Synthesize(text).event())
            events: list[Event] = []
            while (event := await client.read_event()) is not None:
                events.append(event)
                if started is not None and AudioChunk.is_type(event.type):
                    started.set()
                if event.type in ("audio-stop", "error"):
                    break
            finished.append(name)
            return Answer(events)

    async def scenario() -> tuple[Answer, Answer]:
        long_started = asyncio.Event()
        return await asyncio.gather(
            speak("long", long_text, None, long_started), speak("short", short_text, long_started, None)
        )

    long_answer, short_answer = asyncio.run(scenario())
    assert finished == ["short", "long"]
    assert_one_audio_response(long_answer)
    assert_one_audio_response(short_answer)
    assert short_answer.seconds == pytest.approx(talk(served.port, Synthesize(short_text).event()).seconds, rel=0.02)


def test_a_client_that_leaves_mid_answer_is_cancelled_at_the_broker(served: Served) -> None:
    with Client(served.broker) as client:
        before, cancelled_before = wait_for_idle(client), cancelled(served)

        async def leave_after_first_audio() -> Answer:
            async with AsyncTcpClient("127.0.0.1", served.port, read_timeout=WAIT_S) as wyoming:
                await wyoming.write_event(Synthesize(ARTICLE + "\n\n" + ARTICLE).event())
                return await read_until(wyoming, ("audio-chunk",))

        first = asyncio.run(leave_after_first_audio())
        after = wait_for_idle(client)
    assert first.types == ["audio-start", "audio-chunk"]
    assert after.queue == QueueStatus(requests=0, pending_chunks=0, in_flight_chunks=0)
    assert cancelled(served) == cancelled_before + 1
    capacity = sum(w.capacity for w in live(before))
    assert live_chunks_done(after) - live_chunks_done(before) <= 1 + 2 * capacity  # of about 60


def test_a_client_that_never_reads_is_dropped_and_its_request_cancelled(served: Served) -> None:
    with Client(served.broker) as client:
        cancelled_before = cancelled(served)
        with socket.socket() as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.connect(("127.0.0.1", served.port))
            with peer.makefile("wb") as out:
                write_event(Synthesize("\n\n".join([ARTICLE] * 3)).event(), out)
            deadline = time.monotonic() + WAIT_S
            while cancelled(served) == cancelled_before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert cancelled(served) == cancelled_before + 1, f"requests by outcome: {outcomes_of(served)}"
            peer.settimeout(WAIT_S)
            with contextlib.suppress(ConnectionResetError):
                while peer.recv(1 << 20):
                    pass  # what was queued before the drop, then the end
        assert wait_for_idle(client).queue.requests == 0
    assert describe(served.port).tts[0].name == "swtts"


def test_bad_events_get_an_error_and_the_connection_keeps_working(served: Served) -> None:
    bad = [
        (Event("frobnicate"), "unknown_type"),
        (Event("synthesize", {"text": 5}), "malformed"),
        (Event("synthesize", {"text": "Hi.", "voice": "en_US"}), "bad_param"),
        (Event("synthesize", {"text": "<speak>Hi.</speak>", "text_format": "ssml"}), "bad_param"),
        (SynthesizeChunk("Hi.").event(), "malformed"),
        (SynthesizeStop().event(), "malformed"),
    ]

    async def scenario() -> tuple[list[Error], Answer, Answer]:
        async with AsyncTcpClient("127.0.0.1", served.port, read_timeout=WAIT_S) as client:
            errors = []
            for event, _ in bad:
                await client.write_event(event)
                errors.append(Error.from_event(await client.read_event()))
            await client.write_event(Ping("still there?").event())
            pong = await read_until(client, ("pong",))
            await client.write_event(Synthesize("Still here.").event())
            return errors, pong, await read_until(client, ("audio-stop",))

    errors, pong, answer = asyncio.run(scenario())
    assert [error.code for error in errors] == [code for _, code in bad]
    assert all(error.text for error in errors)
    assert pong.events[-1].data == {"text": "still there?"}
    assert_one_audio_response(answer)


def test_a_failed_request_is_an_error_and_the_end_of_the_connection(served: Served) -> None:
    for voice in (
        SynthesizeVoice(name="xx_XX-nobody-low"),
        SynthesizeVoice(language="de"),
        SynthesizeVoice(JOE, speaker="bob"),
    ):
        answer = talk(served.port, Synthesize("Hello.", voice).event())
        assert answer.types == ["error"], answer.types
        assert answer.error is not None and answer.error.code in ("unknown_voice", "bad_param")
    assert talk(served.port, Synthesize("   ").event()).types == ["audio-stop"]  # nothing to say


def test_input_that_is_not_an_event_is_answered_and_the_server_keeps_serving(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=WAIT_S) as peer:
        peer.sendall(b"GET / HTTP/1.1\r\n\r\n")
        with peer.makefile("rb") as replies:
            header = replies.readline()
            assert b'"error"' in header
            replies.read()  # then the server closes the connection
    assert_one_audio_response(talk(served.port, Synthesize("Next, please.").event()))


def test_gateway_process_with_its_own_voice_settings(served: Served, tmp_path: Path) -> None:
    """``swtts wyoming`` beside ``serve``: same broker, its own config (slower speech for joe)."""
    voices = tmp_path / "voices.toml"
    voices.write_text(f'["{JOE}"]\nlength_scale = 1.5\n')
    config = tmp_path / "gateway.toml"
    config.write_text(served.config.read_text() + f'voices_file = "{voices}"\n')
    port = free_port()
    gateway = swtts_process(
        "wyoming", "--uri", f"tcp://127.0.0.1:{port}", "--connect", served.broker, "--config", str(config)
    )
    try:
        wait_for_port(port, gateway)
        assert [v.name for v in describe(port).tts[0].voices] == [JOE]
        slow = talk(port, Synthesize(PARAGRAPH).event())
        usual = talk(served.port, Synthesize(PARAGRAPH).event())
    finally:
        assert stop(gateway) == 0
    assert_one_audio_response(slow)
    assert 1.3 < slow.seconds / usual.seconds < 1.6


def test_binding_beyond_loopback_needs_the_opt_in() -> None:
    done = subprocess.run(
        [sys.executable, "-P", "-m", "swtts", "wyoming", "--uri", f"tcp://0.0.0.0:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "allow_remote" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_wyoming_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-P",
                "-m",
                "swtts",
                "serve",
                "--bind",
                f"ipc://{tmp_path}/broker.sock",
                "--workers",
                "0",
                "--wyoming",
                f"tcp://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            cwd=REPO,
        )
    assert done.returncode != 0
    assert "cannot serve Wyoming" in done.stderr


def test_zeroconf_announces_the_server_and_withdraws_it_on_stop(served: Served, tmp_path: Path) -> None:
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    address = _lan_address()
    if address is None:
        pytest.skip("no network interface besides loopback")
    config = tmp_path / "lan.toml"
    config.write_text("[wyoming]\nallow_remote = true\n")
    port, name = free_port(), f"swtts-test-{os.getpid()}"
    full_name = f"{name}._wyoming._tcp.local."
    seen: list[ServiceStateChange] = []  # what a listener such as Home Assistant learns of it, in order
    listener = Zeroconf()
    ServiceBrowser(
        listener,
        "_wyoming._tcp.local.",
        handlers=[lambda state_change, **event: seen.append(state_change) if event["name"] == full_name else None],
    )
    uri = f"tcp://{address}:{port}"
    gateway = swtts_process(
        "wyoming", "--uri", uri, "--zeroconf", name, "--connect", served.broker, "--config", str(config)
    )

    async def look_up() -> tuple[bool, AsyncServiceInfo]:
        zeroconf = AsyncZeroconf()
        try:
            info = AsyncServiceInfo("_wyoming._tcp.local.", full_name)
            return await info.async_request(zeroconf.zeroconf, 5000), info
        finally:
            await zeroconf.async_close()

    try:
        try:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                found, info = asyncio.run(look_up())
                if found:
                    break
            assert found and info.port == port and info.parsed_addresses() == [address]
            wait_for(lambda: ServiceStateChange.Added in seen, timeout=WAIT_S, what="the listener to see it")
        finally:
            assert stop(gateway) == 0
        wait_for(lambda: ServiceStateChange.Removed in seen, timeout=30, what="its goodbye")  # not an expiry (75 min)
    finally:
        listener.close()


def _lan_address() -> str | None:
    """This machine's address on the network zeroconf uses (how wyoming's zeroconf finds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("224.0.0.251", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address
