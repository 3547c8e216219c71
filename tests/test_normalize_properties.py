"""Properties of normalization over generated texts: nothing lost, stable, structure kept,
spans sound, and streaming reads the same as the whole text."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swtts.pipeline.normalize import NormalizedText, NormalizeOptions, normalize, strip_markup
from swtts.pipeline.segmenter import PARAGRAPH_MARKER, SentenceSegmenter
from swtts.pipeline.sentences import sentence_spans

PLAIN = NormalizeOptions(markup=False)
NBSP = "\u00a0"

ENGLISH = [
    "the", "keeper", "Tower", "light", "It", "The", "Smith", "James", "in", "on", "and", "at", "of",
    "end.", "stop!", "why?", "so,", "this;", "Dr.", "Mr.", "Mrs.", "St.", "e.g.", "i.e.", "etc.", "No.",
    "vs.", "Inc.", "$49.95", "$4", "9.95", "$1,250", "€10", "£5.50", "3.5", "1,250,000", "1984", "1984.",
    "5", "kg", "5 kg", "21°C", "-5", "50%", "8:00", "10:30pm", "p.m.", "2026-11-29", "11/29/2026", "Nov.",
    "29,", "3rd", "21st", "1980s", "10-20", "(555) 123-4567", "Louis", "XIV", "chapter", "IV", "I",
    "example.com", "https://x.io/a-b", "a.b@c.org", "&", "+", "=", "#1", "@john", "U.S.", "J.",
]  # fmt: skip
FRENCH = [
    "le", "la", "phare", "Tour", "Il", "Le", "Dupont", "Paris", "en", "à", "et", "de",
    "fin.", "stop\u00a0!", "quoi\u00a0?", "donc,", "M.", "Mme", "Mlle", "Dr", "n°", "etc.", "p.", "ex.",
    "49,95 €", "49,95", "€", "1 250 000", f"1{NBSP}250", "3,5", "1984", "5", "kg", "21 °C", "12,5 %",
    "14h30", "14:30", "29", "novembre", "2026", "1er", "2e", "XIXe", "siècle", "Louis", "XIV", "Henri",
    "IV", "10-20", "01 23 45 67 89", "exemple.fr", "a.b@c.fr", "&", "=", "#1",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", " ", "\n", "\n\n"]


@st.composite
def texts(draw: st.DrawFn, words: list[str]) -> str:
    parts = [draw(st.sampled_from(["", "", "\n"]))]
    for word in draw(st.lists(st.sampled_from(words), max_size=40)):
        parts += [word, draw(st.sampled_from(SEPARATORS))]
    return "".join(parts)


LANGUAGE_TEXTS = st.one_of(
    st.tuples(st.just("en"), texts(ENGLISH)),
    st.tuples(st.just("fr"), texts(FRENCH)),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n[^\S\n]*\n\s*", text) if p.strip()]


def assert_spans_sound(result: NormalizedText) -> None:
    """Spans ordered and inside both texts; outside them the texts are equal."""
    o_pos = s_pos = 0
    for span in result.spans:
        assert o_pos <= span.original_start <= span.original_end <= len(result.original)
        assert s_pos <= span.spoken_start <= span.spoken_end <= len(result.spoken)
        assert result.original[o_pos : span.original_start] == result.spoken[s_pos : span.spoken_start]
        o_pos, s_pos = span.original_end, span.spoken_end
    assert result.original[o_pos:] == result.spoken[s_pos:]


@PROPERTY
@given(LANGUAGE_TEXTS)
def test_property_no_word_is_dropped_unless_rewritten(case: tuple[str, str]) -> None:
    language, text = case
    result = normalize(text, language, PLAIN)
    assert_spans_sound(result)
    for span in result.spans:
        assert result.original[span.original_start : span.original_end].strip(), "only words are rewritten"
        assert result.spoken[span.spoken_start : span.spoken_end].strip(), "a rewritten word is never dropped"
    covered = {i for a, b, _, _ in result.words() for i in range(a, b)}
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


@PROPERTY
@given(LANGUAGE_TEXTS, st.booleans())
def test_property_idempotent(case: tuple[str, str], markup: bool) -> None:
    language, text = case
    options = NormalizeOptions(markup=markup)
    spoken = normalize(text, language, options).spoken
    assert normalize(spoken, language, options).spoken == spoken


@PROPERTY
@given(LANGUAGE_TEXTS)
def test_property_paragraphs_are_kept_and_read_alone_alike(case: tuple[str, str]) -> None:
    language, text = case
    spoken = normalize(text, language, PLAIN).spoken
    assert len(paragraphs(spoken)) == len(paragraphs(text))
    for original, normalized in zip(paragraphs(text), paragraphs(spoken), strict=True):
        assert normalize(original, language, PLAIN).spoken.strip() == normalized.strip()


@PROPERTY
@given(LANGUAGE_TEXTS)
def test_property_sentence_ends_are_kept(case: tuple[str, str]) -> None:
    """The chunker finds as many sentences in the spoken text as in the original.

    Lines are joined first: the chunker's heading guess for a short line looks at the first
    character of the next line, which it judges on the original text before normalization.
    """
    language, text = case
    text = re.sub(r"(?<!\n)\n(?!\n)", " ", text)
    spoken = normalize(text, language, PLAIN).spoken
    assert len(sentence_spans(spoken)) == len(sentence_spans(text))


@PROPERTY
@given(LANGUAGE_TEXTS, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=5))
def test_property_any_spoken_range_maps_inside_the_original(
    case: tuple[str, str], ranges: list[tuple[int, int]]
) -> None:
    language, text = case
    result = normalize(text, language)
    assert_spans_sound(result)
    size = len(result.spoken)
    previous = (0, 0)
    for a, b in sorted(tuple(sorted((a % (size + 1), b % (size + 1)))) for a, b in ranges):
        start, end = result.to_original(a, b)
        assert 0 <= start <= end <= len(text)
        assert start >= previous[0], "mapping is monotonic"
        previous = (start, end)


MARKDOWN = [
    "**bold**", "*em*", "_em_", "`code`", "[link](https://x.io/a)", "![alt](i.png)", "<b>tag</b>",
    "# ", "## ", "- ", "* ", "1. ", "> ", "| a | b |\n|---|---|\n| c | d |", "```\nx = 1\n```", "---",
    "~~gone~~", "&amp;", "word", "Title", "$5", "8:00", "Dr.", "end.",
]  # fmt: skip


@PROPERTY
@given(texts(MARKDOWN))
def test_property_markup_pass_is_idempotent_and_its_spans_sound(text: str) -> None:
    """On markdown, the markup pass is idempotent (the token pass may still turn a kept list
    number into a word that a second markup pass reads differently: "1." → "one.")."""
    stripped = strip_markup(text)
    assert_spans_sound(stripped)
    assert strip_markup(stripped.spoken).spoken == stripped.spoken
    assert_spans_sound(normalize(text, "en"))


@st.composite
def split_texts(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    language, text = draw(LANGUAGE_TEXTS)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=40)))
    bounds = [0, *cuts, len(text)]
    return language, text, [text[a:b] for a, b in pairwise(bounds)]


@PROPERTY
@given(split_texts())
def test_property_streaming_reads_like_the_whole_text(case: tuple[str, str, list[str]]) -> None:
    """LLM tokens → segmenter → normalize each sentence == normalize the whole text.

    Compared word by word, ignoring case: a sentence normalized alone may capitalize its
    first word ("$6 is" → "six dollars" vs "Six dollars" after "… $5.").
    """
    language, text, pieces = case
    segmenter = SentenceSegmenter(flush_chars=10**9)
    sentences: list[str] = []
    for piece in pieces:
        sentences += segmenter.feed(piece)
    sentences += segmenter.finish()
    streamed = " ".join(normalize(s.removeprefix(PARAGRAPH_MARKER), language, PLAIN).spoken for s in sentences)
    whole = normalize(text, language, PLAIN).spoken
    assert streamed.lower().split() == whole.lower().split()
