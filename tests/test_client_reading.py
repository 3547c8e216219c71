"""The client's side of reading: markup removed before sending, each chunk placed back in the text given."""

from __future__ import annotations

import pytest

from swtts.client import Client, InvalidRequestError, SynthesisOptions
from swtts.client.reading import Reading
from swtts.config import load_settings
from swtts.pipeline.normalize import MarkupOptions
from swtts.protocol import ErrorCode

TEXT = "# Title\n\nSome **bold** text. More [here](https://x.io).\n\n```\ncode()\n```\n\nEnd."
CHUNKS = ["Title", "Some bold text.", "More here.", "End."]
ORIGINALS = ["Title", "Some **bold** text.", "More [here](https://x.io).", "End."]


def placed(reading: Reading, text: str, chunks: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for chunk in chunks:
        start = reading.place(chunk)
        out.append(None if start is None else text[slice(*reading.to_original(start, start + len(chunk)))])
    return out


def test_a_whole_text_is_sent_without_markup_and_its_chunks_are_placed_back() -> None:
    reading = Reading(MarkupOptions())
    assert reading.whole(TEXT).split() == " ".join(CHUNKS).split()
    assert placed(reading, TEXT, CHUNKS) == ORIGINALS


def test_a_streamed_text_is_placed_back_in_its_tokens_joined() -> None:
    reading = Reading(MarkupOptions())
    sent = "".join(reading.feed(TEXT[i : i + 3]) for i in range(0, len(TEXT), 3)) + reading.finish()
    assert sent == Reading(MarkupOptions()).whole(TEXT)
    assert placed(reading, TEXT, CHUNKS) == ORIGINALS


def test_a_word_inside_a_chunk_maps_to_its_original_word() -> None:
    reading = Reading(MarkupOptions())
    reading.whole(TEXT)
    reading.place("Title")
    start = reading.place("Some bold text.")
    assert start is not None
    word = start + len("Some ")
    assert TEXT[slice(*reading.to_original(word, word + len("bold")))] == "bold"


def test_a_chunk_that_is_not_in_the_text_sent_is_not_placed_and_the_next_one_still_is() -> None:
    reading = Reading(MarkupOptions())
    reading.whole(TEXT)
    assert placed(reading, TEXT, ["Title", "Something else.", *CHUNKS[1:]]) == [ORIGINALS[0], None, *ORIGINALS[1:]]


def test_text_read_as_written_is_sent_unchanged() -> None:
    reading = Reading(None)
    assert reading.whole(TEXT) == TEXT
    assert placed(reading, TEXT, ["# Title"]) == ["# Title"]


@pytest.mark.parametrize("options", [None, SynthesisOptions(normalize=True)])
def test_a_text_that_is_only_markup_is_refused_before_anything_is_sent(options: SynthesisOptions | None) -> None:
    with Client("tcp://127.0.0.1:9", load_settings()) as client:  # nothing listens there: nothing is sent
        with pytest.raises(InvalidRequestError) as refused:
            client.stream("```\ncode()\n```", options)
        client.stream("```\ncode()\n```", SynthesisOptions(normalize=False)).close()  # read as written: fine
    assert refused.value.code is ErrorCode.EMPTY_TEXT and "markup" in refused.value.message
