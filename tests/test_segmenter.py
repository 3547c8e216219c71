"""Tests for streaming sentence segmentation of LLM token streams."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swtts.pipeline.segmenter import PARAGRAPH_MARKER, SentenceSegmenter
from swtts.pipeline.sentences import scan_sentences

NBSP = "\u00a0"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(pieces: list[str], **kwargs: float) -> list[str]:
    segmenter = SentenceSegmenter(**kwargs)  # type: ignore[arg-type]
    out: list[str] = []
    for piece in pieces:
        out.extend(segmenter.feed(piece))
    out.extend(segmenter.finish())
    return out


def whole_text_sentences(text: str) -> list[str]:
    """What segmenting the whole text at once must give: the chunker's own sentences."""
    return [
        (PARAGRAPH_MARKER if paragraph else "") + text[start:end]
        for start, end, paragraph in scan_sentences(text).spans
    ]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- confirmation ------------------------------------------------------------------------


def test_sentence_is_emitted_once_the_next_one_starts() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("The end.") == []
    assert segmenter.feed(" ") == []
    assert segmenter.feed("The") == ["The end."]
    assert segmenter.pending == " The"
    assert segmenter.finish() == ["The"]


def test_abbreviation_is_not_an_end() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Dr.") == []
    assert segmenter.feed(" Smith") == []
    assert segmenter.feed(" arrived at 5 p.m. on Jan.") == []
    assert segmenter.feed(" 5. He") == ["Dr. Smith arrived at 5 p.m. on Jan. 5."]


def test_decimal_is_not_an_end() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("It costs 3.") == []
    assert segmenter.feed("2 dollars, i.") == []
    assert segmenter.feed("e. cheap.") == []
    assert segmenter.feed(" Next") == ["It costs 3.2 dollars, i.e. cheap."]


def test_lowercase_after_period_is_no_end() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Wait... what") == []
    assert segmenter.feed(" happened?") == []
    assert segmenter.feed(" Nobody") == ["Wait... what happened?"]


def test_french_rules_are_shared_with_the_chunker() -> None:
    pieces = ["M.", " Dupont a dit", f"{NBSP}: « Bonjour", f"{NBSP}! »", " Puis", " il est parti."]
    assert run(pieces) == ["M. Dupont a dit\u00a0: « Bonjour\u00a0! »", "Puis il est parti."]


def test_paragraph_break_confirms_the_sentence_and_marks_the_next() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("A line without a period") == []
    assert segmenter.feed("\n\n") == ["A line without a period"]
    assert segmenter.feed("Second paragraph.") == []
    assert segmenter.finish() == ["\n\nSecond paragraph."]


def test_headings_and_list_items_start_paragraphs() -> None:
    text = "Keepers of the Light\n\nA routine:\n1. Trim the wick\n2. Wind the clock\n- log it\nDone here."
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert run(pieces) == [
        "Keepers of the Light",
        "\n\nA routine:",
        "\n\n1. Trim the wick",
        "\n\n2. Wind the clock",
        "\n\n- log it",
        "\n\nDone here.",
    ]


def test_first_piece_never_has_a_marker() -> None:
    assert run(["\n\n  Hello there."]) == ["Hello there."]


# --- forced flushes -------------------------------------------------------------------


def test_long_run_is_flushed_at_word_boundaries_within_flush_chars() -> None:
    words = [f"word{i}" for i in range(60)]
    segmenter = SentenceSegmenter(flush_chars=50)
    out: list[str] = []
    for word in words:
        out.extend(segmenter.feed(word[:3]))
        out.extend(segmenter.feed(word[3:] + " "))
    assert out, "a long run must be flushed before the stream ends"
    assert all(len(piece) <= 50 for piece in out)
    flushed_words = " ".join(out).split()
    assert flushed_words == words[: len(flushed_words)]
    out.extend(segmenter.finish())
    assert " ".join(out).split() == words


def test_partial_word_stays_pending() -> None:
    segmenter = SentenceSegmenter(flush_chars=20)
    assert segmenter.feed("aaaa bbbb cccc dddd eeee") == ["aaaa bbbb cccc dddd"]
    assert segmenter.pending == " eeee"


def test_flush_prefers_a_clause_boundary() -> None:
    segmenter = SentenceSegmenter(flush_chars=40)
    out = segmenter.feed("alpha beta gamma, delta epsilon zeta eta theta iota ")
    assert out == ["alpha beta gamma,"]


def test_giant_word_is_sent_whole_once_complete() -> None:
    segmenter = SentenceSegmenter(flush_chars=20)
    assert segmenter.feed("x" * 30) == []
    assert segmenter.feed("x" * 30) == []
    assert segmenter.feed(" and") == ["x" * 60]


def test_time_based_flush_with_fake_clock() -> None:
    clock = FakeClock()
    segmenter = SentenceSegmenter(flush_after_s=1.5, clock=clock)
    assert segmenter.poll() == []
    assert segmenter.feed("The keeper climbed the sta") == []
    clock.now += 1.0
    assert segmenter.poll() == []
    clock.now += 0.6
    assert segmenter.poll() == ["The keeper climbed the"]
    assert segmenter.pending == " sta"
    assert segmenter.poll() == [], "the timer restarts after a flush"
    clock.now += 2.0
    assert segmenter.poll() == [], "a lone partial word is never cut"
    assert segmenter.feed("irs. Then") == ["stairs."]
    assert segmenter.finish() == ["Then"]


def test_time_based_flush_sends_a_finished_sentence_whole() -> None:
    clock = FakeClock()
    segmenter = SentenceSegmenter(clock=clock)
    assert segmenter.feed("That is the end.") == []
    clock.now += 2.0
    assert segmenter.poll() == ["That is the end."]
    assert segmenter.pending == ""


def test_time_based_flush_keeps_a_possible_decimal() -> None:
    clock = FakeClock()
    segmenter = SentenceSegmenter(clock=clock)
    segmenter.feed("It costs 3.")
    clock.now += 2.0
    assert segmenter.poll() == ["It costs"]
    assert segmenter.feed("5 dollars.") == []
    assert segmenter.finish() == ["3.5 dollars."]


@pytest.mark.parametrize(
    ("pieces", "flushed", "rest"),
    [
        (["It costs 4", "9.95 today"], "It costs", "49.95 today"),
        (["It costs $4", "9.95 today"], "It costs", "$49.95 today"),
        (["It costs $", "49.95 today"], "It costs", "$49.95 today"),
        (["Il y a 1 250", " 000 habitants"], "Il y a", "1 250 000 habitants"),
        (["Ça coûte 49,95 ", "€ seulement"], "Ça coûte", "49,95 € seulement"),
        (["We meet at 10:30 ", "pm sharp"], "We meet at", "10:30 pm sharp"),
        (["It weighs 5 ", "kg in all"], "It weighs", "5 kg in all"),
        (["We met Dr. ", "Smith there"], "We met", "Dr. Smith there"),
    ],
)
def test_time_based_flush_never_cuts_a_number_amount_or_title(pieces: list[str], flushed: str, rest: str) -> None:
    clock = FakeClock()
    segmenter = SentenceSegmenter(clock=clock)
    assert segmenter.feed(pieces[0]) == []
    clock.now += 2.0
    assert segmenter.poll() == [flushed]
    assert segmenter.feed(pieces[1]) == []
    assert segmenter.finish() == [rest]


def test_long_flush_never_cuts_a_number() -> None:
    segmenter = SentenceSegmenter(flush_chars=20)
    out = segmenter.feed("The total was 1 250 000 ")
    assert out == ["The total was"]
    assert segmenter.feed("euros in the end") == ["1 250 000 euros in"]
    assert segmenter.finish() == ["the end"]


def test_whitespace_only_is_never_pending_or_emitted() -> None:
    clock = FakeClock()
    segmenter = SentenceSegmenter(clock=clock)
    assert segmenter.feed("  \n ") == []
    clock.now += 10.0
    assert segmenter.poll() == []
    assert segmenter.finish() == []


def test_finish_resets_for_a_new_stream() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("First stream.\n\nStill first") == ["First stream."]
    assert segmenter.finish() == ["\n\nStill first"]
    assert segmenter.pending == ""
    segmenter.feed("Second stream.")
    assert segmenter.finish() == ["Second stream."]


@pytest.mark.parametrize("kwargs", [{"flush_chars": 0}, {"flush_after_s": -1.0}])
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SentenceSegmenter(**kwargs)  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "the",
        "keeper",
        "Lamp",
        "État",
        "à",
        "sea",
        "end.",
        "stop!",
        "why?",
        "wait...",
        "so…",
        "so,",
        "this;",
        "that:",
        "—",
        "-",
        '"Quoted."',
        "(aside.)",
        "«",
        f"oui{NBSP}!",
        "»",
        "Dr.",
        "Mrs.",
        "St.",
        "e.g.",
        "U.S.",
        "etc.",
        "No.",
        "M.",
        "p.m.",
        "J.",
        "3.2",
        "$1,250.50",
        "1984.",
        "7",
        "v1.2.3",
        "http://x.y/z.html",
        "a.b@c.org",
        "1.",
        "2)",
        "•",
        "*",
        "#",
        "Title",
        "Heading",
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", " ", "\n", "\n", "\n\n", " \n \n", NBSP, "  "])


@st.composite
def documents(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORDS, max_size=80))
    parts = [draw(SEPARATORS)]
    for word in words:
        parts.append(word)
        parts.append(draw(SEPARATORS))
    return "".join(parts)


@st.composite
def split_documents(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(documents())
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=60)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_documents())
def test_property_any_split_gives_the_whole_text_sentences(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    expected = whole_text_sentences(text)
    assert run([text], flush_chars=10**9) == expected
    assert run(pieces, flush_chars=10**9) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    split_documents(),
    st.integers(min_value=10, max_value=200),
    st.lists(st.booleans(), max_size=60),
)
def test_property_forced_flushes_lose_and_double_nothing(
    case: tuple[str, list[str]], flush_chars: int, polls: list[bool]
) -> None:
    text, pieces = case
    clock = FakeClock()
    segmenter = SentenceSegmenter(flush_chars=flush_chars, flush_after_s=1.0, clock=clock)
    out: list[str] = []
    for number, piece in enumerate(pieces):
        out.extend(segmenter.feed(piece))
        if number < len(polls) and polls[number]:
            clock.now += 2.0
            out.extend(segmenter.poll())
    out.extend(segmenter.finish())
    assert squeeze("".join(out)) == squeeze(text)
    for piece in out:
        body = piece.removeprefix(PARAGRAPH_MARKER)
        assert body and body == body.strip()
