"""Bounded forward passes: what one run of the voice's graph speaks is at most a fixed number of phonemes.

VITS holds activations in proportion to the audio one pass makes (measured here: about 0.9 MiB
per phoneme, so 800 unpunctuated characters in one pass took a worker to 1.5 GiB). A sentence
longer than :data:`MAX_PASS_PHONEMES` is cut into pieces of about equal length, each ending at
a pause (a comma, semicolon, colon or dash in the phonemes) where one is near, otherwise at a
word boundary, and only inside a word too long for any piece. The pieces' audio is joined
with a short crossfade, so no click or gap marks the cut; every phoneme is spoken exactly once.
"""

from __future__ import annotations

import math

import numpy as np

MAX_PASS_PHONEMES = 200
"""Phonemes per forward pass (about 10 s of speech); a worker's peak memory follows it."""

CROSSFADE_S = 0.01
"""Overlap where two pieces of one sentence meet: long enough to hide the cut, too short to hear."""

_PAUSES = frozenset(",;:—–")
_SPACE = " "


def bounded_pieces(phonemes: list[str], limit: int = MAX_PASS_PHONEMES) -> list[list[str]]:
    """``phonemes`` cut into pieces of at most ``limit``; the space at each cut is dropped.

    Pieces come out about equally long (a tiny last piece would be spoken with an odd
    intonation of its own): each cut aims at an even share of what is left and takes the
    pause nearest to that point within a quarter of the limit, else the nearest word boundary.
    """
    pieces: list[list[str]] = []
    start = 0
    while len(phonemes) - start > limit:
        left = len(phonemes) - start
        target = start + math.ceil(left / math.ceil(left / limit))
        cut = _best_cut(phonemes, start, target, limit)
        pieces.append(phonemes[start:cut])
        start = cut + 1 if phonemes[cut] == _SPACE else cut
    pieces.append(phonemes[start:])
    return [piece for piece in pieces if piece]


def _best_cut(phonemes: list[str], start: int, target: int, limit: int) -> int:
    """Index where the piece starting at ``start`` ends (exclusive), at most ``start + limit``."""
    last = start + limit
    spaces = [i for i in range(start + 1, min(last, len(phonemes) - 1) + 1) if phonemes[i] == _SPACE]
    near = limit // 4
    pauses = [i for i in spaces if phonemes[i - 1] in _PAUSES and abs(i - target) <= near]
    for candidates in (pauses, spaces):
        if candidates:
            return min(candidates, key=lambda i: abs(i - target))
    return target  # one "word" longer than a piece: cut inside it


def join_pieces(pieces: list[np.ndarray], sample_rate: int) -> np.ndarray:
    """One sentence's piece audio joined with a :data:`CROSSFADE_S` linear crossfade at each cut."""
    if not pieces:
        return np.zeros(0, np.float32)
    segments: list[np.ndarray] = []
    tail = pieces[0].astype(np.float32, copy=False)
    for piece in pieces[1:]:
        fade = min(round(CROSSFADE_S * sample_rate), tail.size, piece.size)
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        segments.append(tail[: tail.size - fade])
        segments.append(tail[tail.size - fade :] * (1.0 - ramp) + piece[:fade] * ramp)
        tail = piece[fade:]
    segments.append(tail)
    return np.concatenate(segments).astype(np.float32, copy=False)
