"""Abbreviations of every supported language: how each is read and whether its dot ends a sentence.

This is the one list the sentence scanner (:mod:`swtts.pipeline.sentences`) and the token
normalizers share, so a chunk cut and a rewritten token always agree on where a sentence
ends: "Dr. Smith" is one sentence for both, and "Doctor" loses the dot; "etc. The" is two
for both, and "et cetera." keeps it.

Three kinds of abbreviation:

* PREFIX stands before what it qualifies (a title, a Latin shorthand, a month): its dot
  never ends a sentence;
* TRAILING stands after it ("etc.", "Inc.", "Jr."): its dot ends a sentence only before a
  capital letter or at the end of the text;
* PLACE ("St.", "Dr.") is a title before a name ("St. James", "Dr. Smith"), never final,
  and a street after one ("James St.", "Mulholland Dr."), then read like TRAILING.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "ABBREVIATIONS",
    "Abbreviation",
    "Kind",
    "Needs",
    "after_a_name",
    "can_start_sentence",
    "period_ends_sentence",
]

_OPENERS = "\"'“‘„‚«»‹›([{¿¡"
_CLOSERS = "\"'”’»›)]}"
_TERMINALS = ".!?…‽"
# Characters that may begin a sentence besides capitals and digits.
_SENTENCE_START_SYMBOLS = _OPENERS + "$€£¥"
_MAX_TOKEN_CHARS = 32
_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_ORDINAL_RE = re.compile(r"\d+(?:st|nd|rd|th|e|er)?")
# Capitalized words that are not names: the scales the normalizer itself writes after a number
# ("21°C" -> "degrees Celsius"), so "21°C Dr. Smith" reads the same before and after it.
_NOT_NAMES = frozenset({"celsius", "fahrenheit", "kelvin"})


class Kind(enum.Enum):
    """Where an abbreviation stands relative to what it qualifies (see the module docstring)."""

    PREFIX = "prefix"
    TRAILING = "trailing"
    PLACE = "place"


class Needs(enum.Enum):
    """What must follow an abbreviation before the normalizer dares to expand it."""

    NOTHING = "nothing"
    NAME = "name"  # a capitalized word: "M. Dupont", not "la lettre M."
    NUMBER = "number"  # a digit: "No. 5", "p. 12", not "I said no."


@dataclass(frozen=True)
class Abbreviation:
    """One written abbreviation (without its final dot) and how it is read.

    ``expansion`` is None for abbreviations that only matter to sentence boundaries;
    ``street`` is a PLACE's reading after a name; ``dotless`` ones are also written without a
    dot (French "Mme", "Dr") and are expanded then too.
    """

    written: str
    expansion: str | None
    kind: Kind = Kind.PREFIX
    needs: Needs = Needs.NOTHING
    street: str | None = None
    dotless: bool = False


def _prefixes(pairs: dict[str, str | None], needs: Needs = Needs.NOTHING, dotless: bool = False) -> list[Abbreviation]:
    return [Abbreviation(w, e, Kind.PREFIX, needs, dotless=dotless) for w, e in pairs.items()]


def _trailing(pairs: dict[str, str | None], needs: Needs = Needs.NOTHING) -> list[Abbreviation]:
    return [Abbreviation(w, e, Kind.TRAILING, needs) for w, e in pairs.items()]


_EN_MONTHS = dict(
    Jan="January", Feb="February", Mar="March", Apr="April", Jun="June", Jul="July", Aug="August",
    Sep="September", Oct="October", Nov="November", Dec="December",
)  # fmt: skip

ABBREVIATIONS: dict[str, tuple[Abbreviation, ...]] = {
    "en": (
        # British style writes titles without a dot: "Mr Smith", "Dr Watson", "St Ives".
        Abbreviation("St", "Saint", Kind.PLACE, street="Street", dotless=True),
        Abbreviation("Dr", "Doctor", Kind.PLACE, street="Drive", dotless=True),
        *_prefixes(dict(Mr="Mister", Mrs="Missus", Ms="Miz"), Needs.NAME, dotless=True),
        *_prefixes(dict(Prof="Professor", Mt="Mount", Rev="Reverend",
                        Gen="General", Col="Colonel", Capt="Captain", Lt="Lieutenant", Sgt="Sergeant",
                        Gov="Governor", Sen="Senator", Pres="President", Hon="Honorable", Messrs="Messieurs")),
        *_prefixes({"e.g": "for example", "i.e": "that is", "vs": "versus", "cf": "compare", "viz": "namely",
                    "approx": "approximately", "Dept": "Department", "Univ": "University", **_EN_MONTHS}),
        *_prefixes({"Mx": None, "Maj": None, "Adm": None, "Fr": None, "ca": None, "Ste": None}),
        *_trailing({"etc": "et cetera", "Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation",
                    "Jr": "Junior", "Sr": "Senior", "Bros": "Brothers", "Ave": "Avenue", "Rd": "Road",
                    "Blvd": "Boulevard", "Co": None, "al": None, "Esq": None, "ft": None, "sec": None,
                    "art": None, "ed": None, "eds": None, "ref": None, "tel": None, "Ph.D": None,
                    "a.m": None, "p.m": None, "Sept": "September"}),
        *_trailing({"No": "number", "Nos": "numbers", "Fig": "figure", "Figs": "figures", "Vol": "volume",
                    "Vols": "volumes", "pp": "pages", "Ch": "chapter", "Chap": "chapter", "Eq": "equation",
                    "Eqs": "equations", "Op": "opus", "Ext": "extension"}, Needs.NUMBER),
    ),
    "fr": (
        *_prefixes(dict(M="Monsieur"), Needs.NAME),
        *_prefixes(dict(Mme="Madame", Mmes="Mesdames", Mlle="Mademoiselle", Mlles="Mesdemoiselles",
                        Mgr="Monseigneur", Dr="Docteur", Pr="Professeur", Ste="Sainte"), Needs.NAME, dotless=True),
        *_prefixes({"p. ex": "par exemple", "ex": "exemple", "c.-à-d": "c'est-à-dire", "env": "environ",
                    "janv": "janvier", "févr": "février", "avr": "avril", "juil": "juillet",
                    "oct": "octobre", "nov": "novembre", "déc": "décembre", "cf": "voir", "vs": "contre"}),
        *_trailing({"etc": "et cetera", "av. J.-C": "avant Jésus-Christ", "apr. J.-C": "après Jésus-Christ", "J.-C": "Jésus-Christ", "Cie": "Compagnie", "éd": None, "sept": "septembre"}),
        *_prefixes({"n°": "numéro", "N°": "numéro"}, Needs.NUMBER, dotless=True),
        *_trailing({"p": "page", "vol": "volume", "chap": "chapitre", "fig": "figure", "tél": "téléphone"},
                   Needs.NUMBER),
    ),
}  # fmt: skip

_BY_KIND: dict[Kind, frozenset[str]] = {
    kind: frozenset(a.written.lower() for table in ABBREVIATIONS.values() for a in table if a.kind is kind)
    for kind in Kind
}
# A word that is PREFIX in one language and TRAILING in another counts as TRAILING: its dot
# may end a sentence before a capital, the safer reading when the language is unknown.
_PREFIX = _BY_KIND[Kind.PREFIX] - _BY_KIND[Kind.TRAILING]


def can_start_sentence(char: str) -> bool:
    """Whether ``char`` can open a sentence, so a preceding '.' may end one."""
    return char.isupper() or char.isdigit() or char in _SENTENCE_START_SYMBOLS


def _word_before(text: str, end: int, floor: int) -> tuple[int, str]:
    """The whitespace-delimited word ending before ``end`` (after spaces): (start, word)."""
    while end > floor and text[end - 1].isspace():
        end -= 1
    start = end
    while start > max(floor, end - _MAX_TOKEN_CHARS) and not text[start - 1].isspace():
        start -= 1
    return start, text[start:end]


def after_a_name(text: str, start: int, floor: int = 0) -> bool:
    """Whether the word at ``start`` follows a name inside its sentence ("James St.", "5th St.").

    The previous word must be capitalized, not an acronym ("PM St."), or be a number such as
    "5th", and must not itself
    open the sentence, which a capital there proves nothing about. Only the same line is
    looked at, so a line read alone (a heading, a streamed sentence) reads the same.
    """
    floor = max(floor, text.rfind("\n", max(floor, start - 4 * _MAX_TOKEN_CHARS), start) + 1)
    word_start, word = _word_before(text, start, floor)
    bare = word.rstrip(_CLOSERS)
    if (
        bare
        and bare[-1] in _TERMINALS
        and (bare[-1] != "." or period_ends_sentence(text, word_start + len(bare) - 1, floor, text[start]))
    ):
        return False  # "in LA. Dr. Who": the previous word ends the previous sentence ("the Nov. St." does not)
    word = word.strip(_OPENERS + _CLOSERS + ",")
    if not word or not ((word[0].isupper() and not word[1:2].isupper()) or _ORDINAL_RE.fullmatch(word)):
        return False
    if word.lower() in _NOT_NAMES:
        return False
    _, before = _word_before(text, word_start, floor)
    if not before:
        return False
    if before[-1] not in _TERMINALS:
        return True
    token = before.rstrip(".").lstrip(_OPENERS).lower()
    return before.endswith(".") and (token in _PREFIX or token in _BY_KIND[Kind.PLACE])


def period_ends_sentence(text: str, dot: int, floor: int, next_char: str) -> bool:
    """Whether the single '.' at ``dot`` ends a sentence, judged by the word it closes.

    ``floor`` is where the word search stops (a block start); ``next_char`` is the first
    character of the following text ('' at the end of the text).
    """
    start = dot
    lowest = max(floor, dot - _MAX_TOKEN_CHARS)
    while start > lowest and not text[start - 1].isspace():
        start -= 1
    stripped = text[start:dot].lstrip(_OPENERS)
    start += len(text[start:dot]) - len(stripped)
    token = stripped.rstrip(_CLOSERS).lower()
    if not token:
        return True
    if len(token) == 1:
        # An initial ("J. R. R. Tolkien", "M. Dupont", "p. 12"), never a sentence end.
        return not token.isalpha()
    if token in _BY_KIND[Kind.PLACE]:
        if not after_a_name(text, start, floor):
            return False
        return not next_char or next_char.isupper()
    if token in _BY_KIND[Kind.TRAILING]:
        return not next_char or next_char.isupper()
    return not (token in _PREFIX or _ACRONYM_RE.fullmatch(token))
