"""Where sentences end: the one place that knows, for whole documents and for token streams.

Structure first, sentences second:

* a blank line is a paragraph break; a heading line (``#``-prefixed, or a short line
  without final punctuation that stands at a sentence start and is followed by a sentence
  start, a list item or a paragraph break) and a list item (``1.``, ``2)``, ``-``, ``*``,
  ``•`` at a line start) each start a new block, and the line after a heading does too;
  a single newline inside running prose is plain whitespace;
* inside a block, a sentence ends at ``.``/``!``/``?``/``…`` runs (plus closing quotes or
  brackets, also French ``» `` after a non-breaking space) followed by whitespace and a
  plausible sentence start: a capital (accented ones included), a digit, a currency sign or
  an opening quote/bracket. A single ``.`` after an abbreviation is judged by
  :func:`swtts.pipeline.normalize.abbreviations.period_ends_sentence`, the list the
  normalizers share: titles and shorthands (``Dr.``, ``e.g.``, ``M.``, an initial, an
  acronym such as ``U.S.``) never end one; ``etc.``, ``Inc.``, ``a.m.``, ``No.``… and a
  street's ``St.`` end one only before a capital letter.
  Decimals, amounts, versions, URLs and e-mail addresses never qualify because their dots
  are not followed by whitespace.

A sentence too long for one piece is cut at its best clause boundary (:func:`clause_cut`).
The document chunker (:mod:`pipeline.chunker`) and the streaming :mod:`pipeline.segmenter`
both use :func:`scan_sentences`, the segmenter with a :class:`ScanContext`, so a growing
token buffer is cut by exactly these rules.
"""

from __future__ import annotations

import enum
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from swtts.pipeline.normalize.abbreviations import can_start_sentence, period_ends_sentence

__all__ = [
    "DOCUMENT_START",
    "ScanContext",
    "SentenceScan",
    "clause_cut",
    "looks_complete",
    "scan_sentences",
    "sentence_spans",
]

_TERMINALS = ".!?…‽"
_CLOSERS = "\"'”’»›)]}"
_OPENERS = "\"'“‘„‚«»‹›([{¿¡"
_NO_HEADING_END = _TERMINALS + ",;:—–-"
_HEADING_MAX_CHARS = 80
# A clause boundary closer to the piece start than this fraction of the limit is skipped in
# favour of a weaker boundary nearer the limit, so a split never leaves a tiny fragment.
_MIN_CLAUSE_FRACTION = 0.25

# A line ending in one of these words is wrapped prose, never a heading.
_CONTINUATION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "his",
        "her",
        "its",
        "their",
        "our",
        "my",
        "your",
        "into",
        "onto",
        "than",
        "then",
        "so",
        "if",
        "when",
        "while",
        "because",
        "not",
        "this",
        "these",
        "those",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "very",
        "also",
        "about",
        "over",
        "under",
        "after",
        "before",
        "between",
        "through",
        "without",
        "within",
    ]
)

_CLOSER_RE_CLASS = "[" + re.escape(_CLOSERS) + "]"
_LINE_RE = re.compile(r"\S(?:[^\n]*\S)?")
_LIST_RE = re.compile(r"(?:\d{1,3}[.)]|[-*•‣◦▪])[^\S\n]+(?=\S)")
_MD_HEADING_RE = re.compile(r"#{1,6}(?:\s|\Z)")
# Group 1: the punctuation run; group 2: closing quotes/brackets, French "» " after a
# (non-breaking) space included; then the whitespace before the next sentence.
_TERMINAL_RE = re.compile(
    "([" + re.escape(_TERMINALS) + "]+)" + "((?:" + _CLOSER_RE_CLASS + r"|[ \u00a0\u202f\u2009][»›])*)" + r"(?:\s+|\Z)"
)
# Greedy ".*" makes each pattern find the LAST such boundary inside the window.
_CLAUSE_RES = tuple(
    re.compile(pattern, re.S)
    for pattern in (
        ".*;" + _CLOSER_RE_CLASS + r"*(?=\s)",
        ".*:" + _CLOSER_RE_CLASS + r"*(?=\s)",
        r".*(?:[—–]|(?<=\s)-)(?=\s)",
        ".*," + _CLOSER_RE_CLASS + r"*(?=\s)",
    )
)
_LAST_WORD_END_RE = re.compile(r".*\S(?=\s)", re.S)


class _Kind(enum.IntEnum):
    """What a block of lines is; NONE stands for "nothing yet" at a document start."""

    NONE = 0
    PROSE = 1
    LIST = 2
    HEADING = 3


@dataclass(frozen=True)
class ScanContext:
    """What a scan must know about text consumed before its input.

    ``block_kind`` NONE means the input starts a document; otherwise the input continues
    the line (of a block of that kind) that the consumed text ended in, and
    ``tail_terminal`` says whether that line so far ends with sentence punctuation.
    """

    block_kind: _Kind = _Kind.NONE
    tail_terminal: bool = False


DOCUMENT_START = ScanContext()


@dataclass
class _Block:
    """Consecutive lines that belong together: a paragraph, a list item or a heading."""

    start: int
    end: int
    kind: _Kind
    paragraph_start: bool
    scan_from: int


@dataclass(frozen=True)
class SentenceScan:
    """Sentences of a text as ``(start, end, paragraph_start)``, plus the block layout."""

    spans: list[tuple[int, int, bool]]
    blocks: list[_Block]

    def context_at(self, text: str, pos: int) -> ScanContext:
        """Context for scanning ``text[pos:]`` alone, where ``text[pos - 1]`` is not whitespace."""
        block = self.blocks[bisect_right(self.blocks, pos - 1, key=lambda b: b.start) - 1]
        return ScanContext(block.kind, _ends_terminal(text, block.start, pos))


def _ends_terminal(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] ends with sentence punctuation, closing quotes aside.

    A final abbreviation that never ends a sentence ("Dear Mr." before "Smith" on the next
    line) does not count, so the next line is no heading.
    """
    while end > start and text[end - 1] in _CLOSERS:
        end -= 1
    if end <= start or text[end - 1] not in _TERMINALS:
        return False
    if text[end - 1] != "." or text[end - 2 : end] == "..":
        return True
    # Judged as if a capital followed: the next line may start a sentence.
    return period_ends_sentence(text, end - 1, start, "A")


def _boundaries(text: str, pos: int, endpos: int, floor: int) -> Iterator[tuple[int, int]]:
    """Yield (sentence end, next sentence start) for each boundary inside text[pos:endpos]."""
    for match in _TERMINAL_RE.finditer(text, pos, endpos):
        next_start = match.end()
        if next_start >= endpos:
            return
        next_char = text[next_start]
        if not can_start_sentence(next_char):
            continue
        if match.group(1) == "." and not period_ends_sentence(text, match.start(), floor, next_char):
            continue
        yield match.end(2), next_start


def _is_heading(text: str, lines: list[tuple[int, int]], i: int, final: bool) -> bool:
    """Whether line ``i`` (already known to stand at a sentence start) is a heading."""
    start, end = lines[i]
    if end - start > _HEADING_MAX_CHARS:
        return False
    first = text[start]
    if not (first.isupper() or first.isdigit()):
        return False
    tail = end
    while tail > start and text[tail - 1] in _CLOSERS:
        tail -= 1
    if tail == start or text[tail - 1] in _NO_HEADING_END:
        return False
    if text[start:end].rsplit(None, 1)[-1] in _CONTINUATION_WORDS:
        return False
    if i + 1 < len(lines):
        next_start, next_end = lines[i + 1]
        next_char = text[next_start]
        if not (
            text.count("\n", end, next_start) >= 2
            or can_start_sentence(next_char)
            or next_char == "#"
            or _LIST_RE.match(text, next_start, next_end)
        ):
            return False
    elif not final and text.count("\n", end) < 2:
        # The next line has not arrived yet, so the verdict could still change.
        return False
    return next(_boundaries(text, start, end, start), None) is None


def scan_sentences(text: str, context: ScanContext = DOCUMENT_START, final: bool = True) -> SentenceScan:
    """Find blocks and sentences of ``text``.

    With ``final=False`` the text is a prefix of a stream: an unfinished last line is never
    taken for a heading, so every boundary except those at the very end stays valid
    whatever text follows.
    """
    lines = [(m.start(), m.end()) for m in _LINE_RE.finditer(text)]
    blocks: list[_Block] = []
    open_kind = context.block_kind
    previous_heading = open_kind is _Kind.HEADING
    previous_terminal = context.tail_terminal
    previous_end = 0
    for i, (start, end) in enumerate(lines):
        newlines = text.count("\n", previous_end, start)
        if i == 0 and open_kind is not _Kind.NONE and newlines == 0:
            blocks.append(_Block(start, end, open_kind, False, start))
        else:
            paragraph_break = open_kind is _Kind.NONE or newlines >= 2
            list_item = _LIST_RE.match(text, start, end)
            if list_item:
                kind, scan_from, new_block = _Kind.LIST, list_item.end(), True
            elif _MD_HEADING_RE.match(text, start, end) or (
                (paragraph_break or previous_heading or previous_terminal) and _is_heading(text, lines, i, final)
            ):
                kind, scan_from, new_block = _Kind.HEADING, start, True
            else:
                indented = start > 0 and text[start - 1] != "\n"
                kind, scan_from = _Kind.PROSE, start
                new_block = (
                    paragraph_break
                    or previous_heading
                    or (open_kind is _Kind.LIST and not indented and can_start_sentence(text[start]))
                )
            if new_block:
                blocks.append(_Block(start, end, kind, open_kind is not _Kind.NONE, scan_from))
                open_kind = kind
            elif blocks:
                blocks[-1].end = end
            else:
                blocks.append(_Block(start, end, open_kind, False, start))
            previous_heading = kind is _Kind.HEADING
        previous_terminal = _ends_terminal(text, start, end)
        previous_end = end

    spans: list[tuple[int, int, bool]] = []
    for block in blocks:
        current, paragraph = block.start, block.paragraph_start
        if block.kind is not _Kind.HEADING:
            for sentence_end, next_start in _boundaries(text, block.scan_from, block.end, block.start):
                spans.append((current, sentence_end, paragraph))
                current, paragraph = next_start, False
        spans.append((current, block.end, paragraph))
    return SentenceScan(spans, blocks)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace-trimmed, in order.

    Headings and list items count as sentences of their own.
    """
    return [(start, end) for start, end, _ in scan_sentences(text).spans]


def clause_cut(text: str, start: int, end: int, limit: int) -> int | None:
    """End of the best first piece of ``text[start:end]`` that is at most ``limit`` long.

    The piece ends at the last ``;`` in reach, else ``:``, else a spaced dash, else ``,``
    (each only if it leaves a piece of at least a quarter of the limit), else at the last
    word end. Every cut is followed by whitespace; None when no word ends in reach.
    """
    window_end = min(end, start + limit + 1)
    floor = start + max(1, int(limit * _MIN_CLAUSE_FRACTION))
    for pattern in _CLAUSE_RES:
        match = pattern.match(text, start, window_end)
        if match and match.end() >= floor:
            return match.end()
    match = _LAST_WORD_END_RE.match(text, start, window_end)
    return match.end() if match else None


def looks_complete(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` already ends like a finished sentence.

    Used when a stalled stream must be flushed: a trailing abbreviation or a number's '.'
    (which may yet become a decimal) does not count.
    """
    tail = end
    while tail > start and text[tail - 1] in _CLOSERS:
        tail -= 1
    dots = tail
    while dots > start and text[dots - 1] in _TERMINALS:
        dots -= 1
    if dots == tail:
        return False
    if text[dots:tail] != ".":
        return True
    return not (dots > start and text[dots - 1].isdigit()) and period_ends_sentence(text, dots, start, "")
