"""What a request's text becomes before it is sent, and where each chunk of it came from.

With normalization on, markup is removed here, in the producer, before the broker cuts the
text into chunks: markdown is never read out, and headings, bullets, code blocks and tables
shape the chunks (their blocks become paragraphs), while the broker's one thread never
parses markdown. A whole text is stripped at once, a token stream piece by piece
(:class:`~swtts.pipeline.normalize.MarkupStream`, so the same text is spoken either way).
The workers then read numbers, money and abbreviations in their voice's language.

The map from the text sent back to the text given is kept: each chunk received (in order,
its text a verbatim slice of the text sent) is placed in the text sent (:meth:`Reading.place`),
and any range of it maps to the text given (:meth:`Reading.to_original`); a chunk's own range
there is :attr:`~swtts.client.results.AudioChunk.source`.
"""

from __future__ import annotations

import logging

from swtts.pipeline.normalize import MarkupOptions, MarkupStream, NormalizedText, strip_markup
from swtts.protocol import ErrorCode, InvalidRequestError

LOGGER = logging.getLogger(__name__)


class Reading:
    """One request's text as sent; ``markup`` None sends it as written."""

    def __init__(self, markup: MarkupOptions | None) -> None:
        self._markup = markup
        self._whole: NormalizedText | None = None
        self._stream = MarkupStream(markup) if markup is not None else None
        self._unplaced = ""  # text sent whose chunks have not come back yet
        self._placed = 0  # where it starts in everything sent

    def whole(self, text: str) -> str:
        """The text to send for a whole document; an error if its markup was all it held."""
        self._whole = strip_markup(text, self._markup) if self._markup is not None else NormalizedText(text, text, ())
        if not self._whole.spoken.strip():
            raise InvalidRequestError(
                "the text has nothing to read once its markup is removed (code blocks are skipped "
                "unless normalize.read_code_blocks is set)",
                ErrorCode.EMPTY_TEXT,
            )
        self._unplaced = self._whole.spoken
        return self._whole.spoken

    def feed(self, piece: str) -> str:
        """The part of a stream that can be sent now that ``piece`` arrived."""
        sent = self._stream.feed(piece) if self._stream is not None else piece
        self._unplaced += sent
        return sent

    def finish(self) -> str:
        """The rest of a stream, at its end."""
        sent = self._stream.finish() if self._stream is not None else ""
        self._unplaced += sent
        return sent

    def place(self, chunk_text: str) -> int | None:
        """Where the next chunk starts in the text sent, or None if it cannot be found there.

        Chunks come back in order and only whitespace lies between them in the text sent.
        """
        at = self._unplaced.find(chunk_text)
        if not chunk_text or at < 0 or self._unplaced[:at].strip():
            LOGGER.debug("chunk %r not found in the text sent", chunk_text[:60])
            return None
        start = self._placed + at
        self._unplaced = self._unplaced[at + len(chunk_text) :]
        self._placed = start + len(chunk_text)
        return start

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The range of the text given that ``[start, end)`` of the text sent reads (the markup
        around a word counts with it only where the two were rewritten as one)."""
        if self._whole is not None:
            return self._whole.to_original(start, end)
        if self._stream is not None:
            return self._stream.to_original(start, end)
        return start, end
