"""The markup pass for text that arrives in pieces (an LLM's tokens).

Markup is known only once enough of it has arrived: ``**`` may open emphasis that closes
three tokens later, a fence hides everything up to its closing fence, a row of pipes is a
table only once the delimiter row follows, a heading or a bullet shapes the line after it.
:class:`MarkupStream` keeps a *window* of the text not yet settled, strips it with the
whole-text pass (:func:`~swtts.pipeline.normalize.strip_markup`) as pieces arrive, and
returns the stripped text up to the last *cut* that later text cannot change:

* a line start, once that line shows what it is (so the blank line the pass inserts
  between two blocks comes with the first), outside a fence or a table, where the line is
  not indented (list continuation, code), not a setext ``===`` underline, and no table
  starts there without a blank line before it;
* the start of a word in the current line (or its end, after a space), once the line's
  marker (``#``, ``-``, ``1.``, ``>``) is behind it and the line holds no pipe;

and only where nothing is left open: an opener not closed yet stays in the stripped text as
written, so for each kind found there (``*``, ``_``, ``~``, ``[``, ``<``, backticks) the
window followed by its closers must read the same up to the cut. A blank line ends every
inline construct, so the text before it is always released. The window then starts again
at the cut when the rest reads the same alone and no list item or quote goes on across it,
so a strip rarely covers more than the current line or block.

Joined, the returned pieces are the whole text's stripped form, and :attr:`MarkupStream.mapping`
its spans back to everything fed (for word timings); only contrived markup (an empty list
item after a continuation line, a code span of fence-long backtick runs across lines)
can read otherwise, by a marker.
"""

from __future__ import annotations

import re

from swtts.pipeline.normalize.alignment import NormalizedText, Span, SpanIndex
from swtts.pipeline.normalize.options import DEFAULT_MARKUP, MarkupOptions

__all__ = ["MarkupStream"]

_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")
_SETEXT_EQUALS_RE = re.compile(r" {0,3}=+[ \t]*\Z")
_DELIMITER_ROW_RE = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$", re.M)
_WORD_START_RE = re.compile(r"(?<=\s)\S")
# What closes an inline construct left open by the characters it starts with, after a letter
# (a closer must follow a non-space); code spans close only with a run of their own length.
_CLOSERS = {
    "[": ("x](u)", "(u)", ")"),  # a link's text, its destination
    "<": ("x>", '">'),  # an HTML tag, a quoted attribute in it
    "*": ("x*", "x**", "x***"),
    "_": ("x_", "x__"),
    "~": ("x~", "x~~"),
}
_BACKTICKS_RE = re.compile(r"`+")
_WORD_TRIES = 2  # word starts tried per piece, the furthest first
# A window may start again at a word beginning with one of these: never a block marker.
_SAFE_START_RE = re.compile(r"[^\W\d_]|[\"'“‘«(¿¡]")
# A line that opens a block (heading, list item, quote): what follows it depends on it, so a
# window never starts again inside it, nor, after a list item or a quote, before a line that
# continues it (the line alone would be read as a paragraph of its own).
_BLOCK_MARKER_RE = re.compile(r" {0,3}(?:#{1,6}|[-*+]|\d{1,9}[.)]|>)(?:\s|\Z)")
_CONTAINER_RE = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)]|>)(?:[ \t]|$)", re.M)
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")


class MarkupStream:
    """Strips markup from text fed piece by piece; see the module docstring."""

    def __init__(self, options: MarkupOptions = DEFAULT_MARKUP) -> None:
        self._options = options
        self._fed: list[str] = []
        self._returned: list[str] = []
        self._index = SpanIndex()
        self._returned_chars = 0
        self._window = ""
        self._window_start = 0  # offset of the window in everything fed
        self._window_spoken = 0  # offset of the window's stripped text in everything returned
        self._released = 0  # window characters whose stripped text was returned
        self._released_spoken = 0  # characters of the window's stripped text returned

    def feed(self, piece: str) -> str:
        """Add a piece; return the stripped text that it settled (often "")."""
        if not piece:
            return ""
        self._fed.append(piece)
        self._window += piece
        out: list[str] = []
        progress = True
        while progress:
            progress = False
            for cut in self._cuts():
                released = self._release(*cut)
                if released is not None:
                    out.append(released)
                    progress = True
                    break
        return "".join(out)

    def finish(self) -> str:
        """End of the text: everything not returned yet, stripped."""
        end = len(self._window)
        released = self._release(end, end, restart=True, check=False) if end > self._released else ""
        return released or ""

    @property
    def mapping(self) -> NormalizedText:
        """Everything fed (original) and returned (spoken), with the spans between them."""
        return NormalizedText("".join(self._fed), "".join(self._returned), tuple(self._index.spans))

    def to_original(self, spoken_start: int, spoken_end: int) -> tuple[int, int]:
        """As :meth:`NormalizedText.to_original` on :attr:`mapping`, without building it."""
        if not 0 <= spoken_start <= spoken_end <= self._returned_chars:
            raise ValueError(f"range {spoken_start}:{spoken_end} is outside the text returned")
        return self._index.to_original(spoken_start, spoken_end)

    # ----- where to cut --------------------------------------------------------------------------

    def _cuts(self) -> list[tuple[int, int, bool, bool]]:
        """A few cuts to try, the furthest first: ``(cut, lookahead end, restart there, needs the
        open-markup check)``."""
        window = self._window
        lines = _lines(window)
        held = _held_lines(window, lines)
        line_cut = self._line_cut(lines, held)
        last_start = lines[-1][0]
        cuts = []
        if not held[-1] and not (len(held) > 1 and held[-2]):  # the current line, inside no fence or table
            for word in self._word_cuts(last_start):
                if line_cut is not None and word <= line_cut[0]:
                    break
                restart = (
                    word < len(window)
                    and _SAFE_START_RE.match(window, word) is not None
                    and not _BLOCK_MARKER_RE.match(window, last_start)
                    and not _in_container(window, word)
                )
                cuts.append((word, len(window), restart, True))
        return [*cuts, line_cut] if line_cut is not None else cuts

    def _line_cut(self, lines: list[tuple[int, int]], held: list[bool]) -> tuple[int, int, bool, bool] | None:
        window = self._window
        for i in range(len(lines) - 1, 0, -1):
            start, end = lines[i]
            if start <= self._released:
                return None
            line = window[start:end]
            after_blank = not window[lines[i - 1][0] : lines[i - 1][1]].strip()
            settled = end < len(window) or any(c.isalpha() for c in line)
            if (
                held[i - 1]
                or not settled
                or not line
                or line[0].isspace()
                or _SETEXT_EQUALS_RE.match(line)
                or ("|" in line and not after_blank)
            ):
                continue
            restart = after_blank or _BLOCK_MARKER_RE.match(line) is not None or not _in_container(window, start)
            return start, len(window), restart, not after_blank
        return None

    def _word_cuts(self, line_start: int) -> list[int]:
        """The last word starts of the current line (its end too, after a space), once its
        marker is behind them: an open construct may hold back the last one, not the one before."""
        window = self._window
        line = window[line_start:]
        if "|" in line or _FENCE_RE.match(line):
            return []
        words = [m.start() + line_start for m in _WORD_START_RE.finditer(line)]
        if line.endswith((" ", "\t")) and not line.lstrip().startswith("#"):
            words.append(len(window))  # the last word is complete (a heading's may close it: "# A #")
        marker = _BLOCK_MARKER_RE.match(window, line_start)
        after_marker = marker.end() if marker else line_start
        cuts: list[int] = []
        for word in reversed(words):
            if word <= self._released or len(cuts) == _WORD_TRIES:
                break
            if any(c.isalnum() for c in window[after_marker:word]):
                cuts.append(word)
        return cuts

    # ----- releasing -----------------------------------------------------------------------------

    def _release(self, cut: int, lookahead: int, restart: bool, check: bool) -> str | None:
        """Return the stripped text of ``window[released:cut]``; None if the cut is not settled."""
        window = self._window
        # A cut at the end, after a space, is read as if a word followed: a space that ends the
        # text may go with the markup before it ("**bold** " is "bold").
        text = window[:lookahead] + ("x" if cut == len(window) and check else "")
        stripped = _strip(text, self._options)
        spoken_cut = _spoken_position(stripped, cut)
        if spoken_cut is None or spoken_cut < self._released_spoken:
            return None
        if check and not self._closed(text, stripped.spoken[:spoken_cut]):
            return None
        if restart and _strip(window[cut:lookahead], self._options).spoken != stripped.spoken[spoken_cut:]:
            restart = False  # what follows the cut reads otherwise alone: keep the window whole
        text = stripped.spoken[self._released_spoken : spoken_cut]
        self._take_spans(stripped, cut, spoken_cut)
        self._returned.append(text)
        self._returned_chars += len(text)
        if restart:
            self._window = window[cut:]
            self._window_start += cut
            self._window_spoken += spoken_cut
            self._released = self._released_spoken = 0
        else:
            self._released, self._released_spoken = cut, spoken_cut
        return text

    def _closed(self, text: str, spoken: str) -> bool:
        """Whether ``spoken`` (the start of ``text`` stripped) stays as it is whatever follows.

        An opener not closed yet is still in the stripped text as written; for each kind
        found in the part not released yet, ``text`` followed by its closers must read the same.
        """
        fresh = spoken[self._released_spoken :]
        probes = [probe for opener, closers in _CLOSERS.items() if opener in fresh for probe in closers]
        if "`" in fresh:
            probes += ["x" + run for run in sorted(set(_BACKTICKS_RE.findall(text)))]
        return all(_strip(text + probe, self._options).spoken.startswith(spoken) for probe in probes)

    def _take_spans(self, stripped: NormalizedText, cut: int, spoken_cut: int) -> None:
        """The spans of the released part, placed in everything fed and everything returned."""
        for span in stripped.spans:
            if span.original_start < self._released or span.spoken_start < self._released_spoken:
                continue
            if span.original_end > cut or span.spoken_end > spoken_cut:
                break
            o, s = self._window_start, self._window_spoken
            self._index.add(
                Span(span.original_start + o, span.original_end + o, span.spoken_start + s, span.spoken_end + s)
            )


def _strip(text: str, options: MarkupOptions) -> NormalizedText:
    from swtts.pipeline.normalize.markup import strip_markup

    return strip_markup(text, options)


def _lines(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each line, its newline excluded; the last one may be incomplete."""
    bounds, start = [], 0
    for match in re.finditer("\n", text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return bounds


def _held_lines(text: str, lines: list[tuple[int, int]]) -> list[bool]:
    """For each line: whether a fenced code block or a table is still open after it.

    A table's rows run on up to a blank line, also rows without a pipe.
    """
    held: list[bool] = []
    fence, table = "", False
    for number, (start, end) in enumerate(lines):
        match = _FENCE_RE.match(text, start, end)
        if fence:
            closing = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
            if closing and match and not text[match.end() : end].strip():
                fence = ""
        elif match and not (match.group(1)[0] == "`" and "`" in text[match.end() : end]):
            fence = match.group(1)
        elif not text[start:end].strip():
            table = False
        elif number and _DELIMITER_ROW_RE.match(text, start, end) and "|" in text[lines[number - 1][0] : start]:
            table = True
        held.append(bool(fence) or table)
    return held


def _in_container(text: str, pos: int) -> bool:
    """Whether a list item or a quote opened since the last blank line before ``pos`` goes on there."""
    blanks = [m.end() for m in _BLANK_LINE_RE.finditer(text, 0, pos)]
    return _CONTAINER_RE.search(text, blanks[-1] if blanks else 0, pos) is not None


def _spoken_position(text: NormalizedText, pos: int) -> int | None:
    """Where original position ``pos`` falls in the spoken text; None inside a rewritten region."""
    delta = 0
    for span in text.spans:
        if span.original_end <= pos:
            delta = span.spoken_end - span.original_end
        elif span.original_start < pos:
            return None
        else:
            break
    return pos + delta
