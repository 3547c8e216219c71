"""Rules every language shares, built from its :class:`~.rules.Lexicon`.

Each factory returns a :class:`~.rules.Rule` whose words come from the lexicon, so a
language module lists its rules in order and adds the few that are its own (dates, times,
ordinals, phone numbers).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from swtts.pipeline.normalize.abbreviations import ABBREVIATIONS, Abbreviation, Kind, Needs, after_a_name
from swtts.pipeline.normalize.rules import Lexicon, Rule, dot_ends_sentence, next_word, previous_word

__all__ = [
    "abbreviations",
    "currency",
    "email",
    "numbers",
    "quantity",
    "roman_numerals",
    "roman_value",
    "symbols",
    "url",
]

_TLDS = (
    "com|org|net|edu|gov|io|ai|dev|app|info|biz|fr|de|uk|eu|ca|be|ch|es|it|nl|us|co|me|tv|ly|gg|xyz|"
    "ru|jp|cn|in|br|au|se|no|dk|fi|pl|pt|at|ie|nz|sh|so|to"
)
_URL_RE = re.compile(
    rf"(?<![\w@/.-])(?:https?://[^\s<>\"'`]+|www\.[^\s<>\"'`]+|(?:[a-z0-9-]+\.)+(?:{_TLDS})(?:/[^\s<>\"'`]*)?)(?<![.,;:!?)\]}}'\"])(?![\w@])",
    re.I,
)
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w@])", re.I)
_URL_PART_RE = re.compile(r"[^\W\d_]+|\d+|.", re.S)
_ROMAN_RE = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_SIGN = r"(?P<sign>(?<![\w.,])[-−+](?=\d))?"


def _read_address(lexicon: Lexicon, address: str) -> str:
    """A URL or e-mail address as people say it: "example dot com slash docs"."""
    address = re.sub(r"^https?://", "", address, flags=re.I).rstrip("/")
    spoken = []
    for part in _URL_PART_RE.findall(address):
        if part.isdigit():
            spoken.append(lexicon.cardinal(int(part)) if len(part) <= 4 else lexicon.digits(part))
        elif part.isalpha():
            spoken.append(part)
        elif part in lexicon.address:
            spoken.append(lexicon.address[part])
        else:
            return ""  # a character we cannot name: leave the address as written
    return " ".join(spoken)


def url(lexicon: Lexicon) -> Rule:
    return Rule("url", _URL_RE, lambda m: _read_address(lexicon, m.group()) or None)


def email(lexicon: Lexicon) -> Rule:
    return Rule("email", _EMAIL_RE, lambda m: _read_address(lexicon, m.group()) or None)


def _alternation(keys: list[str]) -> str:
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


def currency(lexicon: Lexicon) -> Rule:
    """Money with a symbol or code before or after: "$49.95", "49,95 €", "EUR 10", "$5M"."""
    number = lexicon.number_pattern
    symbols = _alternation(list(lexicon.currencies))
    scales = _alternation(list(lexicon.scales))
    scale = rf"(?:[^\S\n]?(?P<scale>{scales})(?![\w]))?"
    pattern = re.compile(
        rf"(?<![\w$€£¥])(?P<sign>(?<![\w.,])[-−](?=[$€£\d]))?"
        rf"(?:(?P<before>{symbols})[^\S\n]?(?P<num>{number})(?:[-–](?:{symbols})?(?P<to>{number}))?{scale}"
        rf"|(?P<num2>{number}){scale.replace('scale', 'scale2')}[^\S\n]?(?P<after>{symbols}))(?![\w$€£])"
    )

    def render(match: re.Match[str]) -> str | None:
        names = lexicon.currencies[match.group("before") or match.group("after")]
        written = match.group("num") or match.group("num2")
        scale = match.group("scale") or match.group("scale2")
        sign = lexicon.words["-"] + " " if match.group("sign") else ""
        if match.group("to"):
            to = _amount(lexicon, match.group("to"), scale, names)
            return f"{sign}{lexicon.number(written)} {lexicon.words['to']} {to}"
        return sign + _amount(lexicon, written, scale, names)

    return Rule("currency", pattern, render)


def _amount(lexicon: Lexicon, written: str, scale: str | None, names: tuple[str, str, str, str]) -> str:
    whole, fraction = lexicon.split(written)
    if scale:
        scale_word = lexicon.scales[scale]
        if lexicon.code == "fr":
            plural = scale_word + ("s" if lexicon.is_plural(written) and not scale_word.endswith("e") else "")
            link = "d'" if names[1][0] in "aeioué" else "de "
            return f"{lexicon.number(written)} {plural} {link}{names[1]}"
        return f"{lexicon.number(written)} {scale_word} {names[1]}"
    if len(fraction) != 2:
        return lexicon.counted(written, names[:2])
    cents = int(fraction)
    major = lexicon.counted(str(whole), names[:2])
    minor = lexicon.counted(str(cents), names[2:])
    if cents == 0:
        return major
    if whole == 0:
        return minor
    if lexicon.code == "fr":
        return f"{major} {lexicon.cardinal(cents)}"  # "quarante-neuf euros quatre-vingt-quinze"
    return f"{major} {lexicon.words['and']} {minor}"


def quantity(lexicon: Lexicon) -> Rule:
    """A number or a range with a unit or percent sign: "5 kg", "21°C", "10–20 %", "-5 °C"."""
    number = lexicon.number_pattern
    units = _alternation(list(lexicon.units))
    pattern = re.compile(
        rf"(?<![\w.,]){_SIGN}(?P<num>{number})(?:(?:[^\S\n]?[–—][^\S\n]?|-)(?P<to>{number}))?"
        rf"[^\S\n]?(?P<unit>{units})(?![\w/²³])"
    )

    def render(match: re.Match[str]) -> str | None:
        names = lexicon.units[match.group("unit")]
        sign = lexicon.words[match.group("sign")] + " " if match.group("sign") else ""
        if match.group("to"):
            return f"{sign}{lexicon.number(match.group('num'))} {lexicon.words['to']} {lexicon.counted(match.group('to'), names)}"
        return sign + lexicon.counted(match.group("num"), names)

    return Rule("quantity", pattern, render)


def numbers(lexicon: Lexicon, integer: Callable[[str, re.Match[str]], str | None] | None = None) -> Rule:
    """Any other number or range of numbers: "1,250,000", "3,5", "-4", "10-20".

    ``integer`` (optional) reads a plain integer differently given the match (a year).
    """
    number = lexicon.number_pattern
    pattern = re.compile(
        rf"(?<![\w.,/:-]){_SIGN}(?P<num>{number})(?:(?:[^\S\n]?[–—][^\S\n]?|-)(?P<to>{number}))?(?![\w]|[-–/:]\d)"
    )

    def read(written: str, match: re.Match[str]) -> str:
        if integer is not None and written.isdigit():
            spoken = integer(written, match)
            if spoken:
                return spoken
        return lexicon.number(written)

    def render(match: re.Match[str]) -> str:
        sign = lexicon.words[match.group("sign")] + " " if match.group("sign") else ""
        spoken = sign + read(match.group("num"), match)
        if match.group("to"):
            spoken += f" {lexicon.words['to']} {read(match.group('to'), match)}"
        return spoken

    return Rule("number", pattern, render)


def symbols(lexicon: Lexicon) -> Rule:
    """ "&", "+", "=", "@" between spaces; "#" before a number or a word."""
    pattern = re.compile(
        r"(?:(?<=\s)|^)[&+=@](?=\s|\Z)|(?<![\w#])#(?:(?P<number>\d+)(?![\w.,]\d)|(?=[^\W\d_]))|(?<![\w@])@(?=[^\W\d_])"
    )

    def render(match: re.Match[str]) -> str:
        symbol = match.group()
        if match.group("number"):
            return f"{lexicon.words['#number']} {lexicon.cardinal(int(match.group('number')))}"
        if symbol == "#":
            return lexicon.words["#tag"] + " "
        if symbol == "@" and not match.string[match.end()].isspace():
            return lexicon.words["@"] + " "
        return lexicon.words[symbol]

    return Rule("symbol", pattern, render)


def abbreviations(lexicon: Lexicon) -> Rule:
    """Titles, shorthands and other abbreviations of the language, read in full.

    The dot stays only where it ends the sentence (as the chunker judges it): "etc. The"
    → "et cetera. The", "Dr. Smith" → "Doctor Smith".
    """
    table: dict[str, Abbreviation] = {}
    for entry in ABBREVIATIONS[lexicon.code]:
        if entry.expansion is None:
            continue
        table[entry.written] = entry
        table.setdefault(entry.written[0].upper() + entry.written[1:], entry)
    dotted = _alternation(list(table))
    dotless = _alternation([w for w, a in table.items() if a.dotless]) or "(?!)"
    pattern = re.compile(rf"(?<![\w.-])(?:(?P<word>{dotted})(?P<dot>\.)|(?P<bare>{dotless}))(?=[\s,;:)\]»\"”]|\Z)")

    def render(match: re.Match[str]) -> str | None:
        written = match.group("word") or match.group("bare")
        entry = table[written]
        text, end = match.string, match.end()
        following = next_word(text, end)
        if entry.needs is Needs.NUMBER and not following[:1].isdigit():
            return None
        if entry.needs is Needs.NAME and not following[:1].isupper():
            return None
        spoken = entry.expansion
        if entry.kind is Kind.PLACE:
            if after_a_name(text, match.start()):
                spoken = entry.street
            elif not following[:1].isupper():
                return None
        if spoken is None:
            return None
        return spoken + "." if match.group("dot") and dot_ends_sentence(text, match.start("dot")) else spoken

    return Rule("abbreviation", pattern, render)


def roman_value(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral ("XIV" → 14), None otherwise."""
    if not numeral or not _ROMAN_RE.fullmatch(numeral):
        return None
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def roman_numerals(
    lexicon: Lexicon, regnal: frozenset[str], counted: frozenset[str], read_regnal: Callable[[int], str]
) -> Rule:
    """Roman numerals where the word before makes them unambiguous.

    After a sovereign's name ("Louis XIV", "Henri IV") ``read_regnal(value)`` reads them;
    after a word that counts ("chapter IV", "tome III") they are cardinals. A lone "I"
    (the pronoun) is read only after such words.
    """
    pattern = re.compile(r"(?<![\w.-])[IVXLCDM]+(?![\w'’-])")

    def render(match: re.Match[str]) -> str | None:
        value = roman_value(match.group())
        before = previous_word(match.string, match.start())
        if value is None or not before:
            return None
        if before in regnal:
            return read_regnal(value)
        if before.lower() in counted:
            return lexicon.cardinal(value)
        return None

    return Rule("roman", pattern, render)
