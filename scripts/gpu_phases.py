"""The phases of ``scripts/bench_gpu.py``; each runs in a child process of its own, with a deadline.

A phase writes what it has measured to its JSON file after every step, so a phase killed at its
time limit still leaves its earlier figures, and sizes its repeats from the time it was given:
the first round of anything always runs, a next one only if it fits (as long as the slowest so far).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperVoice

from scripts.bench import ARTICLE, MODEL, SHORT, Run, cli_run, speak, worker_counts
from scripts.bench_batching import article_sentences, padding_share, phoneme_lengths, time_batching
from swtts.pipeline.sentences import sentence_spans
from swtts.protocol import SynthesisParams
from swtts.workers.engine import Engine
from swtts.workers.session import cuda_available

BATCH_TOLERANCE = 64
"""Batched vs one at a time on the CPU: most an int16 sample may differ, as ``tests/test_engine.py`` allows."""
HOP_SAMPLES = 256
"""One frame of the voice's decoder: the unit a phoneme's predicted duration is rounded to."""
SAME_LOUDNESS_DB = 0.1
"""Two renderings of the same text on the GPU: loudness this close in RMS dBFS."""
TAIL_SAMPLES = 2048
"""... except in each chunk's last samples (the padded tail is cut by the predicted durations)."""
SAME_AUDIO_CORRELATION = 0.99
"""CUDA vs CPU: equal lengths and at least this correlation (as the kit's gpucheck asks)."""
CHECK_TEXTS = (
    "Hello world.",
    "This is a considerably longer sentence with many more phonemes in it. And a second one.",
    "Medium length sentence here.",
    "Short.",
)


@dataclass(frozen=True)
class Plan:
    """What a run measures: the device of the GPU phases, texts, pipelines and most repeats."""

    device: str
    article: str
    check_text: str
    gpu_pipelines: tuple[tuple[int, str], ...]
    cpu_workers: tuple[int, ...]
    short_rounds: int
    article_rounds: int
    gpu_load_s: float
    gpu_producers: int
    cpu_load_s: float
    engine_sentences: int
    engine_batches: tuple[int, ...]
    engine_rounds: int
    gpu_mem_limit_mb: int

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


def make_plan(device: str, rehearse: bool, follow_up: bool = False) -> Plan:
    """The full plan for a 16-core GPU machine, or a small one that rehearses every step on a CPU.

    ``follow_up`` is the second run on the same machine, after the first showed that unbatched
    CUDA is slow: only batching-on GPU pipelines (and 4 workers off, for the comparison), fewer
    short and article rounds, so that every load test fits.
    """
    paragraphs = [p.strip() for p in ARTICLE.split("\n\n") if p.strip()]
    full = Plan(
        device=device,
        article=ARTICLE,
        check_text="\n\n".join(paragraphs[1:3]),
        gpu_pipelines=((1, "off"), (1, "on"), (2, "off"), (2, "on"), (4, "off"), (4, "on")),
        cpu_workers=tuple(worker_counts(os.cpu_count() or 1)),
        short_rounds=15,
        article_rounds=3,
        gpu_load_s=4.0,
        gpu_producers=16,
        cpu_load_s=6.0,
        engine_sentences=48,
        engine_batches=(8, 32),
        engine_rounds=5,
        gpu_mem_limit_mb=8192,
    )
    if follow_up:
        full = replace(
            full,
            gpu_pipelines=((1, "on"), (2, "on"), (4, "on"), (4, "off")),
            short_rounds=5,
            article_rounds=2,
            gpu_load_s=5.0,
            cpu_load_s=5.0,
        )
    if not rehearse:
        return full
    return replace(
        full,
        device="cpu",
        article=_first_sentences(ARTICLE, 1200),
        check_text=paragraphs[1],
        gpu_pipelines=((1, "off"), (1, "on"), (2, "on")),
        cpu_workers=(1, 2),
        short_rounds=3,
        article_rounds=1,
        gpu_load_s=2.0,
        gpu_producers=4,
        cpu_load_s=2.0,
        engine_sentences=6,
        engine_batches=(4,),
        engine_rounds=1,
    )


def _first_sentences(text: str, most_chars: int) -> str:
    """The longest run of whole sentences from the start of ``text`` within ``most_chars``."""
    ends = [end for _, end in sentence_spans(text) if end <= most_chars]
    return text[: ends[-1]] if ends else text[:most_chars]


@dataclass
class Phase:
    """One phase's plan, deadline (``time.time()``), results file and the run's scratch folder."""

    plan: Plan
    deadline: float
    path: Path
    scratch: Path
    data: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        """Record a figure and write the phase's file at once (atomically)."""
        self.data[key] = value
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data, indent=1, default=str))
        partial.replace(self.path)

    def split(self, shares: dict[str, float]) -> Callable[[str], float]:
        """Deadlines for the phase's remaining steps: what is left, shared out like the run shares its phases."""
        names = list(shares)

        def until(name: str) -> float:
            remaining = sum(shares[n] for n in names[names.index(name) :])
            return time.time() + max(0.0, self.deadline - time.time()) * shares[name] / remaining

        return until


def rounds_until(deadline: float, most: int) -> Iterator[int]:
    """Round indexes 0.. up to ``most``: the first always, each next one only if it still fits."""
    slowest = 0.0
    for index in range(most):
        if index and time.time() + slowest > deadline:
            return
        started = time.perf_counter()
        yield index
        slowest = max(slowest, time.perf_counter() - started)


# ----- audio checks ---------------------------------------------------------------------------


def rms_dbfs(pcm: np.ndarray) -> float | None:
    """Loudness of int16 audio as RMS in dB below full scale (None for silence)."""
    if not pcm.size:
        return None
    rms = float(np.sqrt(np.mean((pcm.astype(np.float64) / 32768.0) ** 2)))
    return 20 * float(np.log10(rms)) if rms > 0 else None


def compare_chunks(first: list[np.ndarray], second: list[np.ndarray]) -> dict[str, Any]:
    """Two renderings of the same chunks: lengths, largest body difference (tails excluded), correlation."""
    same = len(first) == len(second) and all(a.size == b.size for a, b in zip(first, second, strict=False))
    figures: dict[str, Any] = {
        "samples": [int(sum(a.size for a in first)), int(sum(b.size for b in second))],
        "rms_dbfs": [rms_dbfs(np.concatenate(first)), rms_dbfs(np.concatenate(second))],
        "same_lengths": same,
    }
    if same:
        bodies = [
            np.abs(a[: a.size - TAIL_SAMPLES].astype(np.int32) - b[: b.size - TAIL_SAMPLES].astype(np.int32))
            for a, b in zip(first, second, strict=True)
        ]
        joined_a, joined_b = np.concatenate(first).astype(np.float64), np.concatenate(second).astype(np.float64)
        figures["max_body_diff"] = int(max((body.max() for body in bodies if body.size), default=0))
        figures["correlation"] = float(np.corrcoef(joined_a, joined_b)[0, 1])
    return figures


def same_speech(figures: dict[str, Any], frames_apart: int) -> bool:
    """Two renderings are the same speech within GPU numerics.

    On the GPU, batch shapes pick different kernels, so a phoneme's predicted duration can
    round to one more or one less frame: each chunk may differ by a few hops in length, and
    sample values are not comparable after such a shift. What must hold is the duration
    (within ``frames_apart`` hops in all), the loudness, and, where the lengths agree exactly,
    a waveform correlation of at least ``SAME_AUDIO_CORRELATION``.
    """
    samples = figures["samples"]
    loudness = figures["rms_dbfs"]
    close_length = abs(samples[0] - samples[1]) <= frames_apart * HOP_SAMPLES
    close_loudness = None not in loudness and abs(loudness[0] - loudness[1]) <= SAME_LOUDNESS_DB
    correlated = not figures["same_lengths"] or figures["correlation"] >= SAME_AUDIO_CORRELATION
    return bool(close_length and close_loudness and correlated)


def pcm_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2")


# ----- phases ---------------------------------------------------------------------------------


def phase_env(phase: Phase) -> None:
    """The machine, the GPU, onnxruntime and its providers, and whether ``python -P -m swtts`` imports."""
    texts = {"article": phase.plan.article, "check_text": phase.plan.check_text}
    plan = {key: value for key, value in asdict(phase.plan).items() if key not in texts}
    phase.put("plan", plan | {f"{key}_chars": len(text) for key, text in texts.items()})
    phase.put("python", sys.version.split()[0])
    phase.put("cpu", {"count": os.cpu_count(), "model": _cpu_model()})
    phase.put(
        "onnxruntime",
        {
            "version": onnxruntime.__version__,
            "providers": onnxruntime.get_available_providers(),
            "file": onnxruntime.__file__,
        },
    )
    phase.put("cuda_available", cuda_available())
    phase.put("packages", {name: _version(name) for name in ("onnxruntime-gpu", "onnxruntime", "piper-tts", "numpy")})
    query = nvidia_smi("--query-gpu=name,driver_version,memory.total,memory.used", "--format=csv,noheader")
    if query is not None:
        name, driver, total, used = (part.strip() for part in query.splitlines()[0].split(","))
        cuda = re.search(r"CUDA Version:\s*([\d.]+)", nvidia_smi() or "")
        phase.put("gpu", {"name": name, "driver": driver, "memory_total": total, "memory_used": used})
        phase.put("cuda_version", cuda.group(1) if cuda else None)
    probe = subprocess.run(
        [sys.executable, "-P", "-m", "swtts", "--help"], cwd="/", capture_output=True, text=True, timeout=60
    )
    phase.put("children_import_swtts", probe.returncode == 0 or probe.stderr.strip().splitlines()[-1:])


def phase_engine(phase: Phase) -> None:
    """In-process engines: CUDA vs CPU audio, batched vs one at a time, and sorted batches' speed."""
    plan = phase.plan
    cores = os.cpu_count() or 1
    gpu = Engine(device=plan.device, threads=cores, batching="on")  # alone on the GPU: no memory limit
    phase.put("device", {"engine": gpu.info.device, "providers": gpu.voice.session.get_providers()})
    _require_gpu(plan, gpu.info.device)
    cpu = Engine(device="cpu", threads=cores)
    deterministic = SynthesisParams(noise_scale=0.0, noise_w=0.0)
    singles = [pcm_array(gpu.synthesize(text, deterministic).pcm) for text in CHECK_TEXTS]
    batched = gpu.synthesize_batch([(text, deterministic) for text in CHECK_TEXTS], max_rows=8)
    check = compare_chunks([pcm_array(result.pcm) for result in batched], singles)
    check.update(batch_sizes=gpu.last_batch_sizes, tolerance=BATCH_TOLERANCE, tail_samples=TAIL_SAMPLES)
    check["pass_cpu_rule"] = check["same_lengths"] and check["max_body_diff"] <= BATCH_TOLERANCE
    check["pass"] = check["pass_cpu_rule"] if plan.device == "cpu" else same_speech(check, len(CHECK_TEXTS))
    phase.put("batched_vs_one", check)
    on_cpu = [pcm_array(cpu.synthesize(text, deterministic).pcm) for text in CHECK_TEXTS]
    versus = compare_chunks(singles, on_cpu)
    versus["pass"] = same_speech(versus, frames_apart=len(CHECK_TEXTS))
    phase.put("gpu_vs_cpu", versus)
    sentences = article_sentences(plan.engine_sentences)
    lengths = phoneme_lengths(gpu, sentences)
    phase.put("sentences", {"count": len(sentences), "phoneme_ids": sum(lengths)})
    phase.put(
        "padding",
        {
            str(size): [padding_share(lengths, size), padding_share(sorted(lengths), size)]
            for size in plan.engine_batches
        },
    )
    times = time_batching(gpu, sentences, list(plan.engine_batches), rounds_until(phase.deadline, plan.engine_rounds))
    phase.put("batching_s", {str(size): {"median": statistics.median(t), "n": len(t)} for size, t in times.items()})


def phase_baseline(phase: Phase) -> None:
    """The article through in-process PiperVoice and the Piper CLI, GPU then CPU, once each as time allows."""
    plan = phase.plan
    if plan.on_gpu:
        cuda_available()  # loads the CUDA libraries the way the workers do

    def in_process(cuda: bool) -> Run:
        voice = PiperVoice.load(MODEL, use_cuda=cuda)
        phase.put(f"providers_{'gpu' if cuda else 'cpu'}", voice.session.get_providers())
        speak(voice, SHORT)
        return speak(voice, plan.article)

    methods: list[tuple[str, Callable[[], Run]]] = [
        ("in-process PiperVoice, GPU", lambda: in_process(True)),
        ("in-process PiperVoice, CPU (all cores)", lambda: in_process(False)),
        ("Piper CLI --cuda, one process", lambda: cli_run(plan.article, True, phase.scratch / "cli.wav")),
        ("Piper CLI, CPU, one process", lambda: cli_run(plan.article, False, phase.scratch / "cli.wav")),
    ]
    runs: dict[str, Any] = {}
    slowest = 0.0
    for label, method in methods:
        if time.time() + slowest > phase.deadline:
            runs[label] = "skipped: out of time"
            continue
        started = time.perf_counter()
        run = method()
        slowest = max(slowest, time.perf_counter() - started)
        runs[label] = {"wall_s": run.wall_s, "audio_s": run.audio_s, "first_s": run.first_s}
        phase.put("article", runs)
    phase.put("article", runs)


def _require_gpu(plan: Plan, device: str) -> None:
    """On a GPU plan, stop the phase at once when the engine fell back to the CPU (the log says why)."""
    if plan.on_gpu and device == "cpu":
        raise RuntimeError(f"{plan.device} requested but the voice runs on the CPU (the log has onnxruntime's reason)")


def nvidia_smi(*args: str) -> str | None:
    """``nvidia-smi``'s output, or None where there is none (or it fails)."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout if done.returncode == 0 else None


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
