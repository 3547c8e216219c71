"""Word timings on the output's clock: each word of a chunk placed where it is heard in the request's audio.

A worker times each word in its chunk's own samples (:class:`~swtts.protocol.WordSpan`); the
client places the chunk on the output's timeline (:class:`~swtts.pipeline.assembly.Timeline`:
the pauses before it and between its sentences) and turns samples into seconds there. The
speaking rate (``length_scale``) needs nothing more: the voice's durations already follow it.
Each word is also placed in the request's text as given (its markup included), for a reader
that highlights it there.
"""

from __future__ import annotations

from typing import NamedTuple

from swtts.client.reading import Reading
from swtts.pipeline.assembly import Placement
from swtts.protocol import Audio

Source = tuple[int, int] | None


class TimedWord(NamedTuple):
    """A word of the text (as sent: its markup removed, its numbers as written) and when it is heard,
    in seconds from the start of the request's audio (pauses included)."""

    word: str
    start: float
    end: float


def place_words(
    message: Audio, placement: Placement, sent_at: int | None, reading: Reading
) -> tuple[tuple[TimedWord, ...], tuple[Source, ...]]:
    """The chunk's words on the output's clock, and where each is in the text given (None if unknown).

    ``sent_at``: where the chunk starts in the text sent (None when it could not be placed there).
    """
    rate = message.sample_rate
    words = []
    for span in message.words:
        start = placement.to_output(span.start)
        end = max(start, placement.to_output(span.end, end=True))  # an empty word at a sentence's end
        words.append(
            TimedWord(message.text[span.text_start : span.text_end], round(start / rate, 4), round(end / rate, 4))
        )
    sources = tuple(
        None if sent_at is None else reading.to_original(sent_at + span.text_start, sent_at + span.text_end)
        for span in message.words
    )
    return tuple(words), sources
