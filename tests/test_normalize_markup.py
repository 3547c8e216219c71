"""The markup pass and the spans that map spoken text back to the original."""

from __future__ import annotations

import pytest

from swtts.pipeline.normalize import MarkupOptions, NormalizeOptions, Span, normalize, strip_markup
from swtts.pipeline.normalize.alignment import compose
from swtts.pipeline.sentences import sentence_spans

CASES = [
    ("**bold** and *em* and _em_ and __strong__", "bold and em and em and strong"),
    ("~~gone~~ here", "gone here"),
    ("# Title\nText.", "Title\n\nText."),
    ("## Results ##\n\nText.", "Results\n\nText."),
    ("Title\n=====\nText.", "Title\n\nText."),
    ("- one\n- two\n- three", "one\n\ntwo\n\nthree"),
    ("* one\n+ two", "one\n\ntwo"),
    ("• one\n• two", "one\n\ntwo"),
    ("1. Preheat the oven.\n2. Mix.", "1. Preheat the oven.\n\n2. Mix."),
    ("- item\n  continued", "item\n  continued"),
    ("- outer\n  - inner", "outer\n\ninner"),
    ("See [the docs](https://example.com/docs) now.", "See the docs now."),
    ("See [the docs][1].\n\n[1]: https://example.com", "See the docs.\n\n"),
    ("An ![old lighthouse](img/l.png) stands.", "An old lighthouse stands."),
    ("Go to <https://example.com>.", "Go to https://example.com."),
    ("Run `pip install swtts` first.", "Run pip install swtts first."),
    ("Text.\n\n```python\nprint(1)\n```\n\nMore.", "Text.\n\n\n\nMore."),
    ("Text.\n\n    x = compute(1);\n\nMore.", "Text.\n\n\n\nMore."),
    ("Text.\n\n    An indented paragraph of prose.\n\nMore.", "Text.\n\n    An indented paragraph of prose.\n\nMore."),
    ("> Quoted **words**\n> go on.", "Quoted words\ngo on."),
    ("| Name | Age |\n|---|---|\n| Ann | 30 |\n| Bob | 41 |", "Name, Age.\nAnn, 30.\nBob, 41."),
    ("| City | Note |\n|---|---|\n| Paris | Nice. |", "City, Note.\nParis, Nice."),
    ("Above.\n\n---\n\nBelow.", "Above.\n\n\n\nBelow."),
    ("Some <b>bold</b> text.", "Some bold text."),
    ("Line<br>break", "Line break"),
    ("<div>\nBlock\n</div>", " \nBlock\n "),
    ("Escaped \\*stars\\* and &amp; entity.", "Escaped stars and & entity."),
    ("2*3*4 and snake_case_name", "2*3*4 and snake_case_name"),
    ("Plain text stays.\nA second line.\n\nA paragraph.", "Plain text stays.\nA second line.\n\nA paragraph."),
    ("Windows\r\nline ends", "Windows\r\nline ends"),
]


@pytest.mark.parametrize(("text", "spoken"), CASES, ids=[c[0][:40] for c in CASES])
def test_markup(text: str, spoken: str) -> None:
    assert strip_markup(text).spoken == spoken


def test_code_can_be_read_or_skipped() -> None:
    text = "Run `make`.\n\n```\nmake test\n```\n\nDone."
    assert strip_markup(text).spoken == "Run make.\n\n\n\nDone."
    read = MarkupOptions(read_code_spans=False, read_code_blocks=True)
    assert strip_markup(text, read).spoken == "Run .\n\nmake test\n\nDone."


def test_markdown_answer_reads_through_both_passes() -> None:
    text = "## Prices\n\n- **Basic**: $9.99/month\n- **Pro**: $19.99\n\nSee [the page](https://x.com)."
    assert normalize(text, "en").spoken == (
        "Prices\n\nBasic: nine dollars and ninety-nine cents/month\n\nPro: nineteen dollars and ninety-nine cents"
        "\n\nSee the page."
    )


def test_markup_can_be_turned_off() -> None:
    assert normalize("**$5**", "en", NormalizeOptions(markup=False)).spoken == "**five dollars**"


def test_headings_and_items_become_sentences_of_their_own() -> None:
    spoken = strip_markup("# Results\nThe test ran.\n- first point\n- second point").spoken
    assert [spoken[a:b] for a, b in sentence_spans(spoken)] == [
        "Results",
        "The test ran.",
        "first point",
        "second point",
    ]


# --- spans -----------------------------------------------------------------------------


def test_money_is_one_original_word() -> None:
    result = normalize("It costs $49.95 today.", "en")
    assert result.spoken == "It costs forty-nine dollars and ninety-five cents today."
    start = result.spoken.index("ninety-five")
    assert result.to_original(start, start + len("ninety-five")) == (9, 15)
    words = [(result.original[a:b], result.spoken[c:d]) for a, b, c, d in result.words()]
    assert words == [
        ("It", "It"),
        ("costs", "costs"),
        ("$49.95", "forty-nine dollars and ninety-five cents"),
        ("today.", "today."),
    ]


def test_spans_cover_markup_and_tokens_together() -> None:
    result = normalize("**Dr. Smith** paid $5.", "en")
    assert result.spoken == "Doctor Smith paid five dollars."
    words = [(result.original[a:b], result.spoken[c:d]) for a, b, c, d in result.words()]
    assert words == [("**Dr.", "Doctor"), ("Smith", "Smith"), ("paid", "paid"), ("$5.", "five dollars.")]


def test_removed_text_maps_to_nothing_and_identity_elsewhere() -> None:
    result = normalize("See [docs](https://x.com) now.", "en")
    assert result.spoken == "See docs now."
    assert result.to_original(0, 3) == (0, 3)
    docs = result.spoken.index("docs")
    assert result.original[slice(*result.to_original(docs, docs + 4))] == "docs"
    now = result.spoken.index("now")
    assert result.original[slice(*result.to_original(now, now + 3))] == "now"


def test_to_original_rejects_ranges_outside_the_spoken_text() -> None:
    with pytest.raises(ValueError, match="outside"):
        normalize("Hi.", "en").to_original(0, 10)


def test_compose_merges_overlapping_rewrites() -> None:
    # A → B: "ab" at 0..2 becomes "x" ; B → C: "xc" at 0..2 becomes "yyy".
    first = [Span(0, 2, 0, 1)]
    second = [Span(0, 2, 0, 3)]
    assert compose(first, second) == [Span(0, 3, 0, 3)]
    # Separate rewrites stay separate and shift each other.
    assert compose([Span(0, 1, 0, 0)], [Span(3, 4, 3, 6)]) == [Span(0, 1, 0, 0), Span(4, 5, 3, 6)]
