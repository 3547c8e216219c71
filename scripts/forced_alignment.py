"""An independent check of word timings: a speech recognizer's forced alignment of the same audio.

PocketSphinx (the ``pocketsphinx`` wheel, which ships its US English acoustic model, dictionary
and language model, so nothing is downloaded) aligns a known transcript to audio with its own
HMM acoustic model and the CMU pronouncing dictionary. It shares nothing with how swtts times
words (the voice's duration predictor and espeak-ng's phonemes), so agreement between the two
says the timings are where the words are heard. It reads 16 kHz audio in 10 ms frames; a word
it does not know (most names) cannot be aligned, so texts with such words are skipped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soxr

from swtts.client import AudioChunk, TimedWord
from swtts.pipeline.normalize import NormalizeOptions, normalize

_RATE = 16000
_FRAME_S = 0.01
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")


def transcript_words(spoken: str) -> list[str]:
    """The words a recognizer hears in spoken text: lower case, hyphens and punctuation gone."""
    return _WORD_RE.findall(spoken.lower().replace("’", "'"))


@dataclass(frozen=True)
class Aligned:
    """A recognizer's onset for each transcript word (seconds from the start of the audio)."""

    words: list[str]
    onsets: list[float]


def align(audio: np.ndarray, sample_rate: int, words: Sequence[str]) -> Aligned | None:
    """PocketSphinx's forced alignment of ``words`` to int16 ``audio``; None if a word is unknown
    to its dictionary or the alignment fails."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=_RATE, loglevel="FATAL")
    if not words or any(decoder.lookup_word(word) is None for word in words):
        return None
    samples = soxr.resample(audio.astype(np.float32) / 32768.0, sample_rate, _RATE)
    pcm = np.clip(samples * 32767.0, -32768, 32767).astype("<i2").tobytes()
    try:
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = [seg for seg in decoder.seg() if not seg.word.startswith(("<", "["))]
    except RuntimeError:
        return None
    found = [re.sub(r"\(\d+\)$", "", seg.word) for seg in segments]  # "the(2)": a variant pronunciation
    if found != list(words):
        return None
    return Aligned(found, [seg.start_frame * _FRAME_S for seg in segments])


def onset_errors(audio: np.ndarray, sample_rate: int, chunks: Sequence[AudioChunk], language: str = "en_US") -> Checked:
    """Each timed word's onset minus the recognizer's onset of the same word in ``audio``, in seconds.

    ``audio`` is the output as a listener gets it (the chunks assembled with their pauses); it is
    aligned with the words every chunk was read as (the normalizer's spoken text), and a word's
    reference is the onset of the first word it was read as ("$49.95" → "forty"). Nothing of how
    swtts placed the chunks is used: the recognizer finds the words in the audio itself.
    """
    heard: list[list[str]] = []
    timed: list[TimedWord] = []
    for chunk in chunks:
        reading = normalize(chunk.text, language, NormalizeOptions(markup=False))
        units = [transcript_words(reading.spoken[start:end]) for _, _, start, end in reading.words()]
        units = [words for words in units if words]
        if len(units) != len(chunk.words):
            return Checked([], len(chunks))
        heard += units
        timed += chunk.words
    aligned = align(audio, sample_rate, [word for words in heard for word in words])
    if aligned is None:
        return Checked([], len(chunks))
    firsts = list(itertools.accumulate((len(words) for words in heard[:-1]), initial=0))
    return Checked([word.start - aligned.onsets[first] for word, first in zip(timed, firsts, strict=True)], 0)


@dataclass(frozen=True)
class Checked:
    """Onset errors (seconds, ours minus the recognizer's) and how many chunks could not be checked."""

    errors: list[float]
    skipped: int

    @property
    def median_abs_ms(self) -> float:
        return float(np.median(np.abs(self.errors)) * 1000) if self.errors else float("nan")
