"""onnxruntime session setup for a voice: providers, threads, CUDA options, the CPU fallback.

The session is built here rather than through ``PiperVoice.load`` so the worker controls
threads (one single-threaded session per core beats one session with many threads on small
machines) and the CUDA provider options that matter for Piper's graph.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import logging
from typing import Any

import onnxruntime

from swtts.workers.voice_files import VoiceLoadError

LOGGER = logging.getLogger(__name__)

Providers = list[Any]
"""onnxruntime's provider list: names, or (name, options) pairs."""


@functools.cache
def cuda_available() -> bool:
    """True when onnxruntime was built with its CUDA provider (the ``gpu`` extra, not clobbered).

    The extra installs CUDA and cuDNN as PyPI wheels (``onnxruntime-gpu[cuda,cudnn]``), which
    onnxruntime does not look for on its own: they are loaded here, once, before any session.
    ``preload_dlls`` reports problems with ``print``; that text is logged instead, so it can
    never land in audio written to standard output.
    """
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    if hasattr(onnxruntime, "preload_dlls"):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            onnxruntime.preload_dlls()
        if printed.getvalue().strip():
            LOGGER.warning("loading CUDA libraries: %s", printed.getvalue().strip())
    return True


def _gpu_package_installed() -> bool:
    """Whether onnxruntime-gpu is installed: with no CUDA provider, the CPU onnxruntime overwrote it."""
    try:
        importlib.metadata.distribution("onnxruntime-gpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def session_providers(device: str, gpu_mem_limit_mb: int) -> tuple[Providers, str]:
    """onnxruntime providers for a device string, falling back to CPU (logged once) without CUDA.

    cuDNN's EXHAUSTIVE search re-benchmarks every new input shape (every sentence length), so
    HEURISTIC; ``kSameAsRequested`` and ``gpu_mem_limit`` let several workers share one GPU.
    """
    if device.startswith("cuda"):
        if cuda_available():
            _, _, index = device.partition(":")
            options: dict[str, Any] = {
                "device_id": int(index or 0),
                "cudnn_conv_algo_search": "HEURISTIC",
                "arena_extend_strategy": "kSameAsRequested",
                "do_copy_in_default_stream": True,
            }
            if gpu_mem_limit_mb > 0:
                options["gpu_mem_limit"] = gpu_mem_limit_mb * 2**20
            return [("CUDAExecutionProvider", options), "CPUExecutionProvider"], f"cuda:{options['device_id']}"
        if _gpu_package_installed():
            LOGGER.warning(
                "device %s requested and onnxruntime-gpu is installed, but the CPU-only onnxruntime package "
                "(a dependency of piper-tts) overwrote its files; run "
                "'pip install --force-reinstall --no-deps onnxruntime-gpu' once; using CPU",
                device,
            )
        else:
            LOGGER.warning(
                "device %s requested but onnxruntime has no CUDA provider (install swtts[gpu] on a CUDA machine); "
                "using CPU",
                device,
            )
    elif device != "cpu":
        raise VoiceLoadError(f"unknown device {device!r}; use 'cpu' or 'cuda:N'")
    return ["CPUExecutionProvider"], "cpu"


def runs_on_cuda(session: onnxruntime.InferenceSession) -> bool:
    """Whether a session got its CUDA provider: onnxruntime quietly drops it when CUDA cannot start."""
    return "CUDAExecutionProvider" in session.get_providers()


def use_batching(mode: str, device: str) -> bool:
    """``auto`` batches on CUDA only: on CPU, batching was measured slower than one chunk at a time."""
    if mode not in ("auto", "on", "off"):
        raise VoiceLoadError(f"voice.batching must be auto, on or off, got {mode!r}")
    return mode == "on" or (mode == "auto" and device.startswith("cuda"))


def open_session(
    graph: str | bytes, threads: int, providers: Providers, shared_arena: bool = False, optimize: bool = True
) -> onnxruntime.InferenceSession:
    """A session over a model path or serialized graph with :func:`session_options`."""
    options = session_options(threads, shared_arena, optimize)
    if providers == ["CPUExecutionProvider"]:
        # The memory-pattern planner keeps a block per input shape it has seen, and every sentence
        # has its own: a worker went from 360 to 515 MiB over 8,000 characters with it, at the same speed.
        options.enable_mem_pattern = False
    return onnxruntime.InferenceSession(graph, options, providers)


def session_options(threads: int, shared_arena: bool = False, optimize: bool = True) -> onnxruntime.SessionOptions:
    """Sequential execution on ``threads`` intra-op threads; optionally on the process's shared CPU arena.

    Spinning stays on: turning it off for the solo session (so it would yield its core to a
    neighbour that starts meanwhile) made a lone short reply ~12 ms slower on 2 cores, and
    load tests showed no gain in return. ``optimize=False`` skips onnxruntime's graph
    optimizations: the voice opened in 150-220 ms instead of 390-550 ms here, and CPU time
    per sentence stayed within the noise (8.0-9.1 s against 8.3-8.4 s for 16 sentences).
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    if not optimize:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if shared_arena:
        _register_shared_cpu_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    return options


@functools.cache
def _register_shared_cpu_arena() -> None:
    """One CPU arena for every session that opts in (registered once per process)."""
    memory = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(0, -1, -1, -1))
