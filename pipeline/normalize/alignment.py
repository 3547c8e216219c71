"""Where each piece of spoken text came from: spans between the original and the spoken text.

Word timings are measured on the spoken text ("forty-nine dollars and ninety-five cents")
but reported on the original ("$49.95"), so every rewrite records the region it replaced.
Outside the recorded spans the two texts are identical, shifted by the length changes of
the spans before. Two passes (markup, then tokens) each record their own spans; they are
composed into one original → spoken map.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["NormalizedText", "Rewriter", "Span", "SpanIndex", "compose"]

_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Span:
    """``original[original_start:original_end]`` is spoken as ``spoken[spoken_start:spoken_end]``."""

    original_start: int
    original_end: int
    spoken_start: int
    spoken_end: int


class Rewriter:
    """Builds a rewritten text from ordered, non-overlapping replacements of a source text."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self._source_pos = 0
        self._length = 0

    def replace(self, start: int, end: int, text: str) -> None:
        """Speak ``source[start:end]`` as ``text``; calls must come in source order."""
        if start < self._source_pos or end < start:
            raise ValueError(f"replacement {start}:{end} overlaps or precedes position {self._source_pos}")
        if self._source[start:end] == text:
            return
        self._keep(start)
        self._spans.append(Span(start, end, self._length, self._length + len(text)))
        self._parts.append(text)
        self._length += len(text)
        self._source_pos = end

    def _keep(self, upto: int) -> None:
        kept = self._source[self._source_pos : upto]
        self._parts.append(kept)
        self._length += len(kept)
        self._source_pos = upto

    def finish(self) -> tuple[str, list[Span]]:
        """The rewritten text and its spans (source → rewritten)."""
        self._keep(len(self._source))
        return "".join(self._parts), self._spans


def compose(first: Sequence[Span], second: Sequence[Span]) -> list[Span]:
    """Chain two span lists: ``first`` maps A → B, ``second`` maps B → C; the result maps A → C.

    Spans of the two lists that overlap in B (or touch there, when one of them is empty) are
    merged into one, so every region of B that either pass rewrote stays one unit.
    """
    # (start in B, end in B, change of A length over B, change of C length over B)
    regions = [
        (s.spoken_start, s.spoken_end, (s.original_end - s.original_start) - (s.spoken_end - s.spoken_start), 0)
        for s in first
    ]
    regions += [
        (s.original_start, s.original_end, 0, (s.spoken_end - s.spoken_start) - (s.original_end - s.original_start))
        for s in second
    ]
    regions.sort(key=lambda r: (r[0], r[1]))
    result: list[Span] = []
    delta_first = 0  # A position minus B position, left of the current region
    delta_second = 0  # C position minus B position, left of the current region
    i = 0
    while i < len(regions):
        start, end = regions[i][0], regions[i][1]
        a_start, c_start = start + delta_first, start + delta_second
        delta_first += regions[i][2]
        delta_second += regions[i][3]
        i += 1
        while i < len(regions) and (
            regions[i][0] < end or (regions[i][0] == end and (regions[i][0] == regions[i][1] or start == end))
        ):
            end = max(end, regions[i][1])
            delta_first += regions[i][2]
            delta_second += regions[i][3]
            i += 1
        result.append(Span(a_start, end + delta_first, c_start, end + delta_second))
    return result


class SpanIndex:
    """Ordered spans, looked up by spoken position; spans may be added at the end as text grows."""

    def __init__(self, spans: Sequence[Span] = ()) -> None:
        self.spans: list[Span] = []
        self._spoken_starts: list[int] = []
        self._spoken_ends: list[int] = []
        for span in spans:
            self.add(span)

    def add(self, span: Span) -> None:
        """Append a span that lies after every span already held, in both texts."""
        self.spans.append(span)
        self._spoken_starts.append(span.spoken_start)
        self._spoken_ends.append(span.spoken_end)

    def _delta(self, count: int) -> int:
        """Original minus spoken position after the first ``count`` spans."""
        if count == 0:
            return 0
        span = self.spans[count - 1]
        return span.original_end - span.spoken_end

    def original_start(self, spoken_pos: int) -> int:
        """The original position where spoken text starting at ``spoken_pos`` comes from."""
        i = bisect_right(self._spoken_starts, spoken_pos) - 1
        if i >= 0 and spoken_pos < self.spans[i].spoken_end:
            return self.spans[i].original_start
        # Spans ending at or before the position (deletions there included) lie behind it.
        return spoken_pos + self._delta(bisect_right(self._spoken_ends, spoken_pos))

    def original_end(self, spoken_pos: int) -> int:
        """The original position where spoken text ending at ``spoken_pos`` ends."""
        i = bisect_left(self._spoken_ends, spoken_pos)
        if i < len(self.spans) and self.spans[i].spoken_start < spoken_pos:
            return self.spans[i].original_end
        # Empty spoken spans (deleted text) at the position lie after a word that ends there.
        return spoken_pos + self._delta(i)

    def to_original(self, spoken_start: int, spoken_end: int) -> tuple[int, int]:
        """The original range that spoken ``[spoken_start, spoken_end)`` stands for.

        A range that touches a rewritten region grows to the whole region: any word of
        "forty-nine dollars and ninety-five cents" maps to all of "$49.95".
        """
        start = self.original_start(spoken_start)
        return start, max(start, self.original_end(spoken_end))


@dataclass(frozen=True)
class NormalizedText:
    """Text as it will be spoken, with the map back to the original.

    ``spans`` are ordered and non-overlapping in both texts; outside them the texts are
    identical. ``language`` is the normalizer used ("" when only markup was handled).
    """

    original: str
    spoken: str
    spans: tuple[Span, ...]
    language: str = ""
    _index: SpanIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", SpanIndex(self.spans))

    def original_start(self, spoken_pos: int) -> int:
        """The original position where spoken text starting at ``spoken_pos`` comes from."""
        return self._index.original_start(spoken_pos)

    def original_end(self, spoken_pos: int) -> int:
        """The original position where spoken text ending at ``spoken_pos`` ends."""
        return self._index.original_end(spoken_pos)

    def to_original(self, spoken_start: int, spoken_end: int) -> tuple[int, int]:
        """The original range that ``spoken[spoken_start:spoken_end]`` stands for.

        A range that touches a rewritten region grows to the whole region: any word of
        "forty-nine dollars and ninety-five cents" maps to all of "$49.95".
        """
        if not 0 <= spoken_start <= spoken_end <= len(self.spoken):
            raise ValueError(f"range {spoken_start}:{spoken_end} is outside the spoken text")
        return self._index.to_original(spoken_start, spoken_end)

    def words(self) -> list[tuple[int, int, int, int]]:
        """Spoken words grouped by the original word they read.

        Each item is ``(original_start, original_end, spoken_start, spoken_end)``; consecutive
        spoken words whose original ranges overlap or touch (one original word: "@john" →
        "at john") form one item, so "$49.95" comes once, with all of its spoken words.
        Spoken words inserted from nothing are left out.
        """
        groups: list[tuple[int, int, int, int]] = []
        for match in _WORD_RE.finditer(self.spoken):
            o_start, o_end = self.to_original(match.start(), match.end())
            if o_start == o_end:
                continue
            if groups and o_start <= groups[-1][1]:
                g = groups[-1]
                groups[-1] = (g[0], max(g[1], o_end), g[2], match.end())
            else:
                groups.append((o_start, o_end, match.start(), match.end()))
        return groups
