"""What a caller gets back: audio chunk by chunk, or a whole document's assembled audio."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swtts.client.words import Source, TimedWord
from swtts.config import AssemblySettings
from swtts.pipeline.assembly import assemble, write_audio
from swtts.protocol import Audio

if TYPE_CHECKING:  # numpy is imported where an array is asked for: a client writing files needs none
    import numpy as np


@dataclass(frozen=True)
class AudioChunk:
    """One chunk of speech, in document order, with its format and its own timings.

    ``pcm`` is little-endian signed PCM of ``sample_width`` bytes per sample and ``channels``
    channels (int16 mono from Piper); ``total`` is the request's chunk count once its text is
    complete; ``received_ms`` counts from the request being sent. ``text`` is the chunk as
    sent, its markup removed; ``source`` is the range of the request's text (as given, or
    all its tokens joined) that it reads, None if it could not be placed.

    ``words``: each word of ``text`` with when it is heard, in seconds on the request's output
    (the audio as assembled, pauses included: :attr:`SynthesisResult.audio`), in order;
    ``word_sources``: where each is in the request's text as given (None if unknown).
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
    source: tuple[int, int] | None = None
    words: tuple[TimedWord, ...] = ()
    word_sources: tuple[Source, ...] = ()

    @classmethod
    def from_audio(cls, message: Audio, received_ms: float, source: tuple[int, int] | None = None) -> AudioChunk:
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
            source=source,
        )

    @property
    def audio(self) -> np.ndarray:
        import numpy as np

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

    @property
    def words(self) -> list[TimedWord]:
        """Every word of the document with when it is heard in :attr:`audio` (seconds), in order."""
        return [word for chunk in self.chunks for word in chunk.words]

    @property
    def word_sources(self) -> list[Source]:
        """Where each of :attr:`words` is in the request's text as given (None if unknown)."""
        return [source for chunk in self.chunks for source in chunk.word_sources]

    def write(self, path: str | Path) -> Path:
        """Write WAV/FLAC/OGG (by extension) atomically and verify it."""
        return write_audio(path, self.audio, self.sample_rate)
