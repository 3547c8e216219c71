"""Streaming sentence segmentation, so speech can start while an LLM is still writing.

The segmenter applies the chunker's sentence rules (:func:`pipeline.sentences.scan_sentences`)
to a growing buffer. A sentence leaves only once the text after it proves it ended ("Dr."
followed by " Smith" did not, "3." followed by "2" did not, "end." followed by " The"
did), once a blank line closes its paragraph, or at :meth:`SentenceSegmenter.finish`.
Without forced flushes, any split of a text into pieces yields the same sentences as
feeding it whole. A forced flush (too long, or pending too long) cuts only at whitespace
after a word that cannot continue into the next one: never after a number ("4" may become
"49.95", "1 250" become "1 250 000", "5" be followed by "kg"), a currency sign, or an
abbreviation's dot ("Dr." | "Smith"), so the normalizer sees money, times, quantities and
titles whole.

Convention for consumers: every returned string is stripped text, never whitespace only;
a string that begins a new paragraph (after a blank line, a heading, or a list item) is
prefixed with ``"\\n\\n"``. Check ``piece.startswith("\\n\\n")`` to insert the longer
pause, then pass the piece to :func:`pipeline.chunker.split_text` as usual.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from swtts.pipeline.normalize.abbreviations import period_ends_sentence
from swtts.pipeline.sentences import (
    DOCUMENT_START,
    ScanContext,
    SentenceScan,
    clause_cut,
    looks_complete,
    scan_sentences,
)

__all__ = ["PARAGRAPH_MARKER", "SentenceSegmenter"]

logger = logging.getLogger(__name__)

PARAGRAPH_MARKER = "\n\n"
_WORD_END_RE = re.compile(r"\S(?=\s)")
_LAST_WORD_END_RE = re.compile(r".*\S(?=\s)", re.S)
# A word that may be the first part of a number, an amount or a time: "4", "$4", "1 250", "10:30", "$".
_NUMBER_START_RE = re.compile(r"[(\[\"'«]*[-+−]?[$€£¥]?(?:\d[\d.,:]*)?\Z")


def _open_word(text: str, start: int, end: int) -> bool:
    """Whether the word ending at ``end`` may run on into the next: a number, a currency
    sign, or an abbreviation that never ends a sentence."""
    word_start = end
    while word_start > start and not text[word_start - 1].isspace():
        word_start -= 1
    if _NUMBER_START_RE.match(text, word_start, end) and text[end - 1] not in "(['\"«-+−":
        return True
    return text[end - 1] == "." and not period_ends_sentence(text, end - 1, start, "")


def _safe_cut(text: str, start: int, cut: int) -> int | None:
    """The last word end at or before ``cut`` (a word end) after which a flush may cut."""
    while cut > start and _open_word(text, start, cut):
        word_start = cut
        while word_start > start and not text[word_start - 1].isspace():
            word_start -= 1
        cut = word_start
        while cut > start and text[cut - 1].isspace():
            cut -= 1
    return cut if cut > start else None


class SentenceSegmenter:
    """Turns a stream of arbitrary text pieces (LLM tokens) into complete sentences as early as possible."""

    def __init__(
        self,
        flush_chars: int = 160,
        flush_after_s: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if flush_chars < 1:
            raise ValueError(f"flush_chars must be at least 1, got {flush_chars}")
        if flush_after_s < 0:
            raise ValueError(f"flush_after_s must not be negative, got {flush_after_s}")
        self._flush_chars = flush_chars
        self._flush_after_s = flush_after_s
        self._clock = clock
        self._buffer = ""
        self._context: ScanContext = DOCUMENT_START
        self._pending_since: float | None = None

    @property
    def pending(self) -> str:
        """Text received but not yet returned, whitespace included."""
        return self._buffer

    def feed(self, piece: str) -> list[str]:
        """Append a piece; return the complete sentences it confirmed, then any forced flush.

        Time-based flushing is left to :meth:`poll`, which the caller runs periodically.
        """
        if not piece:
            return []
        self._buffer += piece
        if self._pending_since is None and not self._buffer.isspace():
            self._pending_since = self._clock()
        ready = self._take_sentences(final=False)
        ready.extend(self._flush_long())
        return ready

    def poll(self) -> list[str]:
        """Flush text pending longer than ``flush_after_s`` up to its last complete word.

        A pending text that already ends like a sentence ("... the end.") goes out whole.
        """
        if self._pending_since is None or self._clock() - self._pending_since < self._flush_after_s:
            return []
        scan = scan_sentences(self._buffer, self._context, final=False)
        if not scan.spans:
            return []
        start, end, paragraph = scan.spans[0]
        if looks_complete(self._buffer, start, end):
            cut = end
        else:
            word_end = _LAST_WORD_END_RE.match(self._buffer, start)
            safe = None if word_end is None else _safe_cut(self._buffer, start, word_end.end())
            if safe is None:
                return []
            cut = safe
        logger.debug("flushing %d characters pending too long", cut - start)
        piece = self._take(scan, start, cut, paragraph)
        self._restart_timer()
        return [piece]

    def finish(self) -> list[str]:
        """End of stream: return everything still pending and reset for a new stream."""
        ready = self._take_sentences(final=True)
        self._buffer = ""
        self._context = DOCUMENT_START
        self._pending_since = None
        return ready

    def _take(self, scan: SentenceScan, start: int, cut: int, paragraph: bool) -> str:
        """Remove ``buffer[:cut]`` and return the piece ``buffer[start:cut]`` with its marker."""
        piece = self._buffer[start:cut]
        self._context = scan.context_at(self._buffer, cut)
        self._buffer = self._buffer[cut:]
        return PARAGRAPH_MARKER + piece if paragraph else piece

    def _restart_timer(self) -> None:
        self._pending_since = None if not self._buffer or self._buffer.isspace() else self._clock()

    def _take_sentences(self, final: bool) -> list[str]:
        """Return every sentence whose end is confirmed (all of them when ``final``)."""
        scan = scan_sentences(self._buffer, self._context, final)
        spans = scan.spans
        if not spans:
            return []
        count = len(spans)
        if not final and self._buffer.count("\n", spans[-1][1]) < 2:
            count -= 1  # the last sentence may still grow
        if count == 0:
            return []
        ready = [
            PARAGRAPH_MARKER + self._buffer[start:end] if paragraph else self._buffer[start:end]
            for start, end, paragraph in spans[:count]
        ]
        cut = spans[count - 1][1]
        self._context = scan.context_at(self._buffer, cut)
        self._buffer = self._buffer[cut:]
        self._restart_timer()
        return ready

    def _flush_long(self) -> list[str]:
        """Cut the pending sentence while it exceeds ``flush_chars``, never inside a word."""
        flushed: list[str] = []
        while True:
            scan = scan_sentences(self._buffer, self._context, final=False)
            if not scan.spans:
                break
            start, end, paragraph = scan.spans[-1]
            if end - start <= self._flush_chars:
                break
            cut = clause_cut(self._buffer, start, end, self._flush_chars)
            if cut is not None:
                cut = _safe_cut(self._buffer, start, cut)
            if cut is None:
                # No cut within the bound (one giant word, or a run of numbers): the first
                # safe one, once the word before it is complete.
                cut = next(
                    (
                        m.end()
                        for m in _WORD_END_RE.finditer(self._buffer, start, end)
                        if not _open_word(self._buffer, start, m.end())
                    ),
                    None,
                )
                if cut is None:
                    break
            flushed.append(self._take(scan, start, cut, paragraph))
        if flushed:
            self._restart_timer()
        return flushed
