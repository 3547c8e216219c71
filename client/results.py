"""What a caller gets back: audio chunk by chunk, or a whole document's assembled audio."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from swtts.config import AssemblySettings
from swtts.pipeline.assembly import assemble, write_audio
from swtts.protocol import Audio


@dataclass(frozen=True)
class AudioChunk:
    """One chunk of speech, in document order, with its format and its own timings.

    ``pcm`` is little-endian signed PCM of ``sample_width`` bytes per sample and ``channels``
    channels (int16 mono from Piper); ``total`` is the request's chunk count once its text is
    complete; ``received_ms`` counts from the request being sent.
    """

    index: int
    text: str
    pcm: bytes
    sample_rate: int
    sample_width: int
    channels: int
    sentence_samples: tuple[int, ...]
    paragraph_start: bool
    sentence_end: bool
    phonemes: str
    cached: bool
    worker: str
    queued_ms: float
    synth_ms: float
    received_ms: float
    total: int | None

    @classmethod
    def from_audio(cls, message: Audio, received_ms: float) -> AudioChunk:
        return cls(
            index=message.index,
            text=message.text,
            pcm=message.pcm,
            sample_rate=message.sample_rate,
            sample_width=message.sample_width,
            channels=message.channels,
            sentence_samples=message.sentence_samples,
            paragraph_start=message.paragraph_start,
            sentence_end=message.sentence_end,
            phonemes=message.phonemes,
            cached=message.cached,
            worker=message.worker,
            queued_ms=message.queued_ms,
            synth_ms=message.synth_ms,
            received_ms=round(received_ms, 3),
            total=message.total,
        )

    @property
    def audio(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / (self.sample_width * self.channels) / self.sample_rate


@dataclass
class SynthesisResult:
    """A whole document: assembled audio, its chunks and timings per stage."""

    audio: np.ndarray
    sample_rate: int
    chunks: list[AudioChunk]
    timings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def assemble(cls, chunks: list[AudioChunk], timings: dict[str, Any], settings: AssemblySettings) -> SynthesisResult:
        """The chunks joined with their pauses; ``assembly_ms`` is added to the timings."""
        started = time.perf_counter()
        audio = assemble(chunks, settings)
        timings = {**timings, "assembly_ms": round((time.perf_counter() - started) * 1000, 3)}
        return cls(audio, chunks[0].sample_rate if chunks else 0, chunks, timings)

    @property
    def duration_s(self) -> float:
        return self.audio.size / self.sample_rate if self.sample_rate else 0.0

    def write(self, path: str | Path) -> Path:
        """Write WAV/FLAC/OGG (by extension) atomically and verify it."""
        return write_audio(path, self.audio, self.sample_rate)
