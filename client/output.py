"""Speech written to a file or a stream as it arrives, never held whole in memory.

``Client.synthesize_to`` and ``swtts say`` both go through :func:`write_stream`: each chunk
gets its pauses (:class:`~swtts.pipeline.assembly.Assembler`) and is written in bounded blocks,
then dropped, so memory stays flat however long the document is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from swtts.client.results import AudioChunk
from swtts.config import AssemblySettings
from swtts.pipeline.assembly import Assembler, AudioFileWriter, OutputError, RawPcmWriter

Target = str | os.PathLike[str] | BinaryIO
"""A path (.wav, .flac or .ogg by its extension, written atomically) or a binary stream (raw s16le mono PCM)."""


class AudioWriter(Protocol):
    """What :func:`write_stream` writes through (AudioFileWriter, RawPcmWriter)."""

    def open(self, sample_rate: int) -> None: ...
    def write_pcm(self, pcm: bytes) -> None: ...
    def commit(self) -> Path | None: ...
    def abort(self) -> None: ...


@dataclass
class WrittenAudio:
    """What was written: where (None for a stream), how much, and the request's timings."""

    path: Path | None
    sample_rate: int
    frames: int
    chunks: int
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def writer_for(target: Target) -> AudioWriter:
    """The writer for a path or a stream; a path that cannot be written fails here, before any synthesis."""
    if isinstance(target, (str, os.PathLike)):
        return AudioFileWriter(target)
    return RawPcmWriter(target)


def write_stream(
    chunks: Iterable[AudioChunk],
    writer: AudioWriter,
    assembly: AssemblySettings,
    timings: Callable[[], dict[str, Any]],
    on_chunk: Callable[[AudioChunk], None] | None = None,
) -> WrittenAudio:
    """Write each chunk (with its pauses) as it arrives; on any failure nothing is left at a target path.

    ``timings`` is read once the stream is done (the request's own timings arrive with its end).
    """
    assembler = Assembler(assembly)
    frames = count = sample_rate = 0
    try:
        for chunk in chunks:
            if not count:
                sample_rate = chunk.sample_rate
                writer.open(sample_rate)
            pcm = assembler.pcm(chunk)
            writer.write_pcm(pcm)
            frames += len(pcm) // chunk.sample_width
            count += 1
            if on_chunk is not None:
                on_chunk(chunk)
        if not count:
            raise OutputError("no audio was produced")
        path = writer.commit()
    except BaseException:
        writer.abort()
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # an AudioStream left early cancels the rest at the broker
        raise
    return WrittenAudio(path, sample_rate, frames, count, timings())
