"""Tests for the sentence-aware chunker: boundary rules, splitting, limits and coverage."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swtts.pipeline.chunker import MIN_SHARES, Chunk, split_text
from swtts.pipeline.sentences import sentence_spans

ARTICLE = Path(__file__).resolve().parent.parent / "samples" / "article.txt"
NBSP = "\u00a0"
NNBSP = "\u202f"


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def assert_valid_chunks(text: str, chunks: list[Chunk], max_chars: int, start_index: int = 0) -> None:
    """Every invariant a consumer relies on, checked in one place."""
    squeezed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", "".join(c.text for c in chunks)) == squeezed
    if not squeezed:
        assert chunks == []
        return
    assert text[: chunks[0].start].strip() == ""
    assert text[chunks[-1].end :].strip() == ""
    for number, chunk in enumerate(chunks):
        assert chunk.index == start_index + number
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text and not chunk.text[0].isspace() and not chunk.text[-1].isspace()
        assert len(chunk.text) <= max_chars
        assert re.search(r"\n[^\S\n]*\n", chunk.text) is None, "two paragraphs joined"
    assert chunks[0].paragraph_start is False
    for before, after in itertools.pairwise(chunks):
        assert before.end <= after.start
        gap = text[before.end : after.start]
        assert gap.strip() == ""
        if not gap:
            # Only a whitespace-free run longer than max_chars may be cut inside.
            tail, head = re.search(r"\S*$", text[: before.end]), re.match(r"\S*", text[after.start :])
            assert tail and head
            word_start = len(text[: before.end]) - len(tail.group())
            word_end = after.start + len(head.group())
            assert word_end - word_start > max_chars


# --- sentence boundaries -------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase",
    [
        "Dr. Watson",
        "Mr. Holmes",
        "Mrs. Hudson",
        "Ms. Adler",
        "St. Ives",
        "Prof. Moriarty",
        "Mt. Everest",
        "team A vs. Team B",
        "cities, e.g. Paris",
        "the capital, i.e. London",
        "the U.S. Navy",
        "the U.K. Parliament",
        "on Jan. 5",
        "on Dec. 24",
        "No. 7 Baker Street",
        "Fig. 3 shows",
        "approx. 40 people",
        "Acme Inc. announced",
        "Smith Ltd. said",
        "Jones & Co. were",
        "John Smith Jr. was",
        "John Smith Sr. was",
        "at 9 a.m. sharp",
        "at 5 p.m. on Friday",
        "J. R. R. Tolkien",
        "the gear, tools, etc. were",
    ],
)
def test_abbreviations_do_not_end_sentences(phrase: str) -> None:
    text = f"We read about {phrase} in the paper. Then we went home."
    assert sentences(text) == [f"We read about {phrase} in the paper.", "Then we went home."]


def test_etc_before_a_capital_ends_the_sentence() -> None:
    text = "We packed rope, lamps, oil, etc. The boat left at noon. We saw gulls, terns, etc. and seals."
    assert sentences(text) == [
        "We packed rope, lamps, oil, etc.",
        "The boat left at noon.",
        "We saw gulls, terns, etc. and seals.",
    ]


def test_ambiguous_abbreviations_end_sentences_before_capitals_only() -> None:
    text = (
        "The shop opens at 9 a.m. Nobody comes before then. The answer is No. "
        "It was built by Acme Inc. The rest is history."
    )
    assert sentences(text) == [
        "The shop opens at 9 a.m.",
        "Nobody comes before then.",
        "The answer is No.",
        "It was built by Acme Inc.",
        "The rest is history.",
    ]


def test_street_abbreviation_after_a_name_can_end_a_sentence() -> None:
    text = "St. James St. is near. He lives on James St. The house is big. Ask Dr. Who on Mulholland Dr. Then go."
    assert sentences(text) == [
        "St. James St. is near.",
        "He lives on James St.",
        "The house is big.",
        "Ask Dr. Who on Mulholland Dr.",
        "Then go.",
    ]


def test_line_ending_in_a_title_is_no_heading_break() -> None:
    assert sentences("Dear Mr.\nSmith\n\nThanks.") == ["Dear Mr.\nSmith", "Thanks."]
    assert sentences("We packed rope, etc.\nTower Rules\n\nMore.") == [
        "We packed rope, etc.",
        "Tower Rules",
        "More.",
    ]


@pytest.mark.parametrize(
    "number",
    ["3.2 km", "$1,250.50", "1.5e3 watts", "version v1.2.3", "0.75%", "€3.50", "12.30 hours"],
)
def test_decimals_and_amounts_do_not_end_sentences(number: str) -> None:
    text = f"It measured {number} in total. Then it stopped."
    assert sentences(text) == [f"It measured {number} in total.", "Then it stopped."]


def test_number_before_a_period_can_end_a_sentence() -> None:
    assert sentences("It was built in 1859. Three keepers lived there. It cost $1,250. 40 men built it.") == [
        "It was built in 1859.",
        "Three keepers lived there.",
        "It cost $1,250.",
        "40 men built it.",
    ]


def test_urls_and_emails_do_not_end_sentences() -> None:
    text = (
        "See http://x.y/z.html for details. Visit www.example.com today. "
        "Write to a.b@c.org with questions. Our site is https://example.org/a.b?c=D.E. Thanks."
    )
    assert sentences(text) == [
        "See http://x.y/z.html for details.",
        "Visit www.example.com today.",
        "Write to a.b@c.org with questions.",
        "Our site is https://example.org/a.b?c=D.E.",
        "Thanks.",
    ]


def test_ellipses() -> None:
    text = "Wait... what was that? Then silence… Nothing moved. It went on and on... And then it stopped."
    assert sentences(text) == [
        "Wait... what was that?",
        "Then silence…",
        "Nothing moved.",
        "It went on and on...",
        "And then it stopped.",
    ]


def test_question_and_exclamation_combos() -> None:
    assert sentences("Really?! Yes!! Why? Because.") == ["Really?!", "Yes!!", "Why?", "Because."]


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    text = (
        'He said "Stop." Then he left. (See the map.) It was late. '
        "She asked, ‘Is it far?’ Nobody knew. \"Why?\" she asked again. [Noted.] 'Fine.' Done."
    )
    assert sentences(text) == [
        'He said "Stop."',
        "Then he left.",
        "(See the map.)",
        "It was late.",
        "She asked, ‘Is it far?’",
        "Nobody knew.",
        '"Why?" she asked again.',
        "[Noted.]",
        "'Fine.'",
        "Done.",
    ]


def test_sentence_may_start_with_opening_quote_bracket_or_digit() -> None:
    assert sentences('It ended. "Next," he said. (Aside.) 3 ships sailed. ¿Qué? Sí.') == [
        "It ended.",
        '"Next," he said.',
        "(Aside.)",
        "3 ships sailed.",
        "¿Qué?",
        "Sí.",
    ]


def test_lowercase_after_period_is_no_boundary() -> None:
    assert sentences("The value was 3. and then more. Next.") == ["The value was 3. and then more.", "Next."]


def test_french_text() -> None:
    text = (
        f"M. Dupont et Mme Durand ont vu Mlle Roux. Le Dr Martin, p. ex. lui, est venu{NBSP}; "
        f"il a dit{NBSP}: « Bonjour{NBSP}! » Puis il est parti{NNBSP}! Était-ce vrai{NBSP}? "
        f"Oui. « Viens. » Ça ira. À demain, etc. Fin."
    )
    assert sentences(text) == [
        "M. Dupont et Mme Durand ont vu Mlle Roux.",
        f"Le Dr Martin, p. ex. lui, est venu{NBSP}; il a dit{NBSP}: « Bonjour{NBSP}! »",
        f"Puis il est parti{NNBSP}!",
        f"Était-ce vrai{NBSP}?",
        "Oui.",
        "« Viens. »",
        "Ça ira.",
        "À demain, etc.",
        "Fin.",
    ]


def test_french_guillemets_with_plain_spaces() -> None:
    assert sentences("Il cria « Au feu ! » Tout le monde sortit. « Vraiment ? » dit-elle.") == [
        "Il cria « Au feu ! »",
        "Tout le monde sortit.",
        "« Vraiment ? » dit-elle.",
    ]


def test_nbsp_never_starts_or_ends_a_chunk() -> None:
    text = f"{NBSP}Bonjour{NBSP}! Comment ça va{NNBSP}? Très bien{NBSP}; merci.{NBSP}"
    chunks = split_text(text, max_chars=15)
    assert_valid_chunks(text, chunks, 15)
    assert [c.text for c in chunks] == [
        f"Bonjour{NBSP}!",
        f"Comment ça va{NNBSP}?",
        f"Très bien{NBSP};",
        "merci.",
    ]


# --- structure: newlines, paragraphs, headings, lists ---------------------------------


def test_single_newline_inside_prose_is_whitespace() -> None:
    text = "The keeper climbed\nthe stairs at dusk. He lit\nthe lamp."
    assert sentences(text) == ["The keeper climbed\nthe stairs at dusk.", "He lit\nthe lamp."]
    assert len(split_text(text)) == 1


def test_paragraph_break_always_ends_a_chunk() -> None:
    text = "First paragraph here.\n\nSecond one.\n \t\nThird one\n\n\n\nFourth."
    chunks = split_text(text)
    assert [c.text for c in chunks] == ["First paragraph here.", "Second one.", "Third one", "Fourth."]
    assert [c.paragraph_start for c in chunks] == [False, True, True, True]
    assert all(c.sentence_end for c in chunks)


def test_windows_line_endings() -> None:
    chunks = split_text("One line.\r\nSame paragraph.\r\n\r\nNew paragraph.")
    assert [c.text for c in chunks] == ["One line.\r\nSame paragraph.", "New paragraph."]
    assert chunks[1].paragraph_start


def test_numbered_and_bulleted_list_items_are_their_own_sentences() -> None:
    text = (
        "Do this:\n1. Trim the wick\n2) Wind the clock. Then rest\n- climb the stairs\n"
        "* check the flame\n• log the time\nThat is all."
    )
    chunks = split_text(text)
    assert [c.text for c in chunks] == [
        "Do this:",
        "1. Trim the wick",
        "2) Wind the clock. Then rest",
        "- climb the stairs",
        "* check the flame",
        "• log the time",
        "That is all.",
    ]
    assert [c.paragraph_start for c in chunks] == [False] + [True] * 6
    assert sentences(text)[2:4] == ["2) Wind the clock.", "Then rest"]


def test_indented_continuation_stays_in_its_list_item() -> None:
    text = "- a long item that wraps\n  onto a second line\n- next item"
    assert sentences(text) == ["- a long item that wraps\n  onto a second line", "- next item"]


def test_headings() -> None:
    text = (
        "Keepers of the Light\n\nThe first paragraph.\n## Part Two\nMore text here.\n"
        "Done with that.\nA Mid Heading\nText after it."
    )
    chunks = split_text(text)
    assert [c.text for c in chunks] == [
        "Keepers of the Light",
        "The first paragraph.",
        "## Part Two",
        "More text here.\nDone with that.",
        "A Mid Heading",
        "Text after it.",
    ]
    assert [c.paragraph_start for c in chunks] == [False, True, True, True, True, True]


def test_heading_directly_followed_by_text() -> None:
    assert sentences("Introduction\nThe lighthouse stands on a rock.") == [
        "Introduction",
        "The lighthouse stands on a rock.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "We arrived at the island on a grey morning and\nFather said nothing.",
        "The lamp was lit every evening\nby the keeper.",
        "He said, as he always did,\nThat will do.",
    ],
)
def test_wrapped_prose_is_not_a_heading(text: str) -> None:
    assert len(sentences(text)) == 1


# --- packing and splitting -------------------------------------------------------------


def test_sentences_are_packed_greedily() -> None:
    text = "One two. Three four. Five six. Seven eight."
    packed = [c.text for c in split_text(text, max_chars=20)]
    assert packed == ["One two. Three four.", "Five six.", "Seven eight."]
    assert [c.text for c in split_text(text, max_chars=100)] == [text]


def test_long_sentence_prefers_semicolon_then_colon_then_dash_then_comma() -> None:
    base = "alpha beta, gamma delta: epsilon zeta — eta theta; iota kappa, lambda mu nu xi omicron"
    assert split_text(base, max_chars=60)[0].text == "alpha beta, gamma delta: epsilon zeta — eta theta;"
    no_semicolon = base.replace(";", "")
    assert split_text(no_semicolon, max_chars=60)[0].text == "alpha beta, gamma delta:"
    no_colon = no_semicolon.replace(":", "")
    assert split_text(no_colon, max_chars=60)[0].text == "alpha beta, gamma delta epsilon zeta —"
    no_dash = no_colon.replace(" —", "")
    first = split_text(no_dash, max_chars=60)[0].text
    assert first == "alpha beta, gamma delta epsilon zeta eta theta iota kappa,"


def test_clause_split_skips_a_tiny_first_fragment() -> None:
    text = "So; " + "word " * 30 + "end, and more words follow here to pass the limit."
    first = split_text(text, max_chars=100)[0].text
    assert first != "So;" and len(first) <= 100


def test_long_sentence_without_punctuation_splits_at_spaces() -> None:
    text = " ".join(f"word{i}" for i in range(100)) + "."
    chunks = split_text(text, max_chars=50)
    assert_valid_chunks(text, chunks, 50)
    assert [c.sentence_end for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(len(c.text) > 40 for c in chunks[:-1])


def test_giant_word_is_hard_cut_at_max_chars() -> None:
    text = "Before it. " + "X" * 250 + " after."
    chunks = split_text(text, max_chars=100)
    assert [c.text for c in chunks] == ["Before it.", "X" * 100, "X" * 100, "X" * 50 + " after."]
    assert [c.sentence_end for c in chunks] == [True, False, False, True]
    assert_valid_chunks(text, chunks, 100)


def test_first_chunk_chars_takes_the_first_sentence_when_it_fits() -> None:
    text = "Hello there. This is the second sentence. And a third one."
    chunks = split_text(text, max_chars=800, first_chunk_chars=20)
    assert [c.text for c in chunks] == ["Hello there.", "This is the second sentence. And a third one."]


def test_first_chunk_chars_takes_the_first_clause_of_a_long_sentence() -> None:
    text = (
        "When the first keepers arrived on the rock, they found nothing but gulls, wind and "
        "a half-built tower of granite blocks waiting for them. The second sentence follows."
    )
    chunks = split_text(text, max_chars=800, first_chunk_chars=60)
    assert chunks[0].text == "When the first keepers arrived on the rock,"
    assert chunks[0].sentence_end is False
    assert chunks[1].text.startswith("they found nothing") and chunks[1].text.endswith("follows.")
    assert_valid_chunks(text, chunks, 800)


def test_first_chunk_word_longer_than_first_limit_is_kept_whole() -> None:
    url = "https://example.org/" + "a" * 60
    chunks = split_text(f"{url} is the address. More.", first_chunk_chars=30)
    assert chunks[0].text == url


def test_first_chunk_chars_larger_than_max_chars_is_clamped() -> None:
    chunks = split_text("a " * 100, max_chars=50, first_chunk_chars=500)
    assert len(chunks[0].text) <= 50


def test_start_index_offsets_indexes() -> None:
    chunks = split_text("One. Two.\n\nThree.", start_index=7)
    assert [c.index for c in chunks] == [7, 8]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t ", NBSP + NNBSP])
def test_empty_input(text: str) -> None:
    assert split_text(text) == []
    assert sentence_spans(text) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"max_chars": 0}, {"first_chunk_chars": 0}],
)
def test_invalid_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        split_text("Some text.", **kwargs)


def test_one_million_characters_is_fast() -> None:
    text = (ARTICLE.read_text(encoding="utf-8") + "\n\n") * 200
    text = text[:1_000_000]
    started = time.perf_counter()
    chunks = split_text(text, first_chunk_chars=120)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert_valid_chunks(text, chunks, 800)


def test_one_million_character_worst_cases_are_linear() -> None:
    for text in ("x" * 1_000_000, "word " * 200_000, "." * 1_000_000, "Dr. Smith " * 100_000):
        started = time.perf_counter()
        chunks = split_text(text)
        assert time.perf_counter() - started < 2.0
        assert all(len(c.text) <= 800 for c in chunks)


# --- the sample article --------------------------------------------------------------

ARTICLE_ABBREVIATIONS = ("Dr.", "Mr.", "Mrs.", "St.", "e.g.", "i.e.", "U.S.", "etc.")


def test_article_shape() -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    assert 5500 <= len(text) <= 6500
    features = ("3.2 km", "$1,250", "...", '"', "(", "https://", "@", "\n1. ", "\n- ")
    for needle in (*ARTICLE_ABBREVIATIONS, *features):
        assert needle in text, needle


def test_article_chunks() -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    chunks = split_text(text)
    assert len(chunks) >= 7
    assert_valid_chunks(text, chunks, 800)
    assert chunks[0].text == "Keepers of the Light: A Short History of Lighthouses"
    assert chunks[1].paragraph_start


def test_article_has_no_boundary_after_an_abbreviation() -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    for start, end in sentence_spans(text):
        last_word = text[start:end].split()[-1]
        assert last_word not in ARTICLE_ABBREVIATIONS, text[start:end]
        assert not re.fullmatch(r"\(?(?:[A-Za-z]\.)+", last_word), text[start:end]


# --- properties ------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "the",
        "keeper",
        "lamp",
        "Tower",
        "light",
        "État",
        "Ça",
        "à",
        "über",
        "sea",
        "night",
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
        "–",
        '"Quoted."',
        "(aside)",
        "(see below.)",
        "«",
        "»",
        f"oui{NBSP}!",
        f"quoi{NNBSP}?",
        "Dr.",
        "Mr.",
        "Mrs.",
        "St.",
        "e.g.",
        "i.e.",
        "U.S.",
        "etc.",
        "No.",
        "M.",
        "Mme",
        "p.m.",
        "J.",
        "3.2",
        "$1,250.50",
        "1984.",
        "7",
        "v1.2.3",
        "1.5e3",
        "http://x.y/z.html",
        "www.example.com",
        "a.b@c.org",
        "1.",
        "2)",
        "•",
        "*",
        "#",
        "##",
        "x" * 45,
        "y" * 130,
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", " ", "\n", "\n\n", " \n \n", NBSP, NNBSP, "\t", "  "])


@st.composite
def documents(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORDS, max_size=120))
    parts = [draw(SEPARATORS)]
    for word in words:
        parts.append(word)
        parts.append(draw(SEPARATORS))
    return "".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(min_value=40, max_value=1000), st.integers(min_value=0, max_value=5))
def test_property_chunks_cover_the_text(text: str, max_chars: int, start_index: int) -> None:
    chunks = split_text(text, max_chars=max_chars, start_index=start_index)
    assert_valid_chunks(text, chunks, max_chars, start_index)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(min_value=40, max_value=1000), st.integers(min_value=10, max_value=200))
def test_property_first_chunk_is_short(text: str, max_chars: int, first_chunk_chars: int) -> None:
    chunks = split_text(text, max_chars=max_chars, first_chunk_chars=first_chunk_chars)
    assert_valid_chunks(text, chunks, max_chars)
    if chunks:
        first = chunks[0].text
        assert len(first) <= first_chunk_chars or not re.search(r"\s", first)


@settings(max_examples=150, deadline=None)
@given(documents())
def test_property_sentence_spans_are_ordered_and_trimmed(text: str) -> None:
    spans = sentence_spans(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end
        assert text[previous_end:start].strip() == ""
        assert not text[start].isspace() and not text[end - 1].isspace()
        previous_end = end
    assert text[previous_end:].strip() == ""


def test_chunks_shrink_toward_the_end_but_never_split_a_sentence() -> None:
    text = " ".join(f"Sentence number {i} is spoken here." for i in range(40))
    text += " This final sentence is much longer than what is left to share, and stays whole for sure."
    chunks = split_text(text, max_chars=800, workers=2)
    assert " ".join(c.text for c in chunks) == text  # every word once, in order
    assert all(c.sentence_end and c.text.endswith(".") for c in chunks)
    for c in chunks:  # each at most a quarter of what is left from its start, or one sentence
        assert len(c.text) <= -(-(len(text) - c.start) // MIN_SHARES) or c.text.count(".") == 1
    assert len(chunks[0].text) > 300 and len(chunks[-2].text) < 40  # long first, single sentences last
    assert chunks[-1].text.startswith("This final sentence")  # longer than its share: whole
    spans = [(c.start, c.end) for c in chunks]
    assert [(c.start, c.end) for c in split_text(text, max_chars=800, workers=1)] == spans  # the cache's chunks
    assert max(len(c.text) for c in split_text(text, max_chars=800, workers=8)) < len(chunks[0].text)
