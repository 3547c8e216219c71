"""Load test: throughput and latency while concurrent producers keep the workers busy.

Sweeps worker count (1, 2, 4, ... N, one embedded service each, all started up front, cache
off) x concurrent producers (``--producers 1,2,4``). Every producer is a thread with its own
``Client`` that loops over a fixed mix of short replies and medium paragraphs of the sample
article (every request bypasses the cache), then finishes the request it has in flight. A
setting's ``--seconds`` are cut into ``--rounds`` segments taken in turn with the other
services' segments, so the comparison is side by side on a machine whose speed drifts. Per
setting: throughput (seconds of synthesized speech per wall second), requests done, p50/p99
latency, median time to first audio, errors by code.

``--tcp`` adds, for each worker count, the same sweep on a broker bound to TCP loopback with
no workers of its own, joined by that many separately started ``swtts worker`` processes, as
workers on other machines join: the two rows side by side show whether joined workers count
the same as local ones.

``--connect tcp://HOST:PORT`` measures an existing service instead (its workers, local or
remote, are whatever it has; ``--config`` supplies CURVE keys off loopback), sweeping the
producers only. ``--output docs/benchmarks.md`` replaces the ``<!-- load:start -->`` section.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench import ARTICLE, percentile, warm_up, worker_counts
from scripts.report import machine_line, replace_section
from swtts.client import Client, SynthesisOptions, TTSError
from swtts.config import Settings, load_settings
from swtts.protocol import WorkerState
from swtts.service import EmbeddedService, threads_per_worker, worker_command

SHORT_REPLIES = (
    "Hello there, how can I help you today?",
    "Sure, I can do that.",
    "The meeting is at three o'clock tomorrow afternoon.",
    "Sorry, I didn't catch that. Could you say it again?",
    "It's sunny and twenty two degrees outside right now.",
    "Done. I've added milk and eggs to your shopping list.",
    "Your next alarm is set for six thirty.",
    "That's a great question; let me think about it for a second.",
)
PARAGRAPHS = tuple(p.strip() for p in ARTICLE.split("\n\n") if 200 <= len(p.strip()) <= 1200)
SHORT_SHARE = 0.7  # seven requests in ten are short replies, the rest article paragraphs
REQUEST_DEADLINE_S = 120.0
ERROR_PAUSE_S = 0.1


@dataclass(frozen=True)
class Outcome:
    """One request: its latency, time to first audio, speech seconds, or its error code."""

    latency_ms: float
    first_ms: float
    audio_s: float
    error: str | None = None


@dataclass(frozen=True)
class Setting:
    """The figures of one (workers, producers) setting."""

    workers: str
    producers: int
    wall_s: float
    outcomes: list[Outcome]

    def figures(self) -> dict[str, Any]:
        """Throughput, requests done, latency p50/p99 and first audio p50 (ms; None with none done), errors."""
        done = [o for o in self.outcomes if o.error is None]
        latency = [o.latency_ms for o in done]
        return {
            "workers": self.workers,
            "producers": self.producers,
            "audio_per_s": sum(o.audio_s for o in done) / self.wall_s,
            "requests": len(done),
            "p50_ms": percentile(latency, 0.5) if done else None,
            "p99_ms": percentile(latency, 0.99) if done else None,
            "first_p50_ms": statistics.median(o.first_ms for o in done) if done else None,
            "errors": dict(sorted(Counter(o.error for o in self.outcomes if o.error is not None).items())),
            "wall_s": self.wall_s,
        }

    def row(self) -> str:
        return figures_row(self.figures())


def figures_row(f: dict[str, Any]) -> str:
    """A markdown row of :meth:`Setting.figures` (the table header is in :func:`main`)."""
    latency = f"{f['p50_ms']:.0f} | {f['p99_ms']:.0f} | {f['first_p50_ms']:.0f}" if f["requests"] else "- | - | -"
    errors = ", ".join(f"{code}: {n}" for code, n in f["errors"].items()) or "0"
    return (
        f"| {f['workers']} | {f['producers']} | {f['audio_per_s']:.1f} | {f['requests']} | {latency}"
        f" | {errors} | {f['wall_s']:.1f} |"
    )


def produce(endpoint: str, settings: Settings, seed: int, stop_at: float) -> list[Outcome]:
    """One producer: requests back to back until ``stop_at``, then the one in flight finishes."""
    rng = random.Random(seed)
    outcomes: list[Outcome] = []
    with Client(endpoint, settings) as client:
        while time.monotonic() < stop_at:
            text = rng.choice(SHORT_REPLIES) if rng.random() < SHORT_SHARE else rng.choice(PARAGRAPHS)
            started = time.perf_counter()
            first: float | None = None
            audio = 0.0
            try:
                for chunk in client.stream(text, SynthesisOptions(use_cache=False, deadline_s=REQUEST_DEADLINE_S)):
                    first = chunk.received_ms if first is None else first
                    audio += chunk.duration_s
            except TTSError as exc:
                outcomes.append(Outcome((time.perf_counter() - started) * 1000, 0.0, 0.0, exc.code))
                time.sleep(ERROR_PAUSE_S)
                continue
            outcomes.append(Outcome((time.perf_counter() - started) * 1000, first or 0.0, audio))
    return outcomes


def run_setting(endpoint: str, settings: Settings, workers: str, producers: int, seconds: float) -> Setting:
    started = time.perf_counter()
    stop_at = time.monotonic() + seconds
    with ThreadPoolExecutor(producers, thread_name_prefix="producer") as executor:
        futures = [executor.submit(produce, endpoint, settings, seed, stop_at) for seed in range(producers)]
        outcomes = [outcome for future in futures for outcome in future.result()]
    return Setting(workers, producers, time.perf_counter() - started, outcomes)


def sweep_interleaved(
    services: list[tuple[str, str]], settings: Settings, producer_counts: list[int], seconds: float, rounds: int
) -> list[Setting]:
    """Every (service, producers) setting, each run as ``rounds`` segments taken in turn with the
    other services' segments, so a slow spell of a shared machine falls on all of them alike."""
    done: list[Setting] = []
    for producers in producer_counts:
        segments: dict[str, list[Setting]] = {label: [] for label, _ in services}
        for turn in range(rounds):
            shift = turn % len(services)
            for label, endpoint in services[shift:] + services[:shift]:
                segments[label].append(run_setting(endpoint, settings, label, producers, seconds / rounds))
        for label, parts in segments.items():
            setting = Setting(label, producers, sum(p.wall_s for p in parts), [o for p in parts for o in p.outcomes])
            print(setting.row(), flush=True)
            done.append(setting)
    order = [label for label, _ in services]
    return sorted(done, key=lambda setting: (order.index(setting.workers), setting.producers))


@contextmanager
def joined_over_tcp(settings: Settings, count: int) -> Iterator[EmbeddedService]:
    """A worker-less broker on TCP loopback that ``count`` separate worker processes join."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with EmbeddedService(settings, workers=0, use_cache=False, bind=f"tcp://127.0.0.1:{port}") as service:
        command = worker_command(service.config_file, service.endpoint, "WARNING", threads_per_worker(settings, count))
        workers = [subprocess.Popen(command, stdin=subprocess.DEVNULL) for _ in range(count)]
        try:
            service.wait_ready(count)
            yield service
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=20)


def describe_workers(client: Client) -> str:
    """Live workers of a running service, e.g. ``3 (hostA: 2, hostB: 1)``."""
    live = [w for w in client.status().workers if w.state is not WorkerState.DEAD]
    hosts = Counter(w.worker.rpartition(":")[0] for w in live)
    return f"{len(live)} ({', '.join(f'{host}: {n}' for host, n in sorted(hosts.items()))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each setting (default 15)")
    parser.add_argument(
        "--max-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="sweep 1, 2, 4, ... up to this many local workers (default: cores)",
    )
    parser.add_argument("--producers", default="1,2,4", help="comma-separated producer counts (default 1,2,4)")
    parser.add_argument(
        "--tcp", action="store_true", help="also sweep workers that join a TCP-loopback broker as separate processes"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="segments per setting, interleaved with the other services' (default 3)"
    )
    parser.add_argument("--connect", help="measure a running service at tcp://HOST:PORT instead")
    parser.add_argument("--config", help="TOML overriding config/default.toml (CURVE keys, device, ...)")
    parser.add_argument("--output", type=Path, help="replace the load section of this markdown file")
    args = parser.parse_args()
    try:
        producer_counts = [int(n) for n in args.producers.split(",")]
    except ValueError:
        parser.error("--producers must be comma-separated integers")
    if min(producer_counts) < 1 or args.max_workers < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--producers, --max-workers, --seconds and --rounds must be positive")
    settings = load_settings(args.config)
    started = time.perf_counter()
    header = [
        "| workers | producers | audio s / wall s | requests | p50 ms | p99 ms | first audio p50 ms | errors | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    print("\n".join(header), flush=True)
    settings_done: list[Setting] = []
    if args.connect:
        with Client(args.connect, settings) as client:
            warm_up(client)
            workers = describe_workers(client)
        settings_done += sweep_interleaved(
            [(workers, args.connect)], settings, producer_counts, args.seconds, args.rounds
        )
        where = f"Against the running service at {args.connect}."
    else:
        with ExitStack() as stack:
            services: list[tuple[str, str]] = []
            for count in worker_counts(args.max_workers):
                variants: list[tuple[str, AbstractContextManager[EmbeddedService]]] = [
                    (str(count), EmbeddedService(settings, workers=count, use_cache=False))
                ]
                if args.tcp:
                    variants.append((f"{count} joined over tcp", joined_over_tcp(settings, count)))
                for label, starting in variants:
                    service = stack.enter_context(starting)
                    warm_up(service.client())
                    services.append((label, service.endpoint))
            settings_done += sweep_interleaved(services, settings, producer_counts, args.seconds, args.rounds)
        where = (
            f"Embedded services (loopback ipc), one per worker count, all running, cache off; each setting "
            f"is {args.rounds} segments of {args.seconds / args.rounds:g} s taken in turn with the other "
            f"services' segments."
        )
        if args.tcp:
            where += (
                ' Rows "joined over tcp": a broker on tcp://127.0.0.1 with no workers of its own, '
                "joined by that many separately started `swtts worker` processes."
            )
    summary = (
        f"{machine_line()} {where} Each setting runs {args.seconds:g} s in all, each segment then waiting for "
        f"the requests in flight (wall s). Mix: {SHORT_SHARE:.0%} short replies, the rest article paragraphs of "
        f"{min(map(len, PARAGRAPHS))}–{max(map(len, PARAGRAPHS))} characters. Throughput counts synthesized "
        f"speech only; latency is request sent to last chunk received."
    )
    print(f"\n{summary}")
    if args.output:
        rows = [setting.row() for setting in settings_done]
        replace_section(args.output, "load", "\n".join([summary, "", *header, *rows]) + "\n")
        print(f"wrote the load section of {args.output}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
