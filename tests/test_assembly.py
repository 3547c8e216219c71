"""Assembly: pauses in the right places, atomic verified writes, clear errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
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
    def pcm(self) -> bytes:
        return (np.ones(sum(self.samples), np.int16) * (self.index + 1)).astype("<i2").tobytes()


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
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_path(tmp_path / "file" / "x.wav")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(OutputError, match="it is a directory"):
        check_output_path(tmp_path / "dir.wav")


def test_a_folder_that_cannot_be_written_fails_when_the_writer_is_made(tmp_path: Path) -> None:
    """The writer reserves its temporary file at once, so ``say`` fails before any synthesis;
    the error names the user's path (/proc refuses new files even to root)."""
    with pytest.raises(OutputError, match=r"^cannot write /proc/swtts-test\.wav: "):
        AudioFileWriter("/proc/swtts-test.wav")


TEN_MINUTES_PLUS = 22050 * 610


@pytest.mark.parametrize(("name", "fmt"), [("long.wav", "WAV"), ("long.flac", "FLAC"), ("long.ogg", "OGG")])
def test_more_than_ten_minutes_are_written_in_each_format(tmp_path: Path, name: str, fmt: str) -> None:
    """Written in a child process: libsndfile's Vorbis encoder used to crash (SIGSEGV) on one call
    of about 2 million frames, which would take the test runner with it. Half goes in one call,
    half chunk by chunk, as ``say`` writes it."""
    target = tmp_path / name
    script = f"""
import numpy as np
from swtts.pipeline.assembly import AudioFileWriter
audio = (np.sin(np.arange({TEN_MINUTES_PLUS}) / 7) * 6000).astype(np.int16)
half = audio.size // 2
with AudioFileWriter({str(target)!r}, 22050) as writer:
    writer.write(audio[:half])
    for start in range(half, audio.size, 100_000):
        writer.write(audio[start : start + 100_000])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    info = soundfile.info(str(target))
    assert info.format == fmt and abs(info.frames - TEN_MINUTES_PLUS) <= 1 and info.duration > 600
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a disk that fills up (needs the right to mount, as root in a container)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("name", ["full.wav", "full.flac", "full.ogg"])
def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tiny_disk: Path, name: str) -> None:
    noise = (np.random.default_rng(0).standard_normal(22050 * 600) * 8000).astype(np.int16)
    with pytest.raises(OutputError, match=rf"^cannot write {tiny_disk / name}: no space left"):
        write_audio(tiny_disk / name, noise, 22050)
    assert list(tiny_disk.iterdir()) == [], subprocess.run(
        ["df", str(tiny_disk)], capture_output=True, text=True
    ).stdout


def test_raw_pcm_writer(tmp_path: Path) -> None:
    target = tmp_path / "raw.pcm"
    with open(target, "wb") as handle:
        writer = RawPcmWriter(handle)
        writer.write(np.array([1, -2, 3], np.int16))
    assert target.read_bytes() == b"\x01\x00\xfe\xff\x03\x00"


def test_a_writer_given_no_audio_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no audio was produced"), AudioFileWriter(tmp_path / "x.wav"):
        pass
    assert list(tmp_path.iterdir()) == []
