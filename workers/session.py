"""onnxruntime session setup for a voice: providers, threads, CUDA options, the CPU fallback.

The session is built here rather than through ``PiperVoice.load`` so the worker controls
threads (one single-threaded session per core beats one session with many threads on small
machines) and the CUDA provider options that matter for Piper's graph.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import mmap
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime

from swtts.workers.graph import VoiceGraph, voice_graph
from swtts.workers.threads import in_thread
from swtts.workers.voice_files import VoiceFile, VoiceLoadError, check_voice

if TYPE_CHECKING:
    from swtts.config import Settings

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
    import importlib.metadata

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
    graph: VoiceGraph, threads: int, providers: Providers, shared_arena: bool = False, optimize: bool = True
) -> onnxruntime.InferenceSession:
    """A session over the voice's graph with :func:`session_options`, its large weights mapped from the voice file."""
    options = session_options(threads, shared_arena, optimize)
    if providers == ["CPUExecutionProvider"]:
        # The memory-pattern planner keeps a block per input shape it has seen, and every sentence
        # has its own: a worker went from 360 to 515 MiB over 8,000 characters with it, at the same speed.
        options.enable_mem_pattern = False
    if graph.model is None:
        return onnxruntime.InferenceSession(str(graph.source), options, providers)
    with graph.source.open("rb") as file:
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    names, values = [], []
    for weight in graph.weights:
        if weight.end > len(mapping):
            raise VoiceLoadError(f"{graph.source} is shorter than its kept graph says: changed while in use?")
        dtype = np.dtype(weight.dtype)
        array = np.frombuffer(mapping, dtype, (weight.end - weight.start) // dtype.itemsize, weight.start)
        names.append(weight.name)
        values.append(onnxruntime.OrtValue.ortvalue_from_numpy(array.reshape(weight.shape)))
    options.add_external_initializers(names, values)
    session = onnxruntime.InferenceSession(graph.model, options, providers)
    _MAPPED[session] = (mapping, values)
    with contextlib.suppress(OSError, AttributeError):  # (no madvise: the pages only stay counted)
        mapping.madvise(mmap.MADV_DONTNEED)
    return session


_MAPPED: weakref.WeakKeyDictionary[onnxruntime.InferenceSession, tuple[mmap.mmap, list[Any]]] = (
    weakref.WeakKeyDictionary()
)
"""Each session's mapping of its voice file and the values made over it, kept as long as the session
(onnxruntime's terms for external initializers). onnxruntime copies the weights while it loads,
so the mapped pages are then dropped from the process's resident set, where they would count a
second time; they come back from the page cache if they are ever read again."""


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


@dataclass(frozen=True)
class SessionPlan:
    """Which sessions a voice gets and how they are opened: decided in one place, for the engine
    and for an opening started before the engine's own imports (:class:`SessionOpening`)."""

    model_path: Path
    graphs: Path | None
    threads: int
    solo_threads: int
    providers: tuple[Any, ...]
    device: str
    optimize: bool
    conv2d: bool

    @classmethod
    def decide(
        cls,
        model_path: Path,
        device: str,
        threads: int,
        gpu_mem_limit_mb: int = 0,
        solo_threads: int = 0,
        quick_start: bool = False,
        graphs: Path | None = None,
    ) -> SessionPlan:
        """The plan for ``device`` (CPU when CUDA cannot be had, logged).

        The solo session is for a CPU worker with fewer threads than ``solo_threads`` and
        no quick start; a quick start on CPU skips the graph optimizations. A one-thread CPU
        session with them runs the 2-D convolutions' graph (:mod:`swtts.workers.conv2d`).
        """
        providers, actual = session_providers(device, gpu_mem_limit_mb)
        solo = solo_threads if actual == "cpu" and solo_threads > threads and not quick_start else 0
        optimize = not (quick_start and actual == "cpu")
        conv2d = actual == "cpu" and optimize and threads == 1
        return cls(model_path, graphs, threads, solo, tuple(providers), actual, optimize, conv2d)

    def open(self) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession | None]:
        """The voice's session and its solo session (None without one), over the duration-patched graph."""
        providers = list(self.providers)
        graph = voice_graph(self.model_path, self.graphs, self.conv2d)
        session = open_session(graph, self.threads, providers, bool(self.solo_threads), self.optimize)
        if not self.solo_threads:
            return session, None
        solo_graph = voice_graph(self.model_path, self.graphs) if self.conv2d else graph
        return session, open_session(solo_graph, self.solo_threads, providers, True, self.optimize)


def settings_threads(settings: Settings, threads: int | None = None) -> tuple[int, int]:
    """A worker's threads (``threads``, else ``voice.threads``, else every core) and its solo session's."""
    cores = os.cpu_count() or 1
    return threads or settings.voice.threads or cores, settings.voice.solo_threads or cores


def graph_folder(settings: Settings) -> Path:
    """Where the voices' edited graphs are kept (see :mod:`swtts.workers.graph`)."""
    return settings.cache.directory() / "graphs"


class SessionOpening:
    """A CPU voice's sessions being opened on a thread of their own, from before the engine is imported.

    onnxruntime lets go of the GIL for most of a load, so the rest of a cold start (the
    engine's and the broker's imports) runs beside it instead of before it. The engine takes
    the sessions if its own plan is the same, else opens its own (see ``Engine(opening=...)``).
    ``voice`` is the checked voice they are opened for.
    """

    def __init__(self, plan: SessionPlan, voice: VoiceFile) -> None:
        self.plan = plan
        self.voice = voice
        self._sessions = in_thread("voice-session", plan.open)

    @classmethod
    def for_settings(cls, settings: Settings, threads: int | None = None) -> SessionOpening | None:
        """The configured voice opening as ``Engine.from_settings(settings, threads)`` would open it.

        None off the CPU (a CUDA start has costs of its own) or when the voice's files are
        wrong (the engine then says why, in its own one line).
        """
        if settings.voice.device != "cpu":
            return None
        try:
            voice = check_voice(settings.voice.model or None)
        except VoiceLoadError:
            return None
        main, solo = settings_threads(settings, threads)
        plan = SessionPlan.decide(
            voice.model_path, "cpu", main, 0, solo, settings.voice.quick_start, graph_folder(settings)
        )
        return cls(plan, voice)

    def result(self) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession | None]:
        """The opened sessions (waiting for them); the opening's error, if it failed."""
        return self._sessions.result()
