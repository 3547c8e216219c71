"""Assembly: pauses in the right places, atomic verified writes, clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile

from swtts.config import AssemblySettings
from swtts.pipeline.assembly import AudioFileWriter, OutputError, RawPcmWriter, assemble, check_output_path, write_audio

RATE = 1000
GAPS = AssemblySettings(sentence_gap_s=0.1, paragraph_gap_s=0.5)


@dataclass
class FakeChunk:
    index: int
    samples: list[int]
    paragraph_start: bool = False
    sentence_end: bool = True
    sample_rate: int = RATE
    sentence_samples: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sentence_samples = self.samples

    @property
    def audio(self) -> np.ndarray:
        return np.ones(sum(self.samples), np.int16) * (self.index + 1)


def silences(audio: np.ndarray) -> list[int]:
    """Lengths of the runs of zeros between sounds."""
    runs, count = [], 0
    for value in audio:
        if value == 0:
            count += 1
        elif count:
            runs.append(count)
            count = 0
    return runs


def test_gaps_between_sentences_chunks_and_paragraphs() -> None:
    chunks = [
        FakeChunk(0, [50, 30]),
        FakeChunk(1, [40], sentence_end=False),
        FakeChunk(2, [20]),
        FakeChunk(3, [10], paragraph_start=True),
    ]
    audio = assemble(chunks, GAPS)
    assert silences(audio) == [100, 100, 500]
    assert audio.size == 150 + 100 * 2 + 500


def test_write_is_atomic_verified_and_by_extension(tmp_path: Path) -> None:
    audio = (np.sin(np.arange(22050) / 5) * 8000).astype(np.int16)
    for name, fmt in (("a.wav", "WAV"), ("a.flac", "FLAC"), ("a.ogg", "OGG")):
        path = write_audio(tmp_path / name, audio, 22050)
        info = soundfile.info(str(path))
        assert info.format == fmt and info.samplerate == 22050 and abs(info.frames - audio.size) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac", "a.ogg", "a.wav"]


def test_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    writer = AudioFileWriter(tmp_path / "x.wav", 22050)
    writer.write(np.zeros(100, np.int16))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_bad_output_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="use one of"):
        check_output_path(tmp_path / "x.mp3")
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "x.wav")


def test_raw_pcm_writer(tmp_path: Path) -> None:
    target = tmp_path / "raw.pcm"
    with open(target, "wb") as handle:
        writer = RawPcmWriter(handle)
        writer.write(np.array([1, -2, 3], np.int16))
    assert target.read_bytes() == b"\x01\x00\xfe\xff\x03\x00"
