"""The pipeline steps of ``scripts/bench_gpu.py``: embedded services started together, measured side by side.

For the GPU and the CPU phase alike: every pipeline (one embedded service, cache off) starts at
once; then, each step in turn on every pipeline: the audio check (the check text with noise off:
batching on vs off at the same worker count; the CPU against the GPU's rendering), the short
reply and the article in interleaved rounds, and a load test segment per pipeline. What the
workers did (device, batch sizes, solo chunks), their GPU memory and peak RSS are read after the
article and after the load test.

The calls into the client API are the small functions at the end (``_deterministic``,
``_live_workers``), so an API change touches only them.
"""

from __future__ import annotations

import functools
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from scripts.bench import (
    Method,
    gpu_memory_mib,
    interleave,
    measure_article,
    measure_short,
    peak_rss_mib,
    percentile,
    pipeline_article,
    pipeline_short,
    warm_up,
)
from scripts.gpu_phases import (
    BATCH_TOLERANCE,
    Phase,
    compare_chunks,
    nvidia_smi,
    rms_dbfs,
    rounds_until,
    same_speech,
)
from scripts.loadtest import run_setting
from swtts.client import Client, SynthesisOptions
from swtts.config import load_settings
from swtts.protocol import WorkerState
from swtts.service import EmbeddedService

STEP_SHARES = {"short": 0.2, "article": 0.4, "load": 0.4}
"""How a phase's time left after start-up is shared among its measuring steps."""
LOAD_DRAIN_S = 1.5
"""Allowance per load segment for the requests still in flight when it ends."""
START_TIMEOUT_S = 120.0
START_SHARE = 0.6
"""Pipelines not ready within this share of the phase's time (or START_TIMEOUT_S) are left out."""
REFERENCE = "gpu_check_text.npz"
"""The GPU phase's 1-worker rendering of the check text, for the CPU phase to compare against."""


@dataclass
class Pipeline:
    """One embedded service of the phase and how it is measured."""

    label: str
    workers: int
    batching: str | None
    service: EmbeddedService
    client: Client | None = None
    method: Method | None = None


def phase_gpu(phase: Phase) -> None:
    """Pipelines on the GPU, 1 to 4 workers sharing it, batching off and on; the load test with a fixed crowd."""
    plan = phase.plan
    specs = [(f"{n} worker(s), batching {mode}", n, {"voice__batching": mode}) for n, mode in plan.gpu_pipelines]
    base = {"voice__device": plan.device, "voice__gpu_mem_limit_mb": plan.gpu_mem_limit_mb}
    run_pipelines(phase, specs, base, lambda _: plan.gpu_producers, plan.gpu_load_s, gpu_phase=True)


def phase_cpu(phase: Phase) -> None:
    """Pipelines of one single-threaded CPU worker per core, 1 to all cores; the load test with 2 producers a worker."""
    plan = phase.plan
    specs: list[tuple[str, int, dict[str, Any]]] = [(f"{n} worker(s)", n, {}) for n in plan.cpu_workers]
    base = {"voice__device": "cpu", "voice__threads": 1}
    run_pipelines(phase, specs, base, lambda workers: 2 * workers, plan.cpu_load_s, gpu_phase=False)


def run_pipelines(
    phase: Phase,
    specs: list[tuple[str, int, dict[str, Any]]],
    base: dict[str, Any],
    producers: Callable[[int], int],
    load_s: float,
    gpu_phase: bool,
) -> None:
    """Start ``specs`` (label, workers, settings overrides on top of ``base``) and measure them all.

    The GPU phase stops at once if its workers fell back to the CPU, and saves its 1-worker
    rendering of the check text; the CPU phase compares its own with it.
    """
    plan = phase.plan
    with ExitStack() as stack:
        phase.put("gpu_memory_used_before", _gpu_memory_used())
        started = time.perf_counter()
        pipelines = _start_all(phase, stack, specs, base)
        phase.put("start_s", time.perf_counter() - started)
        phase.put("workers", {p.label: _live_workers(p) for p in pipelines})
        on_cpu = [p.label for p in pipelines if any(w["device"] == "cpu" for w in _live_workers(p))]
        if gpu_phase and plan.on_gpu and on_cpu:
            raise RuntimeError(f"{plan.device} requested but these pipelines' workers run on the CPU: {on_cpu}")
        phase.put("audio", _check_audio(phase, pipelines, gpu_phase))
        until = phase.split(STEP_SHARES)
        methods = [p.method for p in pipelines if p.method is not None]
        interleave(methods, rounds_until(until("short"), plan.short_rounds), measure_short)
        phase.put("short", {m.label: _short_figures(m) for m in methods})
        interleave(methods, rounds_until(until("article"), plan.article_rounds), measure_article)
        phase.put("article", {m.label: _article_figures(m) for m in methods})
        phase.put("after_article", _snapshot(pipelines))
        phase.put("gpu_memory_used_with_pipelines", _gpu_memory_used())
        deadline = until("load")
        load: dict[str, Any] = {}
        for position, pipeline in enumerate(pipelines):
            seconds = min(load_s, (deadline - time.time()) / (len(pipelines) - position) - LOAD_DRAIN_S)
            if seconds < 1.0:
                load[pipeline.label] = "skipped: out of time"
                continue
            count = producers(pipeline.workers)
            setting = run_setting(pipeline.service.endpoint, pipeline.service.settings, pipeline.label, count, seconds)
            load[pipeline.label] = setting.figures() | {"seconds": seconds}
            phase.put("load", load)
        phase.put("load", load)
        phase.put("after_load", _snapshot(pipelines))


def _start_all(
    phase: Phase, stack: ExitStack, specs: list[tuple[str, int, dict[str, Any]]], base: dict[str, Any]
) -> list[Pipeline]:
    """Every pipeline started at once and warmed up; one that fails to start is recorded and left out."""
    pipelines = []
    for label, workers, overrides in specs:
        settings = load_settings().override(**base, **overrides)
        start_timeout = min(START_TIMEOUT_S, max(10.0, START_SHARE * (phase.deadline - time.time())))
        service = EmbeddedService(settings, workers=workers, use_cache=False, start_timeout_s=start_timeout)
        stack.callback(service.stop)
        pipelines.append(Pipeline(label, workers, overrides.get("voice__batching"), service))
    with ThreadPoolExecutor(len(pipelines)) as pool:
        starts = [pool.submit(p.service.start) for p in pipelines]
    failed = {p.label: repr(s.exception()) for p, s in zip(pipelines, starts, strict=True) if s.exception()}
    if failed:
        phase.put("start_errors", failed)
    ready = [p for p in pipelines if p.label not in failed]
    if not ready:
        raise RuntimeError(f"no pipeline started: {failed}")
    for pipeline in ready:
        client = pipeline.client = pipeline.service.client()
        warm_up(client)
        pipeline.method = Method(
            pipeline.label,
            short=functools.partial(pipeline_short, client),
            article=functools.partial(pipeline_article, client, phase.plan.article),
        )
    return ready


def _check_audio(phase: Phase, pipelines: list[Pipeline], gpu_phase: bool) -> dict[str, Any]:
    """The check text, noise off, through every pipeline; batching on vs off; the CPU vs the GPU's reference."""
    rendered = {p.label: _deterministic(p, phase.plan.check_text) for p in pipelines}
    sample_rate = next(iter(rendered.values()))[1]
    check: dict[str, Any] = {
        "pipelines": {
            label: {
                "chunks": len(chunks),
                "speech_s": sum(c.size for c in chunks) / rate,
                "rms_dbfs": rms_dbfs(np.concatenate(chunks)),
            }
            for label, (chunks, rate) in rendered.items()
        }
    }
    pairs: dict[str, Any] = {}
    for on in (p for p in pipelines if p.batching == "on"):
        off = next((p for p in pipelines if p.batching == "off" and p.workers == on.workers), None)
        if off is not None:
            pair = compare_chunks(rendered[on.label][0], rendered[off.label][0])
            pair["pass_cpu_rule"] = pair["same_lengths"] and pair["max_body_diff"] <= BATCH_TOLERANCE
            pair["pass"] = same_speech(pair, frames_apart=len(rendered[on.label][0]))
            pairs[f"{on.workers} worker(s)"] = pair
    check["batching_on_vs_off"] = pairs
    single = next((p for p in pipelines if p.workers == 1 and p.batching != "on"), None)
    reference = phase.scratch / REFERENCE
    if single is not None and gpu_phase:
        np.savez(reference, *rendered[single.label][0])
    elif single is not None and reference.exists():
        with np.load(reference) as saved:
            gpu_chunks = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        versus = compare_chunks(gpu_chunks, rendered[single.label][0])
        versus["pass"] = same_speech(versus, frames_apart=len(gpu_chunks))
        check["gpu_vs_cpu"] = versus
    check["sample_rate"] = sample_rate
    return check


def _snapshot(pipelines: list[Pipeline]) -> dict[str, Any]:
    """Each pipeline's live workers with their GPU memory (nvidia-smi) and peak RSS."""
    memory = gpu_memory_mib() if shutil.which("nvidia-smi") else {}
    return {
        p.label: [
            w | {"gpu_memory": memory.get(w["pid"]), "peak_rss_mib": peak_rss_mib(w["pid"])} for w in _live_workers(p)
        ]
        for p in pipelines
    }


def _short_figures(method: Method) -> dict[str, Any]:
    if not method.short_ms:
        return {"n": 0}
    synth = [s for s in method.synth_ms if s is not None]
    return {
        "median_ms": statistics.median(method.short_ms),
        "p90_ms": percentile(method.short_ms, 0.9),
        "synth_median_ms": statistics.median(synth) if synth else None,
        "n": len(method.short_ms),
    }


def _article_figures(method: Method) -> dict[str, Any]:
    if not method.runs:
        return {"n": 0}
    return {
        "wall_s": statistics.median(run.wall_s for run in method.runs),
        "audio_s": statistics.median(run.audio_s for run in method.runs),
        "first_s": statistics.median(run.first_s for run in method.runs),
        "n": len(method.runs),
    }


def _gpu_memory_used() -> str | None:
    used = nvidia_smi("--query-gpu=memory.used", "--format=csv,noheader")
    return used.strip() if used else None


# ----- the client API -------------------------------------------------------------------------


def _deterministic(pipeline: Pipeline, text: str) -> tuple[list[np.ndarray], int]:
    """``text`` spoken with noise off (so renderings compare sample by sample): each chunk's audio, the rate."""
    assert pipeline.client is not None
    result = pipeline.client.synthesize(text, SynthesisOptions(use_cache=False, noise_scale=0.0, noise_w=0.0))
    return [chunk.audio for chunk in result.chunks], result.sample_rate


def _live_workers(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The pipeline's live workers: pid, device, chunks done, solo chunks, chunks by the size of the group they were spoken in."""
    assert pipeline.client is not None
    return [
        {
            "pid": int(w.worker.rpartition(":")[2]),
            "device": w.device,
            "chunks_done": w.chunks_done,
            "solo_chunks": w.solo_chunks,
            "batch_sizes": dict(w.batch_sizes),
        }
        for w in pipeline.client.status().workers
        if w.state is not WorkerState.DEAD
    ]
