"""Loudness: voiced-frame leveling hits its target whatever the pauses, and peaks bend under the ceiling."""

from __future__ import annotations

import numpy as np

from swtts.workers.loudness import LIMITER_KNEE, PEAK_CEILING, level_audio, soft_limit

RATE = 22050


def voiced_dbfs(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))))


def test_level_audio_hits_target_and_never_clips() -> None:
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(RATE) * 0.01).astype(np.float32)
    leveled = level_audio(quiet, RATE, -20.0)
    assert abs(voiced_dbfs(leveled) + 20.0) < 1.0
    spiky = quiet.copy()
    spiky[100] = 0.9
    assert np.abs(level_audio(spiky, RATE, -6.0)).max() <= PEAK_CEILING + 1e-6
    assert level_audio(np.zeros(100, np.float32), RATE, -20.0).max() == 0.0
    assert level_audio(np.zeros(0, np.float32), RATE, -20.0).size == 0


def test_pauses_do_not_change_the_level_of_speech() -> None:
    rng = np.random.default_rng(2)
    speech = (rng.standard_normal(RATE) * 0.05).astype(np.float32)
    with_pause = np.concatenate([speech, np.zeros(RATE * 2, np.float32)])
    alone = level_audio(speech, RATE, -20.0)
    paused = level_audio(with_pause, RATE, -20.0)
    assert np.allclose(paused[: speech.size], alone, atol=1e-6)


def test_soft_limit_leaves_the_body_alone_and_bends_peaks_under_the_ceiling() -> None:
    body = np.linspace(-LIMITER_KNEE, LIMITER_KNEE, 101, dtype=np.float32)
    assert soft_limit(body) is body
    loud = np.linspace(-1.5, 1.5, 301, dtype=np.float32)
    limited = soft_limit(loud)
    assert np.abs(limited).max() <= PEAK_CEILING
    assert np.all(np.diff(limited) > 0), "louder stays louder"
    inside = np.abs(loud) <= LIMITER_KNEE
    assert np.array_equal(limited[inside], loud[inside])
    assert np.array_equal(np.sign(limited), np.sign(loud))
