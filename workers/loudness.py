"""Even loudness across sentences and chunks: voiced-frame RMS leveling and a soft peak limiter.

Piper's own normalization scales each sentence's peak separately, so levels jump between
sentences and chunks; the engine turns it off and levels each chunk here instead.
"""

from __future__ import annotations

import numpy as np

_FRAME_SECONDS = 0.02
_VOICED_BELOW_LOUDEST_DB = 30.0
PEAK_CEILING = 0.99
LIMITER_KNEE = 0.9


def level_audio(audio: np.ndarray, sample_rate: int, loudness_dbfs: float) -> np.ndarray:
    """Scale a chunk so the RMS of its voiced frames hits ``loudness_dbfs`` (peaks soft-limited).

    Measuring voiced frames only (within 30 dB of the loudest) keeps pauses from skewing it.
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
    leveled = (audio * (10 ** (loudness_dbfs / 20) / rms)).astype(np.float32)
    return soft_limit(leveled)


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """Bend the rare peaks above the knee smoothly under the ceiling instead of lowering the
    whole chunk's gain (which would make that chunk quieter than its neighbours)."""
    magnitude = np.abs(audio)
    over = magnitude > LIMITER_KNEE
    if not over.any():
        return audio
    room = PEAK_CEILING - LIMITER_KNEE
    limited = audio.copy()
    limited[over] = np.sign(audio[over]) * (LIMITER_KNEE + room * np.tanh((magnitude[over] - LIMITER_KNEE) / room))
    return limited
