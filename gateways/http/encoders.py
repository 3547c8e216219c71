"""Streaming audio encoders for the speech API: int16 mono chunks in, bytes of one format out.

Each encoder is fed chunk by chunk and returns the bytes ready so far, so a response streams
as the audio is produced. Compressed formats and WAV go through PyAV (FFmpeg) into a sink that
has no ``seek``: FFmpeg then writes the streaming forms of each container (a WAV header with
open-ended sizes, 0xFFFFFFFF, as common streamers do; MP3 frames without a Xing header to
patch; Ogg pages of at most 100 ms; FLAC with an unknown total length; AAC in ADTS frames).
libsndfile is not used here because it seeks back to rewrite headers when a file closes.
``pcm`` is OpenAI's raw 24 kHz s16le mono, resampled with soxr's streaming resampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import numpy as np
import soxr

PCM_RATE = 24_000  # OpenAI's pcm: 24 kHz, 16-bit little-endian, mono


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``: its content type and how FFmpeg writes it."""

    name: str
    content_type: str
    container: str = ""
    codec: str = ""
    rate: int | None = None  # None = the voice's own rate
    bit_rate: int | None = None
    container_options: dict[str, str] = field(default_factory=dict)
    codec_options: dict[str, str] = field(default_factory=dict)


# Speech settings: mono at 64 kb/s (Opus 32 kb/s), and each encoder's faster mode (LAME quality 7,
# Opus complexity 5, FFmpeg AAC's fast coder), which halves to thirds their CPU time for speech.
FORMATS = {
    f.name: f
    for f in (
        AudioFormat(
            "mp3",
            "audio/mpeg",
            "mp3",
            "libmp3lame",
            bit_rate=64_000,
            container_options={"write_xing": "0"},
            codec_options={"compression_level": "7"},
        ),
        AudioFormat(
            "opus",
            "audio/ogg",
            "ogg",
            "libopus",
            rate=48_000,
            bit_rate=32_000,
            container_options={"page_duration": "100000"},
            codec_options={"compression_level": "5"},
        ),
        AudioFormat("aac", "audio/aac", "adts", "aac", bit_rate=64_000, codec_options={"aac_coder": "fast"}),
        AudioFormat("flac", "audio/flac", "flac", "flac"),
        AudioFormat("wav", "audio/wav", "wav", "pcm_s16le", container_options={"fflags": "+bitexact"}),
        AudioFormat("pcm", "audio/pcm", rate=PCM_RATE),
    )
}


class StreamEncoder(Protocol):
    """What the speech route needs of an encoder."""

    sample_rate: int  # of the int16 samples it takes

    def encode(self, samples: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


def encoder_for(name: str, sample_rate: int) -> StreamEncoder:
    """A fresh encoder of ``FORMATS[name]`` for int16 mono input at ``sample_rate``."""
    audio_format = FORMATS[name]
    if audio_format.container:
        return FfmpegEncoder(audio_format, sample_rate)
    return PcmEncoder(sample_rate, PCM_RATE)


class _Sink:
    """Where FFmpeg writes; it has no ``seek``, so FFmpeg treats the output as a stream."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: Any) -> int:
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class FfmpegEncoder:
    """A PyAV container and codec over a non-seekable sink; output is handed out per chunk."""

    def __init__(self, audio_format: AudioFormat, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._sink = _Sink()
        self._container: Any = av.open(
            self._sink, "w", format=audio_format.container, options=audio_format.container_options
        )
        rate = audio_format.rate or sample_rate
        stream: Any = self._container.add_stream(
            audio_format.codec, rate=rate, layout="mono", options=audio_format.codec_options
        )
        if audio_format.bit_rate:
            stream.codec_context.bit_rate = audio_format.bit_rate
        self._stream = stream
        self._resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        self._container.start_encoding()  # codec opened and header written now, not on the first audio
        self._closed = False

    def encode(self, samples: np.ndarray) -> bytes:
        if samples.size:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = self.sample_rate
            self._mux(self._resampler.resample(frame))
        return self._sink.take()

    def finish(self) -> bytes:
        """Flush the resampler, the codec and the container; the rest of the stream."""
        if not self._closed:
            self._closed = True
            self._mux(self._resampler.resample(None))
            self._container.mux(self._stream.encode(None))
            self._container.close()
        return self._sink.take()

    def _mux(self, frames: list[Any]) -> None:
        for frame in frames:
            self._container.mux(self._stream.encode(frame))


class PcmEncoder:
    """Raw s16le mono at ``out_rate``, resampled chunk by chunk (soxr keeps its state between chunks)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.sample_rate = in_rate
        self._resampler = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16") if in_rate != out_rate else None

    def encode(self, samples: np.ndarray) -> bytes:
        samples = np.ascontiguousarray(samples, dtype=np.int16)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return samples.astype("<i2", copy=False).tobytes()

    def finish(self) -> bytes:
        if self._resampler is None:
            return b""
        tail = self._resampler.resample_chunk(np.zeros(0, np.int16), last=True)
        return bytes(np.asarray(tail).astype("<i2", copy=False).tobytes())
