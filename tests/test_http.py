"""The HTTP speech API end to end: real processes, real sockets, the real voice, OpenAI's own client.

Two set-ups: ``swtts serve`` with ``[http] enabled`` (the gateway on a thread of the broker
process, small limits, no cache; ``--http`` does the same where a test needs it) and
``swtts http --connect`` (a gateway process of its own, with API keys, over the session's
embedded service).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from swtts.client import Client
from swtts.config import Settings
from swtts.service import EmbeddedService
from tests.conftest import ARTICLE, REPO, free_port
from tests.test_http_units import PADDING_S, decoded_seconds

pytestmark = pytest.mark.e2e

TEXT = "Good morning. The kettle is on and the tea will be ready soon.\n\nAfter that, we read the news."
KEY = "test-key-from-env"
FILE_KEY = "test-key-from-file"
MAGIC = {"mp3": b"ID3", "opus": b"OggS", "flac": b"fLaC", "wav": b"RIFF", "aac": b"\xff\xf1"}
SERVED_CONFIG = """
[cache]
enabled = false
[service]
max_queued_chunks = 60
[http]
max_streams = 2
max_input_chars = 30000
max_body_bytes = 200000
models = ["piper"]
voice_map = { nova = "en_US" }
"""


@dataclass
class HttpProcess:
    """A swtts process serving HTTP, stopped (SIGTERM, then waited for) at the end."""

    process: subprocess.Popen[str]
    url: str
    endpoint: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_http(args: list[str], url: str, endpoint: str, env: dict[str, str] | None = None) -> HttpProcess:
    """Start ``swtts ARGS`` and wait until its gateway answers /health (or fail with its output)."""
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "swtts", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = HttpProcess(process, url, endpoint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"swtts {' '.join(args)} exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return running
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    running.stop()
    raise RuntimeError(f"swtts {' '.join(args)} did not serve HTTP within 120 s")


def serve_http(tmp: Path, workers: int, config: str = SERVED_CONFIG, by_flag: bool = True) -> HttpProcess:
    """``swtts serve --http`` (or ``[http] enabled`` and ``bind``) on free ports, waiting for its workers."""
    http = f"127.0.0.1:{free_port()}"
    endpoint = f"ipc://{tmp}/broker.sock"
    flags = ["--http", http] if by_flag else []
    if not by_flag:
        config = config.replace("[http]\n", f'[http]\nenabled = true\nbind = "{http}"\n')
    (tmp / "config.toml").write_text(config)
    served = start_http(
        ["serve", "--config", str(tmp / "config.toml"), "--bind", endpoint, "--workers", str(workers), *flags],
        f"http://{http}",
        endpoint,
    )
    deadline = time.monotonic() + 120
    while workers and httpx.get(f"{served.url}/ready").status_code != 200:
        assert time.monotonic() < deadline, "no worker became ready"
        time.sleep(0.2)
    return served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpProcess]:
    running = serve_http(tmp_path_factory.mktemp("served"), workers=1, by_flag=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(service: EmbeddedService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpProcess]:
    """``swtts http`` as a process of its own over the session's service, keys from a file and the environment."""
    folder = tmp_path_factory.mktemp("gateway")
    (folder / "keys").write_text(f"# speech API keys\n{FILE_KEY}\n")
    (folder / "config.toml").write_text(f'[http]\napi_keys_file = "{folder / "keys"}"\n')
    port = free_port()
    args = [
        "http",
        "--bind",
        f"127.0.0.1:{port}",
        "--connect",
        service.endpoint,
        "--config",
        str(folder / "config.toml"),
    ]
    running = start_http(args, f"http://127.0.0.1:{port}", service.endpoint, env={"SWTTS_API_KEYS": KEY})
    yield running
    running.stop()


def speech(url: str, key: str | None = None, **fields: Any) -> httpx.Response:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, **fields}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}/v1/audio/speech", json=body, headers=headers, timeout=120)


def assert_openai_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> str:
    assert response.status_code == status, response.headers.get("content-type")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["param"] == param, error
    assert error["message"]
    return str(error["message"])


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text at /metrics (0 when absent)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the text lists labels sorted
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} " if wanted else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# ----- OpenAI's Python client ----------------------------------------------------------------


def test_openai_client_every_format_has_the_wavs_duration(gateway: HttpProcess) -> None:
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY)
    reference = decoded_seconds(
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav").content, "wav"
    )
    assert reference > 3.0
    for name in ("mp3", "opus", "aac", "flac", "pcm"):
        response = client.audio.speech.create(model="tts-1-hd", voice="alloy", input=TEXT, response_format=name)
        data = response.content
        assert data.startswith(MAGIC.get(name, b"")), name
        assert reference - 0.01 <= decoded_seconds(data, name) <= reference + PADDING_S, name
    default = client.audio.speech.create(model="gpt-4o-mini-tts", voice="echo", input=TEXT)
    assert default.response.headers["content-type"] == "audio/mpeg"


def test_openai_client_streams_the_response(gateway: HttpProcess) -> None:
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=FILE_KEY)
    pieces: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
        pieces.extend(response.iter_bytes(4096))
    wav = speech(gateway.url, KEY, response_format="wav")
    assert abs(decoded_seconds(b"".join(pieces), "pcm") - decoded_seconds(wav.content, "wav")) < 0.01


def test_sse_deltas_carry_the_audio_and_name_their_chunks(gateway: HttpProcess) -> None:
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "mp3", "stream_format": "sse"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    assert events[-1] == {"type": "speech.audio.done"}
    deltas = events[:-1]
    assert deltas and all(event["type"] == "speech.audio.delta" for event in deltas)
    chunks = [event for event in deltas if "index" in event]
    assert [event["index"] for event in chunks] == list(range(chunks[0]["total"]))
    assert " ".join(event["text"] for event in chunks).split() == TEXT.split()
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    reference = decoded_seconds(speech(gateway.url, KEY, response_format="wav").content, "wav")
    assert reference - 0.01 <= decoded_seconds(audio, "mp3") <= reference + PADDING_S


def test_api_keys_guard_the_api_but_not_health(gateway: HttpProcess) -> None:
    assert_openai_error(speech(gateway.url), 401, "invalid_api_key")
    assert_openai_error(speech(gateway.url, "wrong-key"), 401, "invalid_api_key")
    assert httpx.get(f"{gateway.url}/v1/models").status_code == 401
    assert httpx.get(f"{gateway.url}/metrics").status_code == 401
    assert httpx.get(f"{gateway.url}/health").status_code == 200
    assert httpx.get(f"{gateway.url}/ready").json()["workers"] >= 1
    models = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {FILE_KEY}"}).json()
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= {m["id"] for m in models["data"]}
    voices = httpx.get(f"{gateway.url}/v1/audio/voices", headers={"Authorization": f"Bearer {KEY}"}).json()
    ids = [voice["id"] for voice in voices["voices"]]
    assert "en_US-joe-medium" in ids and "alloy" in ids and all(voice["name"] for voice in voices["voices"])


# ----- serve --http: errors, limits, cancellation ---------------------------------------------


def test_bad_requests_are_openai_errors(served: HttpProcess) -> None:
    url = served.url
    assert_openai_error(speech(url, model="whisper-1"), 400, "unknown_model", "model")
    assert "unknown voice 'robot'" in assert_openai_error(speech(url, voice="robot"), 400, "unknown_voice", "voice")
    assert_openai_error(speech(url, speed=0.1), 400, "invalid_value", "speed")
    assert_openai_error(speech(url, speed=4.5), 400, "invalid_value", "speed")
    assert_openai_error(speech(url, response_format="ogg"), 400, "invalid_value", "response_format")
    assert_openai_error(speech(url, stream_format="chunks"), 400, "invalid_value", "stream_format")
    assert_openai_error(speech(url, input="   "), 400, "empty_text", "input")
    assert_openai_error(speech(url, input="x" * 30001), 413, "too_long", "input")
    missing = httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "voice": "alloy"})
    assert_openai_error(missing, 400, "invalid_value", "input")
    broken = httpx.post(f"{url}/v1/audio/speech", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_openai_error(broken, 400, "invalid_json")
    huge = httpx.post(f"{url}/v1/audio/speech", content=b" " * 200_001, headers={"Content-Type": "application/json"})
    assert_openai_error(huge, 413, "body_too_large")
    assert httpx.get(f"{url}/v1/nothing").status_code == 404


def test_configured_names_languages_and_speed(served: HttpProcess) -> None:
    normal = speech(served.url, model="piper", voice="nova", response_format="wav", input="Speak at my pace.")
    assert normal.status_code == 200, normal.text
    by_name = speech(served.url, voice="en_US-joe-medium", response_format="wav", input="Speak at my pace.")
    assert by_name.status_code == 200
    fast = speech(served.url, voice={"id": "en_US"}, response_format="wav", input="Speak at my pace.", speed=2.0)
    assert fast.status_code == 200, fast.text
    ratio = decoded_seconds(fast.content, "wav") / decoded_seconds(normal.content, "wav")
    assert 0.35 < ratio < 0.7, ratio


def test_a_full_queue_is_429(served: HttpProcess) -> None:
    crowd = "\n\n".join(f"Paragraph number {i} says a few words." for i in range(70))  # 70 chunks > 60 queued
    assert "busy" in assert_openai_error(speech(served.url, input=crowd), 429, "busy")


def test_a_client_that_leaves_mid_stream_cancels_its_request(served: HttpProcess) -> None:
    cancelled = metric(served.url, "swtts_requests_total", outcome="cancelled")
    left = metric(served.url, "swtts_http_disconnects_total")
    with httpx.stream(
        "POST",
        f"{served.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": ARTICLE, "response_format": "opus"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert next(response.iter_raw()).startswith(b"OggS")
    deadline = time.monotonic() + 15
    with Client(served.endpoint) as client:
        while client.status().queue.requests:
            assert time.monotonic() < deadline, "the article kept running after its client left"
            time.sleep(0.1)
    assert metric(served.url, "swtts_requests_total", outcome="cancelled") == cancelled + 1
    assert metric(served.url, "swtts_http_disconnects_total") == left + 1
    assert metric(served.url, "swtts_http_active_streams") == 0


def test_concurrent_clients_and_the_stream_limit(served: HttpProcess) -> None:
    texts = ["The first listener hears this sentence.", "A second listener gets a different one."]
    results: dict[int, httpx.Response] = {}

    def fetch(i: int) -> None:
        results[i] = speech(served.url, input=texts[i], response_format="flac")

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[i].status_code == 200 and decoded_seconds(results[i].content, "flac") > 1.5 for i in range(2))
    streams_closed(served.url)  # a stream is counted until its handler ends, a moment after the client has all

    body = {"model": "tts-1", "voice": "alloy", "input": ARTICLE, "response_format": "pcm"}
    url = f"{served.url}/v1/audio/speech"
    with (
        httpx.Client(timeout=120) as one,
        httpx.Client(timeout=120) as two,
        one.stream("POST", url, json=body) as first,
        two.stream("POST", url, json=body) as second,
    ):
        assert first.status_code == second.status_code == 200
        pieces = first.iter_raw(), second.iter_raw()  # kept: a dropped iterator closes its response
        assert all(next(piece) for piece in pieces)
        assert_openai_error(speech(served.url), 429, "too_many_streams")
    streams_closed(served.url)
    assert speech(served.url, input="Room again.").status_code == 200


def streams_closed(url: str) -> None:
    deadline = time.monotonic() + 15
    while metric(url, "swtts_http_active_streams"):
        assert time.monotonic() < deadline, "streams stayed open after their clients left"
        time.sleep(0.1)


def test_metrics_docs_and_health(served: HttpProcess) -> None:
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{served.url}/ready").json()["workers"] == 1
    speech(served.url, input="Count me.")
    assert metric(served.url, "swtts_http_requests_total", route="/v1/audio/speech", method="POST", status="200") >= 1
    assert metric(served.url, "swtts_http_audio_seconds_total", format="mp3") > 0
    assert metric(served.url, "swtts_requests_total", outcome="completed") >= 1  # the broker's own, beside
    assert "/v1/audio/speech" in httpx.get(f"{served.url}/openapi.json").json()["paths"]
    scripts = re.findall(r'<script src="([^"]+)"', httpx.get(f"{served.url}/docs").text)
    assert scripts and all(src.startswith("/") for src in scripts), scripts  # from this server: works offline
    for src in scripts:
        script = httpx.get(f"{served.url}{src}")
        assert script.status_code == 200 and len(script.content) > 100_000, src
    assert httpx.get(f"{served.url}/redoc").status_code == 404  # ReDoc reaches out for its logo: not served
    page = httpx.get(f"{served.url}/")
    assert page.status_code == 200 and "<textarea" in page.text


# ----- no worker, no broker, no keys -----------------------------------------------------------


def test_without_workers_the_api_answers_503(tmp_path: Path, settings: Settings) -> None:
    empty = serve_http(tmp_path, workers=0, config="[cache]\nenabled = false\n")
    try:
        assert httpx.get(f"{empty.url}/health").status_code == 200
        assert httpx.get(f"{empty.url}/ready").status_code == 503
        assert "no speech worker" in assert_openai_error(speech(empty.url), 503, "unavailable")
    finally:
        empty.stop()
    port = free_port()
    orphan = start_http(
        ["http", "--bind", f"127.0.0.1:{port}", "--connect", f"ipc://{tmp_path}/nobody.sock"],
        f"http://127.0.0.1:{port}",
        "",
    )
    try:
        assert httpx.get(f"{orphan.url}/ready").status_code == 503
        assert_openai_error(speech(orphan.url), 503, "unavailable")
    finally:
        orphan.stop()


def test_binding_beyond_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-P", "-m", "swtts", "http", "--bind", f"0.0.0.0:{free_port()}", "--connect", "ipc:///none"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "SWTTS_API_KEYS"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("swtts: error: refusing to serve HTTP on 0.0.0.0:")


def test_a_taken_http_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve = ["serve", "--bind", f"ipc://{tmp_path}/b.sock", "--workers", "0", "--http", f"127.0.0.1:{port}"]
        done = subprocess.run(
            [sys.executable, "-P", "-m", "swtts", *serve],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    assert done.returncode == 1
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"swtts: error: cannot serve HTTP on 127.0.0.1:{port} (address in use or not available)"
    )
