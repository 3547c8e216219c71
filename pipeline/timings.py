"""Word timings: when each word of a chunk is spoken, read off the voice's own phoneme durations.

The voice says how many samples each phoneme takes (the engine turns its duration output into
:class:`Phone` spans of the chunk's audio). Which phonemes belong to which word it does not say,
and espeak-ng does not keep words apart: it joins short ones ("that the" → ``ðætðə``), reads a
number as several, drops punctuation. So each word of the chunk, as the normalizer grouped them
("$49.95" is one word, with all of "forty-nine dollars and ninety-five cents"), is phonemized on
its own, and the run of those expected phonemes is aligned with the phonemes spoken: difflib's
matching blocks, with stress and length marks left out, fix positions exactly; between them
positions are interpolated, and a word boundary that falls in such a gap moves to a real one
(a space in the spoken phonemes) there, if any. Words come out in order, never overlapping,
inside the audio, each named by its range in the chunk's text as sent.

The cache keeps a word's place in its text as counts of non-whitespace characters
(:func:`words_to_ink`), which hold for the same text with other spacing (the cache key ignores it).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from typing import NamedTuple

from swtts.pipeline.normalize import NormalizedText
from swtts.protocol import WordSpan

__all__ = ["BOUNDARY", "Phone", "word_range", "word_timings", "words_from_ink", "words_to_ink"]

BOUNDARY = ""
"""The symbol of an empty :class:`Phone` marking where one forward pass or sentence ends and the next begins."""

_MARKS = frozenset("ˈˌːˑ")  # stress and length: sounded as part of their vowel, not on their own
_GAPS = frozenset([*" .,;:!?¡¿—–-…\"'«»()[]{}", BOUNDARY])  # between words: spaces, punctuation, seams
_LEADING = frozenset("\"'“‘«‹([{¿¡*_-–—/")
_TRAILING = frozenset(".,;:!?\"'”’»›)]}…*_-–—/")

Phonemize = Callable[[str], Sequence[str]]
"""A word's phonemes as the voice reads it alone (spaces between the words it becomes)."""


class Phone(NamedTuple):
    """One phoneme of the spoken text and the samples ``[start, end)`` of the chunk's audio it takes."""

    symbol: str
    start: int
    end: int


def _core(symbols: Sequence[str]) -> list[int]:
    """Indices of the symbols that are sounds: no spaces, punctuation, stress or length marks."""
    return [i for i, symbol in enumerate(symbols) if symbol not in _GAPS and symbol not in _MARKS]


def word_range(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` without the punctuation around it ("(quickly)." → "quickly"); empty if only that."""
    while start < end and (text[start] in _LEADING or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in _TRAILING or text[end - 1].isspace()):
        end -= 1
    return start, end


def word_timings(reading: NormalizedText, phones: Sequence[Phone], phonemize: Phonemize) -> list[WordSpan]:
    """Each word of ``reading.original`` with the samples it is spoken in, in order.

    ``phones`` are the chunk's phonemes as spoken (from ``reading.spoken``), in order, with their
    spans of the chunk's audio. A word nothing was heard for gets an empty span where it would be.
    """
    units = reading.words()
    expected: list[str] = []
    bounds = [0]  # where each unit's sounds start in ``expected``
    for _, _, spoken_start, spoken_end in units:
        sounds = [unicodedata.normalize("NFD", p) for p in phonemize(reading.spoken[spoken_start:spoken_end])]
        expected.extend(sounds[i] for i in _core(sounds))
        bounds.append(len(expected))
    symbols = [phone.symbol for phone in phones]
    core = _core(symbols)
    if not core or not units:
        return []
    heard = [symbols[i] for i in core]
    starts = _place(bounds, expected, heard, _word_starts(symbols, core))
    words: list[WordSpan] = []
    last_end = 0
    for number, (original_start, original_end, _, _) in enumerate(units):
        text_start, text_end = word_range(reading.original, original_start, original_end)
        first, after = starts[number], starts[number + 1]
        if first < after:
            start = phones[_widen(symbols, core[first], -1)].start
            end = phones[_widen(symbols, core[after - 1], 1)].end
        else:  # nothing heard for it: an empty span where it would be
            start = end = phones[core[first]].start if first < len(core) else phones[core[-1]].end
        start = max(start, last_end)
        end = max(end, start)
        if text_start < text_end:
            if words and start < words[-1].end:  # a pass's crossfade: the later word wins the overlap
                words[-1] = words[-1]._replace(end=start)
            words.append(WordSpan(text_start, text_end, start, end))
            last_end = end
    return words


def _word_starts(symbols: Sequence[str], core: Sequence[int]) -> list[int]:
    """Positions in ``core`` where a spoken word starts (after a space, punctuation or a pass boundary)."""
    starts = [0]
    for k in range(1, len(core)):
        if any(symbols[i] in _GAPS for i in range(core[k - 1] + 1, core[k])):
            starts.append(k)
    starts.append(len(core))
    return starts


def _place(bounds: list[int], expected: list[str], heard: list[str], real: list[int]) -> list[int]:
    """Each unit boundary in ``expected`` carried over to ``heard``, non-decreasing.

    Matched blocks map exactly. A boundary where ``heard`` has sounds that ``expected`` lacks,
    or inside an unmatched stretch (interpolated there), goes to a real word start (``real``)
    in that stretch when there is one.
    """
    anchors: list[tuple[int, int]] = [(0, 0)]
    matched: set[int] = set()  # anchors where a matched block starts
    for block in SequenceMatcher(None, expected, heard, autojunk=False).get_matching_blocks():
        if block.size:
            matched.add(len(anchors))
            anchors += [(block.a, block.b), (block.a + block.size, block.b + block.size)]
    anchors.append((len(expected), len(heard)))
    keys = [a for a, _ in anchors]
    placed = [0]
    for bound in bounds[1:-1]:
        first, after = bisect.bisect_left(keys, bound), bisect.bisect_right(keys, bound)
        if first < after:  # an anchor: exact, unless heard has extra sounds here
            low, high = anchors[first][1], anchors[after - 1][1]
            position = next((r for r in real if low <= r <= high), low)
        elif first - 1 in matched:  # inside a matched block
            a0, b0 = anchors[first - 1]
            position = b0 + bound - a0
        else:
            (a0, b0), (a1, b1) = anchors[first - 1], anchors[first]
            position = round(b0 + (bound - a0) * (b1 - b0) / (a1 - a0))
            inside = [r for r in real if b0 < r < b1]
            if inside:
                position = min(inside, key=lambda r: abs(r - position))
        placed.append(max(position, placed[-1]))
    placed.append(len(heard))
    return placed


def _widen(symbols: Sequence[str], index: int, step: int) -> int:
    """``index`` moved over the stress (before) or length (after) marks that belong to its sound."""
    while 0 <= index + step < len(symbols) and symbols[index + step] in _MARKS:
        index += step
    return index


def _ink(text: str) -> list[int]:
    """For each offset of ``text`` (and its end), how many non-whitespace characters lie before it."""
    ink = [0]
    for char in text:
        ink.append(ink[-1] + (not char.isspace()))
    return ink


def words_to_ink(text: str, words: Sequence[WordSpan]) -> list[list[int]]:
    """Words with their text range counted in non-whitespace characters of ``text`` (as the cache keeps them)."""
    ink = _ink(text)
    return [[ink[w.text_start], ink[w.text_end], w.start, w.end] for w in words]


def words_from_ink(text: str, rows: Sequence[Sequence[int]]) -> tuple[WordSpan, ...] | None:
    """The inverse of :func:`words_to_ink` for ``text``: None when a row does not fit it."""
    visible = [i for i, char in enumerate(text) if not char.isspace()]
    words = []
    for row in rows:
        if len(row) != 4 or not 0 <= row[0] < row[1] <= len(visible):
            return None
        words.append(WordSpan(visible[row[0]], visible[row[1] - 1] + 1, row[2], row[3]))
    return tuple(words)
