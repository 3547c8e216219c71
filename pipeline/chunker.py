"""Sentence-aware document chunking: a document cut into chunks of whole sentences.

Every worker gets text it can speak with natural prosody, and the assembler knows where a
sentence or paragraph pause belongs; where sentences end is :mod:`pipeline.sentences`'s call.
Oversized sentences are split at the best clause boundary (``;`` then ``:`` then a spaced
dash then ``,``), else at the last space that fits. The only cut inside a word is a single
whitespace-free run longer than ``max_chars`` (a huge URL, base64…): it is hard-cut every
``max_chars`` characters so no worker ever gets more than ``max_chars`` characters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from swtts.pipeline.sentences import clause_cut, scan_sentences

__all__ = ["Chunk", "split_text"]

logger = logging.getLogger(__name__)

MIN_SHARES = 4
"""A chunk packs at most the text left from its start ÷ max(this, workers): the last chunks of a
long text are short, so the workers finish together, and a short one reaches every worker. Up
to this many workers a text is cut the same whatever their number, so the cache's chunks match
after a worker comes or goes."""

_NONSPACE_RE = re.compile(r"\S")
_SPACE_RE = re.compile(r"\s")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, sent to one worker and spoken as one unit."""

    index: int
    text: str
    start: int
    end: int
    paragraph_start: bool
    sentence_end: bool


def _piece_end(text: str, start: int, end: int, limit: int, hard_limit: int) -> int:
    """Where the first piece of an oversized sentence ends (see :func:`clause_cut`).

    With no word end in reach the first word is taken whole, up to ``hard_limit``
    characters; longer words are hard-cut there.
    """
    cut = clause_cut(text, start, end, limit)
    if cut is not None:
        return cut
    space = _SPACE_RE.search(text, start, min(end, start + hard_limit + 1))
    word_end = space.start() if space else min(end, start + hard_limit + 1)
    if word_end - start > hard_limit:
        logger.debug("hard-cutting a %d+ character word at %d", word_end - start, hard_limit)
        return start + hard_limit
    return word_end


def _next_nonspace(text: str, pos: int, end: int) -> int:
    """Index of the first non-whitespace character in text[pos:end], else ``end``."""
    match = _NONSPACE_RE.search(text, pos, end)
    return match.start() if match else end


def _pieces(text: str, start: int, end: int, limit: int, hard_limit: int) -> Iterator[tuple[int, int, bool]]:
    """Split one sentence into (start, end, ends_sentence) pieces within the limits.

    The first piece may use a smaller ``limit`` (the first chunk); later ones use
    ``hard_limit``.
    """
    while end - start > limit:
        cut = _piece_end(text, start, end, limit, hard_limit)
        if cut >= end:
            break
        yield start, cut, False
        start = _next_nonspace(text, cut, end)
        limit = hard_limit
    yield start, end, True


def split_text(
    text: str,
    max_chars: int = 800,
    first_chunk_chars: int | None = None,
    start_index: int = 0,
    workers: int | None = None,
) -> list[Chunk]:
    """Cut ``text`` into chunks of whole sentences, each at most ``max_chars`` long.

    Sentences are packed greedily; a paragraph break (blank line, heading, list item) always
    starts a new chunk. With ``workers`` (how many will speak it, the service's case) a chunk
    packs at most its share of the text left from its start (that
    length ÷ max(:data:`MIN_SHARES`, ``workers``); a sentence longer than that stays whole, up
    to ``max_chars``): a short text reaches every worker, and a long one's chunks shrink toward
    its end, so no worker is still speaking a long last chunk while the others idle (guided
    self-scheduling). With ``first_chunk_chars`` the first chunk is only the
    first sentence, or its first clause when the sentence is longer, so the first audio
    comes early; if even the first word is longer, that word alone (up to ``max_chars``)
    is the first chunk. Chunk indexes start at ``start_index``.

    A whitespace-free run longer than ``max_chars`` is the only text cut inside a word:
    it is hard-cut every ``max_chars`` characters, so no chunk is ever longer.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if first_chunk_chars is not None and first_chunk_chars < 1:
        raise ValueError(f"first_chunk_chars must be at least 1, got {first_chunk_chars}")
    first_limit = None if first_chunk_chars is None else min(first_chunk_chars, max_chars)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    def pack_limit(start: int) -> int:
        if workers is None:
            return max_chars
        return min(max_chars, max(1, -(-(len(text) - start) // max(MIN_SHARES, workers))))

    units: list[tuple[int, int, bool, bool]] = []
    for number, (start, end, paragraph) in enumerate(scan_sentences(text).spans):
        limit = first_limit if number == 0 and first_limit is not None else max_chars
        for piece_start, piece_end, ends_sentence in _pieces(text, start, end, limit, max_chars):
            units.append((piece_start, piece_end, paragraph, ends_sentence))
            paragraph = False

    chunks: list[Chunk] = []

    def close(start: int, end: int, paragraph: bool, ends_sentence: bool) -> None:
        piece = text[start:end]
        chunks.append(
            Chunk(
                index=start_index + len(chunks),
                text=piece,
                start=start,
                end=end,
                paragraph_start=paragraph and bool(chunks),
                sentence_end=ends_sentence,
            )
        )

    current: tuple[int, int, bool, bool] | None = None
    for number, (start, end, paragraph, ends_sentence) in enumerate(units):
        if current is not None and (
            paragraph or end - current[0] > pack_limit(current[0]) or (number == 1 and first_limit is not None)
        ):
            close(*current)
            current = None
        if current is None:
            current = (start, end, paragraph, ends_sentence)
        else:
            current = (current[0], end, current[2], ends_sentence)
    if current is not None:
        close(*current)
    return chunks
