"""The token-rule engine and the number words every language's rules are built from.

A language is a :class:`Lexicon` (its words and number format) and an ordered list of
:class:`Rule` s. The engine runs the rules in order; each claims the regions it rewrites and
later rules never touch a claimed region, so "2026-11-29" is a date before it can be a
range, and "$49.95" money before it can be a decimal. A rule's ``render`` returns None when
the match is not something it reads with confidence; the text then stays as written.

Numbers are spelled by ``num2words`` only; this module just chooses which reading
(cardinal, ordinal, year, digits) and joins the pieces.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from num2words import num2words

from swtts.pipeline.normalize.alignment import Rewriter, Span
from swtts.pipeline.sentences import scan_sentences

__all__ = ["Lexicon", "Rule", "RuleSet", "dot_ends_sentence", "next_word", "previous_word"]

_CLOSERS = "\"'”’»›)]}"
_WORD_BEFORE_RE = re.compile(r"([^\W_][\w'’-]*)[^\S\n]*\Z")
_WORD_AFTER_RE = re.compile(r"[^\S\n]*([^\W_][\w'’-]*)")


@dataclass(frozen=True)
class Lexicon:
    """A language's number format and the words its shared rules say.

    ``decimal`` is the decimal mark; ``groups`` the characters accepted between groups of
    three digits (thousands); ``words`` holds the fixed words ("point", "to", "minus",
    symbol names …); ``address`` the names of punctuation in URLs; ``units`` maps a unit
    symbol to its singular and plural name; ``currencies`` a symbol or code to (singular,
    plural, minor singular, minor plural); ``scales`` a written scale ("M", "million") to
    its word.
    """

    code: str
    decimal: str
    groups: str
    words: dict[str, str]
    address: dict[str, str]
    units: dict[str, tuple[str, str]]
    currencies: dict[str, tuple[str, str, str, str]]
    scales: dict[str, str]
    plural_from: float  # 1 in English ("1.5 kilograms"), 2 in French ("1,5 kilogramme")
    loose_groups: bool = False  # "1 250 000" with plain spaces, two groups at least
    number_pattern: str = field(init=False)

    def __post_init__(self) -> None:
        groups = re.escape(self.groups)
        decimal = re.escape(self.decimal)
        loose = r"|\d{1,3}(?: \d{3}){2,}" if self.loose_groups else ""
        # A number followed by a group of three digits is part of a larger one, or ambiguous
        # where a plain space is no group mark ("2 100"): then neither part matches.
        follow = re.escape(self.groups + ("" if " " in self.groups else " "))
        after_digit = r"(?!(?<=\d[ ])\d{3}(?!\d))" if " " not in self.groups else ""
        pattern = (
            rf"{after_digit}(?:\d{{1,3}}(?:[{groups}]\d{{3}})+{loose}|\d+)(?:{decimal}\d+)?"
            rf"(?!\d|[.,]\d|[{follow}]\d{{3}}(?!\d))"
        )
        object.__setattr__(self, "number_pattern", pattern)

    def cardinal(self, value: int) -> str:
        return str(num2words(value, lang=self.code)).replace(",", "")

    def ordinal(self, value: int) -> str:
        return str(num2words(value, lang=self.code, to="ordinal")).replace(",", "")

    def year(self, value: int) -> str:
        return str(num2words(value, lang=self.code, to="year")).replace(",", "")

    def digits(self, digits: str) -> str:
        """Digit by digit: "0612" → "zero six one two"."""
        return " ".join(self.cardinal(int(d)) for d in digits)

    def split(self, written: str) -> tuple[int, str]:
        """A written number as (integer part, fraction digits)."""
        whole, _, fraction = written.partition(self.decimal)
        return int(re.sub(r"\D", "", whole)), fraction

    def number(self, written: str) -> str:
        """A number as written in this language ("1,250.5", "3,5", "1 250 000") read aloud."""
        whole, fraction = self.split(written)
        spoken = self.cardinal(whole)
        if not fraction:
            return spoken
        if self.code == "fr" and len(fraction) <= 3:
            # French reads the decimals as a number: "3,25" → "trois virgule vingt-cinq".
            zeros = len(fraction) - len(fraction.lstrip("0"))
            rest = fraction[zeros:]
            tail = " ".join([self.cardinal(0)] * zeros + ([self.cardinal(int(rest))] if rest else []))
            return f"{spoken} {self.words['point']} {tail}"
        return f"{spoken} {self.words['point']} {self.digits(fraction)}"

    def is_plural(self, written: str) -> bool:
        whole, fraction = self.split(written)
        if self.plural_from == 1:
            return not (whole == 1 and not fraction)
        return whole >= self.plural_from

    def counted(self, written: str, names: tuple[str, str]) -> str:
        """A number and a noun that agrees with it: "5 kg" → "five kilograms"."""
        return f"{self.number(written)} {names[1] if self.is_plural(written) else names[0]}"


@dataclass(frozen=True)
class Rule:
    """A pattern and how to read what it matches (None: not with confidence, leave it)."""

    name: str
    pattern: re.Pattern[str]
    render: Callable[[re.Match[str]], str | None]


def previous_word(text: str, pos: int) -> str:
    """The word right before ``pos`` on the same line, punctuation excluded ('' if none)."""
    match = _WORD_BEFORE_RE.search(text, max(0, pos - 40), pos)
    return match.group(1) if match else ""


def next_word(text: str, pos: int) -> str:
    """The word right after ``pos`` on the same line ('' if none)."""
    match = _WORD_AFTER_RE.match(text, pos)
    return match.group(1) if match else ""


@lru_cache(maxsize=8)
def _sentences(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """Starts (inside a paragraph) and ends of the chunker's sentences in ``text``.

    The one judge of sentence boundaries: a rewrite keeps a dot where the chunker (and so the
    streaming segmenter) ends a sentence, and capitalizes where it starts one.
    """
    spans = scan_sentences(text).spans
    return frozenset(start for start, _, paragraph in spans if not paragraph), frozenset(end for _, end, _ in spans)


def dot_ends_sentence(text: str, dot: int) -> bool:
    """Whether the '.' at ``dot`` (closing quotes or brackets aside) ends a sentence of ``text``."""
    pos = dot + 1
    while pos < len(text) and text[pos] in _CLOSERS:
        pos += 1
    return pos in _sentences(text)[1] or not text[pos:].strip()


def _title_case(head: str) -> bool:
    """Whether a word starting with ``head`` is capitalized ("No", "E.g"), not an acronym ("USD")."""
    return head[:1].isupper() and not head[1:2].isupper()


def _match_case(text: str, start: int, spoken: str) -> str:
    """Give a rewrite the capital the chunker reads there.

    At a sentence start (not the text's) it gets one ("… $5. $6 is …" → "Six dollars"), and
    a capitalized word keeps it at the text start ("E.g." → "For example"). A token that
    began with a digit or symbol right after a dot gets none ("p.m. 2026-11-29" →
    "november …"), which would make the dot end a sentence.
    """
    head = spoken[:1]
    before = start
    while before > 0 and text[before - 1].isspace():
        before -= 1
    if before == 0 or text.count("\n", before, start) >= 2:  # text or paragraph start
        return head.upper() + spoken[1:] if _title_case(text[start : start + 2]) else spoken
    if start in _sentences(text)[0]:
        return head.upper() + spoken[1:]
    if head.isupper() and not text[start].isalpha() and text[before - 1] == ".":
        return head.lower() + spoken[1:]
    return spoken


class RuleSet:
    """A language's rules run in order over a text, each claiming what it rewrites."""

    def __init__(self, code: str, rules: Sequence[Rule]) -> None:
        self.code = code
        self.rules = tuple(rules)

    def rewrite(self, text: str) -> tuple[str, list[Span]]:
        """The spoken form of ``text`` and its spans (text → spoken)."""
        claims: list[tuple[int, int, str]] = []
        starts: list[int] = []
        for rule in self.rules:
            pos = 0
            while pos <= len(text):
                match = rule.pattern.search(text, pos)
                if match is None:
                    break
                start, end = match.span()
                i = bisect_left(starts, end)
                if end == start or (i > 0 and claims[i - 1][1] > start):
                    pos = start + 1
                    continue
                spoken = rule.render(match)
                if spoken is None:
                    pos = start + 1
                    continue
                spoken = _match_case(text, start, spoken)
                claims.insert(i, (start, end, spoken))
                starts.insert(i, start)
                pos = end
        _sentences.cache_clear()  # a memo for the rules of this one call, not a cache across calls
        rewriter = Rewriter(text)
        for start, end, spoken in claims:
            rewriter.replace(start, end, spoken)
        return rewriter.finish()
