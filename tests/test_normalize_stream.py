"""The markup pass over text arriving in pieces: the same result as the whole text, released early."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swtts.pipeline.normalize import MarkupOptions, MarkupStream, NormalizedText, strip_markup
from tests.test_normalize_properties import assert_spans_sound

ANSWER = """## Lighthouse keeping

A keeper's day had **three duties**: the *lamp*, the `log book` and the [fog signal](https://x.io/fog).

- Trim the wick at dusk.
- Wind the clockwork **every four
  hours** through the night.
1. Polish the lens.
2. Record the weather.

> Keep a good light.

```python
def trim(wick):

    return wick * 0.9
```

| Station | Height |
|---|---|
| Eddystone | 49 m |
| Bell Rock | 35 m |

That is all. Thank you!
"""

SAMPLES = [
    ANSWER,
    "Pay $49.95 now. Then **leave** quietly.",
    "# Title\nText right under it.\n- one\n- two\nAfter the list.",
    "Some `code with *stars*` and a <b>tag</b> and an ![old lamp](img/l.png).\n\n---\n\nEnd.",
    "Title\n=====\nText.\n\n    indented code\n\nMore.",
    "1. First step is long\n   and continues here.\n2. Second.\n\n10. Tenth item.\n",
    "# A closed heading #  \nIts text.",
]


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def streamed(pieces: list[str], options: MarkupOptions | None = None) -> tuple[str, list[str], MarkupStream]:
    stream = MarkupStream(options or MarkupOptions())
    released = [stream.feed(piece) for piece in pieces]
    released.append(stream.finish())
    return "".join(released), released, stream


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_pieces_strip_exactly_like_the_whole_text(text: str, size: int) -> None:
    joined, _, stream = streamed(pieces_of(text, size))
    whole = strip_markup(text)
    assert joined == whole.spoken
    assert_spans_sound(stream.mapping)
    assert_same_lookups(stream, whole)


def assert_same_lookups(stream: MarkupStream, whole: NormalizedText) -> None:
    """Each spoken word maps to the same original word as in the whole text's map, give or
    take markup beside it (the whole pass may join "- " and "&amp;" into one region), and
    the stream's own lookup (no text built) agrees with its map."""
    mapping = stream.mapping
    for match in re.finditer(r"\S+", whole.spoken):
        start, end = stream.to_original(*match.span())
        assert (start, end) == mapping.to_original(*match.span())
        whole_start, whole_end = whole.to_original(*match.span())
        assert whole_start <= start < end <= whole_end
        assert not strip_markup(whole.original[whole_start:start]).spoken.strip()
        assert not strip_markup(whole.original[end:whole_end]).spoken.strip()


def test_code_blocks_follow_the_options() -> None:
    options = MarkupOptions(read_code_blocks=True, read_code_spans=False)
    joined, _, _ = streamed(pieces_of(ANSWER, 2), options)
    assert joined == strip_markup(ANSWER, options).spoken
    assert "return wick" in joined and "log book" not in joined


def test_text_is_released_while_it_arrives() -> None:
    """A sentence comes out once the next word has begun, not at the end of the stream."""
    text = "Hello **big** world. Next sentence follows"
    stream = MarkupStream()
    out = ""
    for piece in pieces_of(text[: text.index("Next") + 1], 1):
        out += stream.feed(piece)
    assert out == "Hello big world. "


def test_a_complete_last_word_is_released_for_a_time_flush() -> None:
    """A stalled stream's text up to its last complete word is out, for the segmenter's time flush."""
    stream = MarkupStream()
    assert stream.feed("The answer is **coming** ") == "The answer is coming "
    assert stream.feed("soon") == ""


def test_open_markup_is_held_until_it_closes() -> None:
    stream = MarkupStream()
    assert stream.feed("Say **very ") == "Say "
    assert stream.feed("loud** now") == "very loud "
    assert stream.finish() == "now"


def test_a_fence_is_held_until_it_closes_and_a_table_until_its_end() -> None:
    stream = MarkupStream()
    out = stream.feed("Code:\n\n```\nx = 1\n\ny = 2\n")
    assert "x = 1" not in out and "```" not in out
    out += stream.feed("```\n\n| a | b |\n|---|---|\n| c | d |\n")
    assert "c, d" not in out and "|" not in out
    out += stream.feed("\nDone.") + stream.finish()
    assert out == strip_markup("Code:\n\n```\nx = 1\n\ny = 2\n```\n\n| a | b |\n|---|---|\n| c | d |\n\nDone.").spoken


WORDS = [
    "the", "light", "keeper", "Smith", "Dr.", "$49.95", "8:00", "50%", "e.g.", "(see", "this)", "“quoted”",
    "**bold words**", "*em*", "_em_", "`code span`", "[a link](https://x.io/a)", "~~gone~~", "<b>tag</b>",
    "&amp;", "snake_case", "2*3", "C++",
]  # fmt: skip


@st.composite
def sentences(draw: st.DrawFn, end: bool = True) -> str:
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)))
    return text + (draw(st.sampled_from([".", "!", "?", ":", ""])) if end else "")


@st.composite
def blocks(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 8))
    if kind == 0:
        return "#" * draw(st.integers(1, 3)) + " " + draw(sentences(end=False))
    if kind in (1, 2):
        marker = "- " if kind == 1 else "{}. "
        items = draw(st.lists(sentences(), min_size=1, max_size=4))
        return "\n".join(marker.format(i + 1) + item for i, item in enumerate(items))
    if kind == 3:
        return "> " + draw(sentences())
    if kind == 4:
        return "```python\nx = 1\n\nprint(x * 2)\n```"
    if kind == 5:
        return "| Name | Price |\n|---|---|\n| " + draw(sentences(end=False)) + " | $5 |\n| b | c |"
    if kind == 6:
        return "---"
    if kind == 7:
        return draw(sentences()) + "\n" + draw(sentences())
    return " ".join(draw(st.lists(sentences(), min_size=1, max_size=3)))


@st.composite
def split_answers(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts = draw(st.lists(st.tuples(blocks(), st.sampled_from(["\n\n", "\n"])), min_size=1, max_size=6))
    text = "".join(block + separator for block, separator in parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=60)))
    return text, [text[a:b] for a, b in pairwise([0, *cuts, len(text)])]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_answers())
def test_property_a_markdown_answer_split_anywhere_strips_like_the_whole(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    joined, _, stream = streamed(pieces)
    whole = strip_markup(text)
    assert joined == whole.spoken
    assert_spans_sound(stream.mapping)
    assert_same_lookups(stream, whole)
