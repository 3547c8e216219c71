"""Assembly: ordered chunk audio plus natural pauses, written to WAV/FLAC/OGG and checked.

Workers return each chunk as sentences back to back (with their lengths); pauses are added
here so the cache stays independent of them: ``sentence_gap_s`` between sentences and after
a chunk that ends a sentence, ``paragraph_gap_s`` before a chunk that opens a paragraph, and
nothing where an over-long sentence was split at a clause (the voice's own comma pause stays).
Loudness is already even: every worker brings its chunk to the same target level.
:class:`Timeline` is where those pauses go, and so where every sample of a chunk lands in the
output: word timings are placed on the output's clock with it, audio or not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn, Protocol

import numpy as np
import soundfile

from swtts.config import AssemblySettings

FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


class SpokenChunk(Protocol):
    """What assembly needs of a chunk (the client's AudioChunk has it)."""

    @property
    def audio(self) -> np.ndarray: ...

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


class OutputError(ValueError):
    """The output path or what was written to it is not right."""


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
        size = chunk.audio.size
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

    def add(self, chunk: SpokenChunk) -> np.ndarray:
        """The samples to append for ``chunk``: its leading pause, then its sentences with gaps."""
        placement = self.timeline.place(chunk)
        audio = chunk.audio
        pieces: list[np.ndarray] = [np.zeros(placement.lead, np.int16)] if placement.lead else []
        for number, (first, count) in enumerate(placement.sentences):
            if number:
                pieces.append(np.zeros(placement.gap, np.int16))
            pieces.append(audio[first : first + count])
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


def assemble(chunks: Sequence[SpokenChunk], settings: AssemblySettings) -> np.ndarray:
    """All chunks in order with pauses, as one int16 array."""
    assembler = Assembler(settings)
    parts = [assembler.add(chunk) for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Fail early, before any synthesis, on an extension we cannot write, a missing folder or a directory."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise OutputError(f"cannot write {target}: use one of {', '.join(FORMATS)} (or '-' for raw PCM)")
    if not target.parent.exists():
        raise OutputError(f"cannot write {target}: folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: {target.parent} is not a folder")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    return target


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
    Used as a context manager it commits on success and aborts on any exception.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int | None = None) -> None:
        self.path = check_output_path(path)
        self.frames = 0
        self.sample_rate = 0
        self._file: soundfile.SoundFile | None = None
        try:
            handle, temp_name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent
            )
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        os.close(handle)
        self.temp_path = Path(temp_name)
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
        file_format, subtype = FORMATS[self.path.suffix.lower()]
        self.sample_rate = sample_rate
        try:
            self._file = soundfile.SoundFile(
                str(self.temp_path), "w", samplerate=sample_rate, channels=1, format=file_format, subtype=subtype
            )
        except (OSError, RuntimeError) as exc:
            self._fail(exc)

    def write(self, samples: np.ndarray) -> None:
        if self._file is None:
            raise RuntimeError("AudioFileWriter.open(sample_rate) must come before write()")
        samples = samples.astype(np.int16, copy=False)
        try:
            for start in range(0, samples.size, BLOCK_FRAMES):
                self._file.write(samples[start : start + BLOCK_FRAMES])
        except (OSError, RuntimeError, AssertionError) as exc:  # soundfile asserts on a short write
            self._fail(exc)
        self.frames += samples.size

    def commit(self) -> Path:
        """Close, check what was written (rate, length), and move it to the target path."""
        if self._file is None:
            self.abort()
            raise OutputError(f"nothing was written to {self.path}: no audio was produced")
        try:
            self._file.close()
            info = soundfile.info(str(self.temp_path))
        except (OSError, RuntimeError) as exc:
            self._fail(exc)
        if info.samplerate != self.sample_rate or abs(info.frames - self.frames) > 1:
            self.abort()
            raise OutputError(
                f"verification of {self.path} failed: wrote {self.frames} frames at {self.sample_rate} Hz, "
                f"read back {info.frames} at {info.samplerate} Hz"
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
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError, RuntimeError):
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
        data = samples.astype("<i2", copy=False)
        for start in range(0, data.size, BLOCK_FRAMES):
            self.stream.write(data[start : start + BLOCK_FRAMES].tobytes())
        self.stream.flush()
        self.frames += samples.size

    def commit(self) -> None:
        self.stream.flush()

    def abort(self) -> None:
        """Nothing to undo: what went out to the stream is gone."""


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write a whole array atomically, in bounded blocks, and verify it."""
    with AudioFileWriter(path, sample_rate) as writer:
        writer.write(audio)
    return writer.path
