"""Assembly: ordered chunk audio plus natural pauses, written to WAV/FLAC/OGG and checked.

Workers return each chunk as sentences back to back (with their lengths); pauses are added
here so the cache stays independent of them: ``sentence_gap_s`` between sentences and after
a chunk that ends a sentence, ``paragraph_gap_s`` before a chunk that opens a paragraph, and
nothing where an over-long sentence was split at a clause (the voice's own comma pause stays).
Loudness is already even: every worker brings its chunk to the same target level.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

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


@dataclass
class Assembler:
    """Adds pauses chunk by chunk, so streamed and whole-document output sound the same."""

    settings: AssemblySettings
    _previous: SpokenChunk | None = None

    def add(self, chunk: SpokenChunk) -> np.ndarray:
        """The samples to append for ``chunk``: its leading pause, then its sentences with gaps."""
        rate = chunk.sample_rate
        pieces: list[np.ndarray] = []
        if self._previous is not None:
            if chunk.paragraph_start:
                pieces.append(silence(self.settings.paragraph_gap_s, rate))
            elif self._previous.sentence_end:
                pieces.append(silence(self.settings.sentence_gap_s, rate))
        audio = chunk.audio
        offset = 0
        sentence_gap = silence(self.settings.sentence_gap_s, rate)
        for number, count in enumerate(chunk.sentence_samples or [audio.size]):
            if number:
                pieces.append(sentence_gap)
            pieces.append(audio[offset : offset + count])
            offset += count
        if offset < audio.size:
            pieces.append(audio[offset:])
        self._previous = chunk
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(round(seconds * sample_rate), np.int16)


def assemble(chunks: Sequence[SpokenChunk], settings: AssemblySettings) -> np.ndarray:
    """All chunks in order with pauses, as one int16 array."""
    assembler = Assembler(settings)
    parts = [assembler.add(chunk) for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Fail early, before any synthesis, on an extension we cannot write or a missing folder."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise OutputError(f"cannot write {target}: use one of {', '.join(FORMATS)} (or '-' for raw PCM)")
    if not target.parent.exists():
        raise OutputError(f"cannot write {target}: folder {target.parent} does not exist")
    return target


class AudioFileWriter:
    """Writes audio progressively to a temporary file, then verifies and renames it into place.

    A crash or Ctrl-C never leaves a half-written file at the target path.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        self.path = check_output_path(path)
        self.sample_rate = sample_rate
        file_format, subtype = FORMATS[self.path.suffix.lower()]
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent
        )
        os.close(handle)
        self.temp_path = Path(temp_name)
        self.frames = 0
        self._file = soundfile.SoundFile(
            str(self.temp_path), "w", samplerate=sample_rate, channels=1, format=file_format, subtype=subtype
        )

    def write(self, samples: np.ndarray) -> None:
        self._file.write(samples.astype(np.int16, copy=False))
        self.frames += samples.size

    def commit(self) -> Path:
        """Close, check what was written (rate, length), and move it to the target path."""
        self._file.close()
        info = soundfile.info(str(self.temp_path))
        if info.samplerate != self.sample_rate or abs(info.frames - self.frames) > 1:
            self.temp_path.unlink(missing_ok=True)
            raise OutputError(
                f"verification of {self.path} failed: wrote {self.frames} frames at {self.sample_rate} Hz, "
                f"read back {info.frames} at {info.samplerate} Hz"
            )
        umask = os.umask(0)
        os.umask(umask)
        self.temp_path.chmod(0o666 & ~umask)
        os.replace(self.temp_path, self.path)
        return self.path

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.temp_path.unlink(missing_ok=True)


class RawPcmWriter:
    """Raw 16-bit little-endian mono PCM to a binary stream (``-o -`` pipes into a player)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdout.buffer
        self.frames = 0

    def write(self, samples: np.ndarray) -> None:
        self.stream.write(samples.astype("<i2", copy=False).tobytes())
        self.stream.flush()
        self.frames += samples.size


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write a whole array atomically and verify it."""
    writer = AudioFileWriter(path, sample_rate)
    try:
        writer.write(audio)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise
