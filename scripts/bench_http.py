"""HTTP speech API benchmark: the gateway vs the Python client, per format; encoders; concurrency.

Starts ``swtts serve --http`` (two workers, a private cache) and measures, as medians over
``--rounds`` interleaved rounds:

* a short reply and the sample article, through ``Client.stream`` (time to the first chunk,
  total) and through ``POST /v1/audio/speech`` in every format (time to the first body byte,
  total). Each measurement asks for a speed of its own (1 + k/10000, below 0.1% slower), so it
  misses the cache and every figure is real synthesis;
* the same short reply once cached: the gateway's own overhead, client vs HTTP;
* each encoder's cost per second of audio, on the article's audio in this process, against
  the synthesis time per second of audio measured above, and what a stream's first bytes wait
  for: opening the encoder and encoding the first 0.1 s slice;
* throughput with N concurrent HTTP clients (a paragraph each, mp3): seconds of audio per
  second of wall time, and the median time to first byte.

Prints markdown; ``--output docs/benchmarks.md`` replaces its ``<!-- http:start -->`` section.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.report import machine_line, replace_section
from swtts.client import AudioChunk, Client, SynthesisOptions
from swtts.gateways.http.encoders import FORMATS, encoder_for
from swtts.pipeline.assembly import assemble

REPO = Path(__file__).resolve().parent.parent
SHORT = "Sure, here is what I found about lighthouses."
ARTICLE = REPO / "samples" / "article.txt"
PARAGRAPH = ARTICLE.read_text().split("\n\n")[1]
SETTLE_S = 0.5  # onnxruntime's threads spin a while after a run
_unique = itertools.count(1)


def speed() -> float:
    """A speed no earlier request used: a cache miss with audio within 0.1% of speed 1."""
    return 1.0 + next(_unique) / 10000


def start_server(folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], str, str]:
    (folder / "config.toml").write_text(f'[cache]\ndir = "{folder / "cache"}"\n')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint, url = f"ipc://{folder}/broker.sock", f"http://127.0.0.1:{port}"
    command = [sys.executable, "-P", "-m", "swtts", "serve", "--config", str(folder / "config.toml")]
    command += ["--bind", endpoint, "--workers", str(workers), "--http", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{url}/ready", timeout=2).json()
            if ready.get("workers", 0) >= workers:
                return process, endpoint, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not get ready")


def via_client(client: Client, text: str, speed_factor: float) -> tuple[float, float, list[AudioChunk]]:
    """(first chunk s, total s, chunks) through the Python client."""
    started = time.perf_counter()
    first = 0.0
    chunks: list[AudioChunk] = []
    for chunk in client.stream(text, SynthesisOptions(length_scale=1 / speed_factor)):
        first = first or time.perf_counter() - started
        chunks.append(chunk)
    return first, time.perf_counter() - started, chunks


def via_http(http: httpx.Client, url: str, text: str, fmt: str, speed_factor: float) -> tuple[float, float]:
    """(first body byte s, total s) through POST /v1/audio/speech."""
    body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt, "speed": speed_factor}
    started = time.perf_counter()
    first = 0.0
    with http.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for data in response.iter_raw():
            if data and not first:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}" if values else "–"


def latency_table(
    client: Client, http: httpx.Client, url: str, rounds: int, article: str
) -> tuple[str, np.ndarray, int, float]:
    """Rows of first byte / total per path and text; also the article's audio and synthesis s per audio s."""
    paths = ["client", *FORMATS]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    audio, rate, synth_per_audio_s = np.zeros(0, np.int16), 22050, 0.0
    for _ in range(rounds):
        for label, text in (("short reply", SHORT), ("article", article)):
            for path in paths:
                time.sleep(SETTLE_S)
                if path == "client":
                    first, total, chunks = via_client(client, text, speed())
                    if label == "article":
                        audio, rate = assemble(chunks, client.settings.assembly), chunks[0].sample_rate
                        synth_per_audio_s = total / (audio.size / rate)
                else:
                    first, total = via_http(http, url, text, path, speed())
                results.setdefault((label, path), []).append((first, total))
    lines = [
        "| text | path | first byte (ms) | total (ms) | first / total |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for (label, path), values in results.items():
        firsts, totals = [v[0] for v in values], [v[1] for v in values]
        share = statistics.median(firsts) / statistics.median(totals)
        name = "Python client" if path == "client" else f"HTTP {path}"
        lines.append(f"| {label} | {name} | {median_ms(firsts)} | {median_ms(totals)} | {share:.3f} |")
    return "\n".join(lines), audio, rate, synth_per_audio_s


def cached_table(client: Client, http: httpx.Client, url: str, rounds: int) -> str:
    """The gateway's own cost: a cached short reply, client vs HTTP in every format."""
    client.synthesize(SHORT)
    times: dict[str, list[float]] = {}
    for _ in range(max(5, rounds * 5)):
        times.setdefault("Python client", []).append(via_client(client, SHORT, 1.0)[0])
        for fmt in FORMATS:
            times.setdefault(f"HTTP {fmt}", []).append(via_http(http, url, SHORT, fmt, 1.0)[0])
    lines = ["| cached short reply | first byte (ms) |", "| --- | ---: |"]
    lines += [f"| {name} | {median_ms(values)} |" for name, values in times.items()]
    return "\n".join(lines)


def encoder_table(audio: np.ndarray, rate: int, synth_per_audio_s: float) -> str:
    """Each encoder over the article's audio in 10 s pieces: ms of CPU per second of audio.

    Also what a stream's first bytes wait for: opening the encoder (done while the first chunk
    is synthesized when the voice's sample rate is known) and encoding the first 0.1 s slice.
    """
    seconds = audio.size / rate
    lines = [
        "| format | encoder | ms per s of audio | share of synthesis time | bytes per s of audio "
        "| open (ms) | first 0.1 s (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, audio_format in FORMATS.items():
        costs, opens, firsts, size = [], [], [], 0
        for _ in range(5):
            started = time.perf_counter()
            encoder = encoder_for(name, rate)
            opened = time.perf_counter()
            encoder.encode(audio[: rate // 10])
            opens.append(opened - started)
            firsts.append(time.perf_counter() - opened)
        for _ in range(3):
            encoder = encoder_for(name, rate)
            started = time.process_time()
            size = sum(len(encoder.encode(audio[i : i + 10 * rate])) for i in range(0, audio.size, 10 * rate))
            size += len(encoder.finish())
            costs.append((time.process_time() - started) / seconds)
        how = f"PyAV {audio_format.codec} in {audio_format.container}" if audio_format.container else "soxr to 24 kHz"
        cost = statistics.median(costs)
        share = cost / synth_per_audio_s if synth_per_audio_s else 0.0
        lines.append(
            f"| {name} | {how} | {cost * 1000:.2f} | {share:.2%} | {size / seconds:,.0f} "
            f"| {median_ms(opens)} | {median_ms(firsts)} |"
        )
    return "\n".join(lines)


def http_listener(url: str, requests: int, results: list[tuple[float, float]]) -> None:
    """One client speaking a paragraph ``requests`` times (pcm); appends (first byte s, audio s)."""
    with httpx.Client(timeout=600) as http:
        for _ in range(requests):
            body = {"model": "tts-1", "voice": "alloy", "input": PARAGRAPH, "response_format": "pcm", "speed": speed()}
            started = time.perf_counter()
            first, size = 0.0, 0
            with http.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
                for data in response.iter_raw():
                    first = first or time.perf_counter() - started
                    size += len(data)
            results.append((first, size / 2 / 24000))  # list.append is atomic


def concurrency_table(url: str, clients: list[int], requests_each: int) -> str:
    lines = [
        "| concurrent HTTP clients | audio s per wall s | median first byte (ms) |",
        "| ---: | ---: | ---: |",
    ]
    for count in clients:
        time.sleep(SETTLE_S)
        results: list[tuple[float, float]] = []
        threads = [threading.Thread(target=http_listener, args=(url, requests_each, results)) for _ in range(count)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        audio_s = sum(audio for _, audio in results)
        lines.append(f"| {count} | {audio_s / wall:.1f} | {median_ms([first for first, _ in results])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="1,2,4", help="concurrent HTTP clients to try")
    parser.add_argument("--requests-each", type=int, default=2)
    parser.add_argument("--article", type=Path, default=ARTICLE, help="the long text (default: the sample article)")
    parser.add_argument("--tables", default="latency,cached,encoders,concurrency", help="which tables to measure")
    parser.add_argument("--output", type=Path, help="markdown file whose http section is replaced")
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    parts = [
        f"{machine_line()} `python scripts/bench_http.py --rounds {args.rounds} --tables {args.tables}` "
        f"(`swtts serve --http`, {args.workers} workers, medians; every uncached figure is real synthesis)."
    ]
    with tempfile.TemporaryDirectory(prefix="swtts-bench-http-") as folder:
        process, endpoint, url = start_server(Path(folder), args.workers)
        try:
            with Client(endpoint) as client, httpx.Client(timeout=600) as http:
                if "latency" in tables:
                    latency, audio, rate, synth = latency_table(
                        client, http, url, args.rounds, args.article.read_text()
                    )
                    parts.append(latency)
                elif "encoders" in tables:  # the article's audio and synthesis time, once
                    _, total, chunks = via_client(client, args.article.read_text(), speed())
                    audio, rate = assemble(chunks, client.settings.assembly), chunks[0].sample_rate
                    synth = total / (audio.size / rate)
                if "cached" in tables:
                    parts.append(cached_table(client, http, url, args.rounds))
            if "encoders" in tables:
                parts.append(encoder_table(audio, rate, synth))
            if "concurrency" in tables:
                parts.append(concurrency_table(url, [int(c) for c in args.clients.split(",")], args.requests_each))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    body = "\n\n".join(parts)
    print(body)
    if args.output:
        replace_section(args.output, "http", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
