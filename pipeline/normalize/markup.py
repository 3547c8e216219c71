"""The markup pass: what a person reading markdown or plain text aloud would not say.

Block structure comes from ``markdown-it-py`` (CommonMark plus GFM tables and
strikethrough): it knows lazy continuation lines, nested lists, fences inside lists and
every other corner of the grammar that hand-written regexes get wrong, and its tokens carry
the source lines of each block. Its inline tokens carry no positions, so each one is found
again in the source, in order, from a cursor; whatever lies between two found pieces is
markup (``**``, ``[``, ``](url)``, ``> ``, ``# ``) and is removed. A region whose pieces
cannot all be found is left exactly as written.

What happens to each element:

* emphasis, strikethrough, heading and bullet markers, block-quote markers, HTML tags,
  link targets, image sources, reference definitions and horizontal rules are removed;
  emphasis markers between two letters or digits ("2*3*4", "snake_case") stay;
* links keep their text, images their alt text, entities and escapes become their
  character; ordered-list numbers stay ("1. Preheat" is read "one. Preheat");
* code spans are read plainly (or removed); fenced and indented code blocks are removed (or
  read plainly); an indented block that reads as prose is kept as prose;
* a table row becomes one sentence: cells joined by commas, a full stop at the end;
* every block (paragraph, heading, list item, table, block of code) is separated from the
  next by a blank line, the paragraph break the chunker, the segmenter and the assembler
  already give headings and list items. Other line breaks and blank lines stay as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from itertools import pairwise

from markdown_it import MarkdownIt
from markdown_it.token import Token

from swtts.pipeline.normalize.alignment import NormalizedText, Rewriter, Span, compose
from swtts.pipeline.normalize.options import DEFAULT_MARKUP, MarkupOptions

__all__ = ["MarkupOptions", "strip_markup"]

logger = logging.getLogger(__name__)

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("text_join")
# "•" and friends are list bullets in plain text; "-" is the same length, so offsets hold.
_PLAIN_BULLET_RE = re.compile(r"(?m)^([ \t]*)[•‣◦▪](?=[ \t])")
_TAG_RE = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
_BREAKING_TAG_RE = re.compile(r"</?(?:br|p|div|li|tr|td|th|h[1-6]|ul|ol|table|blockquote|hr)\b", re.I)
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_BULLET_RE = re.compile(r"[ \t>]*([-*+])(?:[ \t]+|$)", re.M)
_QUOTE_RE = re.compile(r"[ \t]*(>(?:[ \t]*>)*)[ \t]?")
_FENCE_TEXT_RE = re.compile(r"`{3,}|~{3,}")
_EMPHASIS_CHARS = frozenset("*_~")
_TERMINALS = ".!?…"
_MAX_PASSES = 4
_PROSE_CHARS_RE = re.compile(r"[^\W_]|[\s,.;:'\"!?’“”«»()-]")


class _Mismatch(Exception):
    """An inline piece was not found in the source: leave the region as written."""


class _Source:
    """The text with its line offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_start(self, line: int) -> int:
        return self.starts[line] if line < len(self.starts) else len(self.text)

    def line_end(self, line: int) -> int:
        """Offset of the newline ending ``line`` (or the text end)."""
        return self.line_start(line + 1) - 1 if line + 1 < len(self.starts) else len(self.text)


class _Inline:
    """Finds inline tokens in ``source[start:end]`` in order and records what to remove."""

    def __init__(self, text: str, start: int, end: int, options: MarkupOptions) -> None:
        self.text = text
        self.cursor = start
        self.end = end
        self.options = options
        self.edits: list[tuple[int, int, str]] = []

    def _find(self, piece: str, loose: bool = False) -> tuple[int, int]:
        pos = self.text.find(piece, self.cursor, self.end)
        if pos >= 0:
            return pos, pos + len(piece)
        if loose:  # a code span's content has its line breaks turned into spaces
            pattern = r"\s+".join(re.escape(part) for part in piece.split())
            match = re.compile(pattern).search(self.text, self.cursor, self.end) if pattern else None
            if match:
                return match.span()
        raise _Mismatch(piece)

    def _drop_to(self, pos: int, replacement: str = "") -> None:
        """Remove the markup between the cursor and ``pos``; mere spacing stays as written."""
        if replacement or self.text[self.cursor : pos].strip():
            self.edits.append((self.cursor, pos, replacement))
        self.cursor = pos

    def keep(self, piece: str, loose: bool = False) -> None:
        start, end = self._find(piece, loose)
        self._drop_to(start)
        self.cursor = end

    def replace(self, written: str, spoken: str, loose: bool = False) -> None:
        start, end = self._find(written, loose)
        self._drop_to(start)
        self.edits.append((start, end, spoken))
        self.cursor = end

    def keep_spaces(self) -> None:
        while self.cursor < self.end and self.text[self.cursor] in " \t":
            self.cursor += 1

    def skip_destination(self) -> None:
        """After a link's or image's text: remove ``](target "title")``, ``][ref]`` or ``]``."""
        text, pos = self.text, self.cursor
        bracket = text.find("]", pos, self.end)
        if bracket < 0:
            return
        after = bracket + 1
        if text.startswith("(", after):
            depth = 0
            for i in range(after, self.end):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                if depth == 0:
                    after = i + 1
                    break
        elif text.startswith("[", after):
            close = text.find("]", after, self.end)
            after = close + 1 if close >= 0 else after
        self._drop_to(after)

    def walk(self, children: Sequence[Token]) -> None:
        for token in children:
            kind = token.type
            if kind == "text" and _FENCE_TEXT_RE.fullmatch(token.content.strip()):
                self.replace(token.content, "")  # a stray fence: never spoken, would open one if kept
            elif kind == "text" and token.content:
                self.keep(token.content)
            elif kind == "text_special":
                self.replace(token.markup, token.content)
            elif kind in ("softbreak", "hardbreak"):
                self.keep("\n")
            elif kind == "code_inline":
                if self.options.read_code_spans:
                    self.keep(token.content, loose=True)
                else:
                    self.replace(token.content, "", loose=True)
            elif kind == "html_inline":
                self.replace(token.content, " " if _BREAKING_TAG_RE.match(token.content) else "")
            elif kind == "image":
                self.walk(token.children or [])
                self.skip_destination()
            elif kind == "link_close" and token.markup != "autolink":
                self.skip_destination()

    def finish(self) -> list[tuple[int, int, str]]:
        """The edits, with emphasis markers between two word characters given back."""
        self._drop_to(self.end)
        text = self.text
        return [
            (start, end, spoken)
            for start, end, spoken in self.edits
            if not (
                spoken == ""
                and 0 < start < end < len(text)
                and set(text[start:end]) <= _EMPHASIS_CHARS
                and text[start - 1].isalnum()
                and text[end].isalnum()
            )
        ]


def _inline_edits(
    text: str, start: int, end: int, children: Sequence[Token], options: MarkupOptions, marker: str = ""
) -> list[tuple[int, int, str]]:
    """Edits for one inline region; none when the tokens cannot be placed in the source."""
    walker = _Inline(text, start, end, options)
    try:
        if marker:
            walker.keep(marker)
            walker.keep_spaces()
        walker.walk(children)
    except _Mismatch as exc:
        logger.debug("markup left as written: %r not found in %r", exc.args[0], text[start:end][:80])
        return []
    return walker.finish()


def _looks_like_prose(content: str) -> bool:
    """Whether an indented block is plain text (indented paragraphs), not code."""
    stripped = "".join(content.split())
    if not stripped:
        return True
    prose_chars = len(_PROSE_CHARS_RE.findall(content.replace(" ", "").replace("\n", "")))
    return prose_chars >= 0.97 * len(stripped) and any(c in _TERMINALS for c in stripped)


class _Blocks:
    """Walks the block tokens and gathers the edits of the whole document."""

    def __init__(self, source: _Source, options: MarkupOptions) -> None:
        self.source = source
        self.options = options
        self.edits: list[tuple[int, int, str]] = []
        self.units: list[tuple[int, int]] = []  # line ranges of blocks that are spoken
        self.covered = [False] * len(source.starts)

    def drop_lines(self, first: int, last: int) -> None:
        """Remove the content of lines first..last-1, keeping their line breaks."""
        start, end = self.source.line_start(first), self.source.line_end(last - 1)
        if end > start:
            self.edits.append((start, end, ""))

    def region(self, token: Token) -> tuple[int, int]:
        assert token.map is not None
        return self.source.line_start(token.map[0]), self.source.line_end(token.map[1] - 1)

    def run(self, tokens: list[Token]) -> None:
        marker = ""
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.map:
                for line in range(token.map[0], token.map[1]):
                    self.covered[line] = True
            kind = token.type
            if kind == "list_item_open" and token.map:
                follows = tokens[i + 1]
                if token.info and follows.type == "paragraph_open" and follows.map and follows.map[0] == token.map[0]:
                    marker = token.info + token.markup  # ordered: "1." stays
                elif not token.info:
                    self.drop_prefix(_BULLET_RE, token.map[0])
            elif kind == "blockquote_open" and token.map:
                for line in range(*token.map):
                    self.drop_prefix(_QUOTE_RE, line)
            elif kind in ("paragraph_open", "heading_open") and token.map:
                start, end = self.region(token)
                self.edits += _inline_edits(
                    self.source.text, start, end, tokens[i + 1].children or [], self.options, marker
                )
                self.units.append((token.map[0], token.map[1]))
                marker = ""
            elif kind == "table_open":
                i = self.table(tokens, i)
            elif kind in ("fence", "code_block") and token.map:
                self.code(token)
            elif kind == "hr" and token.map:
                self.drop_lines(*token.map)
            elif kind == "html_block" and token.map:
                start, end = self.region(token)
                for match in _TAG_RE.finditer(self.source.text, start, end):
                    self.edits.append(
                        (match.start(), match.end(), " " if _BREAKING_TAG_RE.match(match.group()) else "")
                    )
                self.units.append((token.map[0], token.map[1]))
            i += 1
        for line, covered in enumerate(self.covered):
            if not covered and self.source.text[self.source.line_start(line) : self.source.line_end(line)].strip():
                self.drop_lines(line, line + 1)  # a reference definition: "[id]: https://…"

    def drop_prefix(self, pattern: re.Pattern[str], line: int) -> None:
        """Remove a bullet or quote marker at a line start, also where no paragraph follows it
        on that line ("- - x", "> 1."); a paragraph's own pass may remove it again."""
        match = pattern.match(self.source.text, self.source.line_start(line), self.source.line_end(line))
        if match:
            self.edits.append((match.start(1), match.end(), ""))

    def code(self, token: Token) -> None:
        assert token.map is not None
        first, last = token.map
        if token.type == "code_block" and _looks_like_prose(token.content):
            self.units.append((first, last))
            return
        if not self.options.read_code_blocks:
            self.drop_lines(first, last)
            return
        if token.type == "fence":
            text = self.source.text
            self.edits.append((self.source.line_start(first), self.source.line_start(first + 1), ""))
            closing = text[self.source.line_start(last - 1) : self.source.line_end(last - 1)].strip()
            if last - 1 > first and closing.startswith(token.markup):
                self.edits.append((self.source.line_end(last - 2), self.source.line_end(last - 1), ""))
        self.units.append((first, last))

    def table(self, tokens: list[Token], i: int) -> int:
        """Edits for a table starting at ``tokens[i]``; returns the index of its closing token."""
        table_map = tokens[i].map
        if table_map is None:
            return i
        delimiter = table_map[0] + 1
        self.edits.append((self.source.line_start(delimiter), self.source.line_start(delimiter + 1), ""))
        self.units.append((table_map[0], table_map[1]))
        while tokens[i].type != "table_close":
            row_map = tokens[i].map
            if tokens[i].type == "tr_open" and row_map:
                self.row(row_map[0])
            i += 1
        return i

    def row(self, line: int) -> None:
        """One table row read as a sentence: "| a | b |" → "a, b."."""
        text = self.source.text
        start, end = self.source.line_start(line), self.source.line_end(line)
        bounds = [start - 1, *(m.start() for m in _CELL_SPLIT_RE.finditer(text, start, end)), end]
        parts = [(a + 1, b) for a, b in pairwise(bounds)]
        if parts and not text[parts[0][0] : parts[0][1]].strip():
            parts = parts[1:]
        if parts and not text[parts[-1][0] : parts[-1][1]].strip():
            parts = parts[:-1]
        spoken: list[tuple[int, int]] = []
        for a, b in parts:
            content = text[a:b].strip()
            if not content:
                continue
            a += len(text[a:b]) - len(text[a:b].lstrip())
            b = a + len(content)
            # Each cell is parsed alone: cells beyond the header's count get no tokens of their own.
            children = _PARSER.parseInline(content)[0].children or []
            self.edits += _inline_edits(text, a, b, children, self.options)
            spoken.append((a, b))
        if not spoken:
            self.edits.append((start, end, ""))
            return
        self.edits.append((start, spoken[0][0], ""))
        for (_, previous_end), (next_start, _) in pairwise(spoken):
            self.edits.append((previous_end, next_start, ", "))
        last = text[spoken[-1][0] : spoken[-1][1]].rstrip("*_~` ")
        self.edits.append((spoken[-1][1], end, "" if last and last[-1] in _TERMINALS else "."))

    def separations(self) -> list[tuple[int, int, str]]:
        """A blank line between blocks that follow each other with no blank line between."""
        inserts = []
        units = sorted(set(self.units))
        for (_, previous_last), (next_first, _) in pairwise(units):
            if next_first == previous_last and next_first < len(self.source.starts):
                pos = self.source.line_end(previous_last - 1)
                inserts.append((pos, pos, "\n"))
        return inserts


def _merged(edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Edits in order, overlapping removals joined ("- - x": both bullets found twice); a
    replacement that overlaps an earlier edit is skipped."""
    merged: list[tuple[int, int, str]] = []
    for start, end, spoken in sorted(edits, key=lambda e: (e[0], e[1])):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if spoken == "" and last[2] == "":
                merged[-1] = (last[0], max(last[1], end), "")
            continue
        merged.append((start, end, spoken))
    return merged


def _prepare(text: str) -> str:
    """Same-length text the parser reads without changing offsets (its own normalization
    turns "\\r\\n" into "\\n"); plain-text bullets become "-"."""
    text = text.replace("\r\n", " \n").replace("\r", "\n").replace("\0", "\ufffd")
    return _PLAIN_BULLET_RE.sub(lambda m: m.group(1) + "-", text)


def _strip_once(text: str, options: MarkupOptions) -> tuple[str, list[Span]]:
    source = _Source(_prepare(text))
    blocks = _Blocks(source, options)
    blocks.run(_PARSER.parse(source.text))
    edits = blocks.edits
    edits += [(p, _, s) for p, _, s in blocks.separations() if not any(a < p < b for a, b, _ in edits)]
    rewriter = Rewriter(text)
    for start, end, spoken in _merged(edits):
        rewriter.replace(start, end, spoken)
    return rewriter.finish()


def strip_markup(text: str, options: MarkupOptions = DEFAULT_MARKUP) -> NormalizedText:
    """``text`` without its markup, and the spans of what was removed or changed.

    Markup can hide markup ("# # **title**", a table inside a list item), so the pass is
    repeated, up to a few times, until it finds nothing left to remove.
    """
    spoken, spans = text, list[Span]()
    for _ in range(_MAX_PASSES):
        stripped, new_spans = _strip_once(spoken, options)
        if not new_spans:
            break
        spoken, spans = stripped, compose(spans, new_spans)
    return NormalizedText(text, spoken, tuple(spans))
