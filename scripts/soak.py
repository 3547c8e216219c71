"""Soak test: a local service under a mix of requests while workers are killed now and then.

Starts its own service (``EmbeddedService``: broker + ``--workers`` worker processes on a
private ipc:// endpoint, cache off) and, for ``--seconds``, runs ``--clients`` producer threads
that each loop over short replies and long passages of the sample article. Every
``--kill-every`` seconds one worker gets SIGKILL; the supervisor restarts it and the broker
re-queues its chunk. Every finished request is checked for completeness (each chunk index
once, in order, texts covering the request). Peak memory of the broker and of every worker
process is sampled from /proc (VmRSS, plus VmHWM while each process lives).

Prints a markdown table: requests served, errors by code, p50/p99 latency (short and long),
kills, peak RSS, and the broker's queue after the run (which must be empty). Stops by itself:
producers start no request after ``--seconds`` and finish the one in flight. Exit status 1
if any request was incomplete or failed. ``--output docs/benchmarks.md`` also replaces the
``<!-- soak:start -->`` section there.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.report import machine_line, replace_section
from swtts.client import AudioChunk, Client, SynthesisOptions, TTSError
from swtts.config import Settings, load_settings
from swtts.protocol import QueueStatus, StatusReply, WorkerState
from swtts.service import EmbeddedService

REPO = Path(__file__).resolve().parent.parent
ARTICLE = (REPO / "samples" / "article.txt").read_text(encoding="utf-8")
SHORT = [
    "Sure.",
    "Hello there. How can I help?",
    "The meeting is at three.",
    "Yes, that works for me.",
    "I could not find that file. Could you check the name?",
    "Done! Anything else?",
]


@dataclass
class Tally:
    """What the producer threads saw; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=lambda: {"short": [], "long": []})
    errors: Counter[str] = field(default_factory=Counter)
    incomplete: int = 0
    audio_s: float = 0.0
    chunks: int = 0


def long_text(rng: random.Random, chars: int) -> str:
    """A passage of the article of about ``chars`` characters, starting and ending at sentences."""
    sentences = [s.strip() + "." for s in ARTICLE.replace("\n", " ").split(". ") if s.strip()]
    start = rng.randrange(len(sentences))
    picked: list[str] = []
    while sum(len(s) + 1 for s in picked) < chars:
        picked.append(sentences[(start + len(picked)) % len(sentences)])
    return " ".join(picked)


def complete(chunks: list[AudioChunk], text: str) -> bool:
    """Each chunk once, in order, and together they say the whole text."""
    said = "".join("".join(chunk.text for chunk in chunks).split())
    return bool(chunks) and [c.index for c in chunks] == list(range(len(chunks))) and said == "".join(text.split())


def producer(
    endpoint: str,
    settings: Settings,
    tally: Tally,
    stop: threading.Event,
    seed: int,
    long_share: float,
    long_chars: int,
) -> None:
    rng = random.Random(seed)
    with Client(endpoint, settings) as client:
        while not stop.is_set():
            kind = "long" if rng.random() < long_share else "short"
            text = long_text(rng, long_chars) if kind == "long" else rng.choice(SHORT)
            started = time.perf_counter()
            try:
                result = client.synthesize(text, SynthesisOptions(use_cache=False))
            except TTSError as exc:
                with tally.lock:
                    tally.errors[exc.code] += 1
                continue
            elapsed = time.perf_counter() - started
            with tally.lock:
                if complete(result.chunks, text):
                    tally.latency[kind].append(elapsed)
                    tally.audio_s += result.duration_s
                    tally.chunks += len(result.chunks)
                else:
                    tally.incomplete += 1


def worker_pids(status: StatusReply) -> list[int]:
    return [int(w.worker.rsplit(":", 1)[1]) for w in status.workers if w.state is not WorkerState.DEAD]


def children(parent: int) -> list[int]:
    """Live child processes of ``parent`` (the local workers of a ``serve`` process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, or zeros once it is gone."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


class MemorySampler(threading.Thread):
    """Samples the broker and its workers every ``interval`` s; keeps the peak of each."""

    def __init__(self, broker_pid: int, interval: float = 0.25) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.broker_pid = broker_pid
        self.interval = interval
        self.stop_event = threading.Event()
        self.peaks: dict[int, int] = {}
        self.broker_rss: list[int] = []

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        rss, _ = memory_kib(self.broker_pid)
        if rss:
            self.broker_rss.append(rss)
        for pid in [self.broker_pid, *children(self.broker_pid)]:
            rss, hwm = memory_kib(pid)
            self.peaks[pid] = max(self.peaks.get(pid, 0), rss, hwm)


def killer(endpoint: str, settings: Settings, every: float, stop: threading.Event, kills: list[int], seed: int) -> None:
    rng = random.Random(seed)
    with Client(endpoint, settings) as client:
        while not stop.wait(every):
            try:
                pids = worker_pids(client.status())
            except TTSError:
                continue
            if pids:
                victim = rng.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                kills.append(victim)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def table(
    args: argparse.Namespace,
    tally: Tally,
    kills: list[int],
    sampler: MemorySampler,
    wall_s: float,
    final: QueueStatus,
    dead: int,
) -> str:
    mib = 1024.0
    worker_peaks = [kib for pid, kib in sampler.peaks.items() if pid != sampler.broker_pid]
    served = {kind: len(values) for kind, values in tally.latency.items()}
    errors = ", ".join(f"{code}: {n}" for code, n in sorted(tally.errors.items())) or "none"
    broker = sampler.broker_rss
    rows = [
        ("run", f"{wall_s:.0f} s, {args.workers} workers, {args.clients} producer threads, cache off"),
        (
            "requests served",
            f"{sum(served.values())} ({served['short']} short, {served['long']} long; "
            f"{tally.chunks} chunks, {tally.audio_s:.0f} s of audio)",
        ),
        ("incomplete results", str(tally.incomplete)),
        ("errors by code", errors),
        (
            "latency short p50 / p99",
            f"{percentile(tally.latency['short'], 0.5):.2f} s / {percentile(tally.latency['short'], 0.99):.2f} s",
        ),
        (
            "latency long p50 / p99",
            f"{percentile(tally.latency['long'], 0.5):.2f} s / {percentile(tally.latency['long'], 0.99):.2f} s",
        ),
        (
            "workers killed (SIGKILL)",
            f"{len(kills)}; broker lists {dead} dead, {len(worker_peaks)} worker processes seen in all",
        ),
        (
            "broker peak RSS",
            f"{sampler.peaks.get(sampler.broker_pid, 0) / mib:.0f} MiB "
            f"(first / last sample {broker[0] / mib if broker else 0:.0f} / "
            f"{broker[-1] / mib if broker else 0:.0f} MiB)",
        ),
        (
            "worker peak RSS (max / median)",
            f"{max(worker_peaks, default=0) / mib:.0f} / "
            f"{statistics.median(worker_peaks) / mib if worker_peaks else 0:.0f} MiB",
        ),
        (
            "queue after the run",
            f"{final.requests} requests, {final.pending_chunks} pending, {final.in_flight_chunks} in flight",
        ),
    ]
    lines = ["| soak | result |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long producers keep starting requests")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=3, help="concurrent producer threads")
    parser.add_argument("--kill-every", type=float, default=12.0, help="SIGKILL one worker this often (s); 0 = never")
    parser.add_argument("--long-share", type=float, default=0.2, help="share of long requests")
    parser.add_argument("--long-chars", type=int, default=1200, help="size of a long request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, help="also replace the soak section of this markdown file")
    args = parser.parse_args()

    settings = load_settings().override(cache__enabled=False)
    tally, stop = Tally(), threading.Event()
    kills: list[int] = []
    with EmbeddedService(settings, workers=args.workers, use_cache=False) as service:
        started = time.monotonic()
        sampler = MemorySampler(os.getpid())  # the embedded broker runs on a thread of this process
        sampler.start()
        threads = [
            threading.Thread(
                target=producer,
                name=f"producer-{i}",
                args=(service.endpoint, settings, tally, stop, args.seed + i, args.long_share, args.long_chars),
            )
            for i in range(args.clients)
        ]
        if args.kill_every > 0:
            threads.append(
                threading.Thread(
                    target=killer,
                    name="killer",
                    args=(service.endpoint, settings, args.kill_every, stop, kills, args.seed),
                )
            )
        for thread in threads:
            thread.start()
        stop.wait(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        wall_s = time.monotonic() - started
        with service.client() as client:
            status = client.status()
        sampler.stop_event.set()
        sampler.join()
        sampler.sample()
    dead = sum(1 for w in status.workers if w.state is WorkerState.DEAD)
    report = table(args, tally, kills, sampler, wall_s, status.queue, dead)
    print(report)
    print(f"\n{machine_line()}")
    if args.output is not None:
        replace_section(args.output, "soak", f"{report}\n\n{machine_line()}")
    return 1 if tally.incomplete or tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
