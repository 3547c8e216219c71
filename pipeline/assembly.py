"""Assembly: ordered chunk audio plus natural pauses, written to WAV/FLAC/OGG and checked.

Workers return each chunk as sentences back to back (with their lengths); pauses are added
here so the cache stays independent of them: ``sentence_gap_s`` between sentences and after
a chunk that ends a sentence, ``paragraph_gap_s`` before a chunk that opens a paragraph, and
nothing where an over-long sentence was split at a clause (the voice's own comma pause stays).
Loudness is already even: every worker brings its chunk to the same target level.

:class:`Timeline` is where those pauses go, and so where every sample of a chunk lands in the
output: word timings are placed on the output's clock with it, audio or not.

The pauses and the WAV and raw writers work on PCM bytes with the standard library alone;
numpy and soundfile (FLAC, OGG, arrays) are imported where they are used, so ``swtts say``
against a running service writes a WAV without paying for either.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, Protocol

from swtts.config import AssemblySettings
from swtts.pipeline.output_path import FORMATS, OutputError, check_output_path, temporary_beside

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BLOCK_FRAMES",
    "Assembler",
    "AudioFileWriter",
    "OutputError",
    "RawPcmWriter",
    "assemble",
    "check_output_path",
    "write_audio",
]

_WIDTH = 2  # bytes per sample: int16 mono, as every chunk is


class SpokenChunk(Protocol):
    """What assembly needs of a chunk (the client's AudioChunk has it): int16 mono PCM and its sentences."""

    @property
    def pcm(self) -> bytes: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def sentence_samples(self) -> Sequence[int]: ...

    @property
    def paragraph_start(self) -> bool: ...

    @property
    def sentence_end(self) -> bool: ...

    @property
    def index(self) -> int: ...


@dataclass(frozen=True)
class Placement:
    """Where one chunk lands in the output: a leading pause of ``lead`` samples at ``start``, then
    its sentences, ``gap`` samples apart. ``sentences``: (first sample in the chunk, length) of each."""

    start: int
    lead: int
    gap: int
    sentences: tuple[tuple[int, int], ...]

    def to_output(self, sample: int, end: bool = False) -> int:
        """Where the chunk's ``sample`` is in the output; with ``end``, a sample that ends a sentence
        stays at that sentence's end rather than after the gap that follows it."""
        position = self.start + self.lead
        for number, (first, count) in enumerate(self.sentences):
            last = number == len(self.sentences) - 1
            if sample < first + count or (end and sample == first + count) or last:
                return position + sample - first
            position += count + self.gap
        return position + sample


@dataclass
class Timeline:
    """The output's clock: places chunk after chunk with their pauses, so streamed and whole-document
    output (and the words on them) agree."""

    settings: AssemblySettings
    position: int = 0  # output samples placed so far
    _previous_ends_sentence: bool | None = None  # None before the first chunk

    def place(self, chunk: SpokenChunk) -> Placement:
        rate = chunk.sample_rate
        lead = 0
        if self._previous_ends_sentence is not None:
            if chunk.paragraph_start:
                lead = round(self.settings.paragraph_gap_s * rate)
            elif self._previous_ends_sentence:
                lead = round(self.settings.sentence_gap_s * rate)
        gap = round(self.settings.sentence_gap_s * rate)
        size = len(chunk.pcm) // _WIDTH
        sentences: list[tuple[int, int]] = []
        first = 0
        for count in chunk.sentence_samples or [size]:
            sentences.append((first, count))
            first += count
        if first < size:  # samples past the sentences' sum stay with the last sentence
            sentences[-1] = (sentences[-1][0], sentences[-1][1] + size - first)
        placement = Placement(self.position, lead, gap, tuple(sentences))
        self.position += lead + sum(count for _, count in sentences) + gap * (len(sentences) - 1)
        self._previous_ends_sentence = chunk.sentence_end
        return placement


@dataclass
class Assembler:
    """Adds pauses chunk by chunk, so streamed and whole-document output sound the same."""

    settings: AssemblySettings
    timeline: Timeline = field(init=False)

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.settings)

    def pcm(self, chunk: SpokenChunk) -> bytes:
        """The int16 PCM to append for ``chunk``: its leading pause, then its sentences with gaps."""
        placement = self.timeline.place(chunk)
        audio = chunk.pcm
        pieces = [bytes(placement.lead * _WIDTH)] if placement.lead else []
        gap = bytes(placement.gap * _WIDTH)
        for number, (first, count) in enumerate(placement.sentences):
            if number:
                pieces.append(gap)
            pieces.append(audio[first * _WIDTH : (first + count) * _WIDTH])
        return b"".join(pieces)

    def add(self, chunk: SpokenChunk) -> np.ndarray:
        """:meth:`pcm` as int16 samples."""
        import numpy as np

        return np.frombuffer(self.pcm(chunk), "<i2")


def assemble(chunks: Sequence[SpokenChunk], settings: AssemblySettings) -> np.ndarray:
    """All chunks in order with pauses, as one int16 array."""
    import numpy as np

    assembler = Assembler(settings)
    return np.frombuffer(b"".join(assembler.pcm(chunk) for chunk in chunks), "<i2")


BLOCK_FRAMES = 1 << 16
"""Frames handed to libsndfile per call (3 s at 22050 Hz). Its bundled Vorbis encoder crashes
(SIGSEGV) when one call passes about 2 million frames; every format is written in these
blocks, so a long document is never handed over in one piece."""

_FULL_DISK_BYTES = 1 << 20


class AudioFileWriter:
    """Writes audio block by block to a hidden temporary file beside the target, then verifies
    it and renames it into place: a failure, a full disk, a crash or Ctrl-C never leaves a
    half-written file at the target path, and every error names the target, not the temporary.

    The temporary file is created at once (so an unwritable folder fails before any synthesis);
    the audio format is opened with the first sample rate (:meth:`open`, or ``sample_rate``).
    Used as a context manager it commits on success and aborts on any exception. WAV goes
    through the standard library's ``wave``; FLAC and OGG through soundfile (libsndfile).
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int | None = None) -> None:
        self.path = check_output_path(path)
        self.frames = 0
        self.sample_rate = 0
        self._file: _Output | None = None
        self.temp_path = temporary_beside(self.path)
        if sample_rate:
            self.open(sample_rate)

    def __enter__(self) -> AudioFileWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def open(self, sample_rate: int) -> None:
        """Start the audio stream at ``sample_rate`` (once)."""
        self.sample_rate = sample_rate
        output = _WavOutput if self.path.suffix.lower() == ".wav" else _SoundfileOutput
        try:
            self._file = output(self.temp_path, sample_rate, *FORMATS[self.path.suffix.lower()])
        except (OSError, RuntimeError, wave.Error) as exc:
            self._fail(exc)

    def write(self, samples: np.ndarray) -> None:
        """Append int16 samples."""
        self.write_pcm(samples.astype("<i2", copy=False).tobytes())

    def write_pcm(self, pcm: bytes) -> None:
        """Append int16 little-endian mono PCM, :data:`BLOCK_FRAMES` at a time."""
        if self._file is None:
            raise RuntimeError("AudioFileWriter.open(sample_rate) must come before writing")
        block = BLOCK_FRAMES * _WIDTH
        try:
            for start in range(0, len(pcm), block):
                self._file.write(pcm[start : start + block])
        except (OSError, RuntimeError, AssertionError, wave.Error) as exc:  # soundfile asserts on a short write
            self._fail(exc)
        self.frames += len(pcm) // _WIDTH

    def commit(self) -> Path:
        """Close, check what was written (rate, length), and move it to the target path."""
        if self._file is None:
            self.abort()
            raise OutputError(f"nothing was written to {self.path}: no audio was produced")
        try:
            self._file.close()
            rate, frames = self._file.read_back()
        except (OSError, RuntimeError, wave.Error, EOFError) as exc:
            self._fail(exc)
        if rate != self.sample_rate or abs(frames - self.frames) > 1:
            self.abort()
            raise OutputError(
                f"verification of {self.path} failed: wrote {self.frames} frames at {self.sample_rate} Hz, "
                f"read back {frames} at {rate} Hz"
            )
        umask = os.umask(0)
        os.umask(umask)
        try:
            self.temp_path.chmod(0o666 & ~umask)
            os.replace(self.temp_path, self.path)
        except OSError as exc:
            self._fail(exc)
        return self.path

    def abort(self) -> None:
        """Drop what was written; the target path is left as it was."""
        if self._file is not None:
            with contextlib.suppress(OSError, RuntimeError, wave.Error):
                self._file.close()
        self.temp_path.unlink(missing_ok=True)

    def _fail(self, exc: BaseException) -> NoReturn:
        """Abort and raise one line naming the target path (a full disk said so)."""
        try:
            usage = shutil.disk_usage(self.path.parent)  # before the temporary file is gone
        except OSError:
            usage = None
        self.abort()
        if usage is not None and usage.free < _FULL_DISK_BYTES:
            reason = f"no space left on the device of {self.path.parent}"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        raise OutputError(f"cannot write {self.path}: {reason}; nothing was left behind") from None


class _Output(Protocol):
    def write(self, pcm: bytes) -> None: ...
    def close(self) -> None: ...
    def read_back(self) -> tuple[int, int]: ...


class _WavOutput:
    """16-bit mono WAV through the standard library (no numpy, no libsndfile)."""

    def __init__(self, path: Path, sample_rate: int, *_format: str) -> None:
        self.path = path
        self._file: Any = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._file.setnchannels(1)
        self._file.setsampwidth(_WIDTH)
        self._file.setframerate(sample_rate)

    def write(self, pcm: bytes) -> None:
        self._file.writeframesraw(pcm)

    def close(self) -> None:
        self._file.close()

    def read_back(self) -> tuple[int, int]:
        with wave.open(str(self.path), "rb") as written:
            return written.getframerate(), written.getnframes()


class _SoundfileOutput:
    """FLAC or OGG through soundfile."""

    def __init__(self, path: Path, sample_rate: int, file_format: str, subtype: str) -> None:
        import soundfile

        self.path = path
        self._file = soundfile.SoundFile(
            str(path), "w", samplerate=sample_rate, channels=1, format=file_format, subtype=subtype
        )

    def write(self, pcm: bytes) -> None:
        import numpy as np

        self._file.write(np.frombuffer(pcm, "<i2"))

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def read_back(self) -> tuple[int, int]:
        import soundfile

        info = soundfile.info(str(self.path))
        return info.samplerate, info.frames


class RawPcmWriter:
    """Raw 16-bit little-endian mono PCM to a binary stream (``-o -`` pipes into a player).

    It has :class:`AudioFileWriter`'s methods, so callers write either the same way.
    """

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdout.buffer
        self.frames = 0
        self.sample_rate = 0

    def open(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def write(self, samples: np.ndarray) -> None:
        self.write_pcm(samples.astype("<i2", copy=False).tobytes())

    def write_pcm(self, pcm: bytes) -> None:
        block = BLOCK_FRAMES * _WIDTH
        for start in range(0, len(pcm), block):
            self.stream.write(pcm[start : start + block])
        self.stream.flush()
        self.frames += len(pcm) // _WIDTH

    def commit(self) -> None:
        self.stream.flush()

    def abort(self) -> None:
        """Nothing to undo: what went out to the stream is gone."""


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write a whole array atomically, in bounded blocks, and verify it."""
    with AudioFileWriter(path, sample_rate) as writer:
        writer.write(audio)
    return writer.path
