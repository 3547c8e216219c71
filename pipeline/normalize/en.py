"""English: US conventions (month/day/year, decimal point, comma thousands, 12-hour clock)."""

from __future__ import annotations

import re
from collections.abc import Callable

from swtts.pipeline.normalize import common
from swtts.pipeline.normalize.rules import Lexicon, Rule, RuleSet, dot_ends_sentence, previous_word

__all__ = ["LEXICON", "NORMALIZER"]

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MONTH_ABBREVIATIONS = {m[:3]: i for i, m in enumerate(MONTHS)} | {"Sept": 8}

LEXICON = Lexicon(
    code="en",
    decimal=".",
    groups=",\u00a0\u202f\u2009",
    words={
        "point": "point", "to": "to", "and": "and", "-": "minus", "−": "minus", "+": "plus",
        "&": "and", "=": "equals", "@": "at", "#number": "number", "#tag": "hashtag",
    },
    address={
        ".": "dot", "/": "slash", "-": "dash", "_": "underscore", ":": "colon", "?": "question mark",
        "=": "equals", "&": "and", "#": "hash", "~": "tilde", "@": "at", "+": "plus", "%": "percent",
    },
    units={
        "%": ("percent", "percent"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
        "mg": ("milligram", "milligrams"), "km": ("kilometer", "kilometers"), "m": ("meter", "meters"),
        "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
        "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
        "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
        "°": ("degree", "degrees"), "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
        "cl": ("centiliter", "centiliters"), "l": ("liter", "liters"), "L": ("liter", "liters"),
        "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
        "TB": ("terabyte", "terabytes"), "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
        "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"),
        "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"), "V": ("volt", "volts"),
        "ms": ("millisecond", "milliseconds"), "min": ("minute", "minutes"), "h": ("hour", "hours"),
        "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
        "ft": ("foot", "feet"), "mi": ("mile", "miles"), "m²": ("square meter", "square meters"),
        "km²": ("square kilometer", "square kilometers"), "m³": ("cubic meter", "cubic meters"),
    },
    currencies={
        "$": ("dollar", "dollars", "cent", "cents"), "US$": ("dollar", "dollars", "cent", "cents"),
        "USD": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
        "EUR": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
        "GBP": ("pound", "pounds", "penny", "pence"),
    },
    scales={"thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
            "k": "thousand", "K": "thousand", "m": "million", "M": "million", "bn": "billion"},
    plural_from=1,
    loose_groups=True,
)  # fmt: skip

_MONTH = r"(?P<month>" + "|".join([*MONTHS, *(rf"{a}\.?" for a in _MONTH_ABBREVIATIONS)]) + ")"
_YEAR_WORDS = frozenset(
    {
        "in",
        "since",
        "until",
        "till",
        "by",
        "from",
        "of",
        "year",
        "circa",
        "before",
        "after",
        "during",
        "around",
        "early",
        "late",
        "mid",
        "the",
        "and",
        "or",
        "between",
        "spring",
        "summer",
        "autumn",
        "fall",
        "winter",
        "through",
        "to",
    }
)
# What may follow a year: an era, punctuation, or the end of its line ("Summer 1984").
_YEAR_AFTER_RE = re.compile(r"\s*(?:AD|BC|BCE|CE)\b|\s*[,.;:!?)\]]|[^\S\n]*(?:\n|\Z)")
_REGNAL = frozenset(
    {
        "Louis",
        "Henry",
        "Henri",
        "Charles",
        "Elizabeth",
        "George",
        "Edward",
        "William",
        "James",
        "Richard",
        "Philip",
        "Napoleon",
        "Francis",
        "John",
        "Peter",
        "Paul",
        "Benedict",
        "Pius",
        "Gregory",
        "Leo",
        "Innocent",
        "Alexander",
        "Frederick",
        "Catherine",
        "Mary",
        "Anne",
        "Nicholas",
        "Ivan",
        "Clement",
        "Urban",
        "Boniface",
        "Ferdinand",
        "Alfonso",
        "Ludwig",
        "Wilhelm",
        "Gustav",
        "Carlos",
        "Juan",
        "Pedro",
        "Victor",
        "Emmanuel",
        "Leopold",
        "Albert",
        "Ramesses",
        "Ptolemy",
        "Constantine",
        "Otto",
        "Rudolf",
        "Harald",
        "Olaf",
        "Christian",
        "Frederik",
        "Willem",
    }
)
_COUNTED = frozenset(
    {
        "chapter",
        "part",
        "volume",
        "book",
        "act",
        "scene",
        "section",
        "article",
        "title",
        "phase",
        "level",
        "class",
        "type",
        "grade",
        "stage",
        "season",
        "episode",
        "world",
        "war",
        "vol",
        "chap",
        "ch",
    }
)


def _month(name: str) -> str:
    name = name.rstrip(".")
    return name if name in MONTHS else MONTHS[_MONTH_ABBREVIATIONS[name]]


def _year(year: str | None) -> str:
    return LEXICON.year(int(year)) if year else ""


def _iso_date(match: re.Match[str]) -> str | None:
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{MONTHS[month - 1]} {LEXICON.ordinal(day)}, {LEXICON.year(year)}"


def _numeric_date(match: re.Match[str]) -> str | None:
    month, day, year = (int(g) for g in match.groups())
    if month > 12 and day <= 12:
        month, day = day, month  # 29/11/2026 can only be day first
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{MONTHS[month - 1]} {LEXICON.ordinal(day)}, {LEXICON.year(year)}"


def _month_day(match: re.Match[str]) -> str | None:
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        return None
    year = match.group("year")
    return f"{_month(match.group('month'))} {LEXICON.ordinal(day)}" + (f", {_year(year)}" if year else "")


def _day_month(match: re.Match[str]) -> str | None:
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        return None
    year = match.group("year")
    article = "" if previous_word(match.string, match.start()).lower() == "the" else "the "
    return f"{article}{LEXICON.ordinal(day)} of {_month(match.group('month'))}" + (f" {_year(year)}" if year else "")


def _time(match: re.Match[str]) -> str | None:
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    meridiem = match.group("ampm")
    spoken = LEXICON.cardinal(hour)
    if minute:
        spoken += (" oh " if minute < 10 else " ") + LEXICON.cardinal(minute)
    if meridiem:
        if hour > 12 or hour == 0:
            return None
        spoken += " AM" if meridiem[0] in "aA" else " PM"
        if meridiem.endswith(".") and dot_ends_sentence(match.string, match.end() - 1):
            spoken += "."
    elif not minute:
        spoken += " o'clock" if hour <= 12 else " hundred"
    return spoken


def _phone(match: re.Match[str]) -> str:
    groups = re.findall(r"\+?\d+", match.group())
    spoken = [("plus " + LEXICON.digits(g[1:])) if g.startswith("+") else LEXICON.digits(g) for g in groups]
    return ", ".join(spoken)


def _ordinal(match: re.Match[str]) -> str | None:
    value, suffix = int(match.group(1)), match.group(2).lower()
    expected = "th" if value % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")
    return LEXICON.ordinal(value) if suffix == expected else None


def _plural(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _decade(match: re.Match[str]) -> str:
    digits = match.group(1)
    value = int(digits)
    return _plural(LEXICON.year(value) if len(digits) == 4 else LEXICON.cardinal(value))


def _integer(written: str, match: re.Match[str]) -> str | None:
    """A four-digit number that reads as a year: "in 1984", "1984," → "nineteen eighty-four"."""
    value = int(written)
    if len(written) != 4 or not 1100 <= value <= 2099 or match.group("sign"):
        return None
    text = match.string
    before = previous_word(text, match.start())
    if before.lower() in _YEAR_WORDS or before.rstrip(".") in MONTHS or before.rstrip(".") in _MONTH_ABBREVIATIONS:
        return LEXICON.year(value)
    if _YEAR_AFTER_RE.match(text, match.end()):
        return LEXICON.year(value)
    return None


def _rule(name: str, pattern: str, render: Callable[[re.Match[str]], str | None]) -> Rule:
    return Rule(name, re.compile(pattern), render)


RULES = (
    common.url(LEXICON),
    common.email(LEXICON),
    common.symbols(LEXICON),
    _rule("phone", r"(?<![\w+])(?:\+1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-])", _phone),
    _rule("phone", r"(?<![\w+])\+\d{1,3}(?:[ .-]\d{1,4}){2,5}(?![\w-])", _phone),
    _rule("date", r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])", _iso_date),
    _rule("date", r"(?<![\w/.-])(\d{1,2})/(\d{1,2})/(\d{4})(?![\w/])", _numeric_date),
    _rule(
        "date",
        rf"(?<![\w.–-]){_MONTH}[^\S\n](?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:,?[^\S\n](?P<year>\d{{4}}))?(?![\w])",
        _month_day,
    ),
    _rule(
        "date",
        rf"(?<![\w.,/:–-])(?P<day>\d{{1,2}})(?:st|nd|rd|th)?[^\S\n](?:of[^\S\n])?{_MONTH}(?:,?[^\S\n](?P<year>\d{{4}}))?(?![\w])",
        _day_month,
    ),
    _rule(
        "time",
        r"(?<![\w:.,])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?:[^\S\n]?(?P<ampm>[AaPp]\.[Mm]\.|[AaPp][Mm]\b))?(?![\w:]|\.\d)",
        _time,
    ),
    _rule("time", r"(?<![\w:.,])(?P<h>1[0-2]|0?[1-9])(?P<m>)[^\S\n]?(?P<ampm>[AaPp]\.[Mm]\.|[AaPp][Mm]\b)", _time),
    common.currency(LEXICON),
    common.quantity(LEXICON),
    _rule("ordinal", r"(?<![\w.,])(\d+)(st|nd|rd|th|ST|ND|RD|TH)(?!\w)", _ordinal),
    _rule("decade", r"(?<![\w.,])['’]?(\d0|1\d\d0|20\d0)s(?!\w)", _decade),
    common.numbers(LEXICON, _integer),
    common.abbreviations(LEXICON),
    common.roman_numerals(LEXICON, _REGNAL, _COUNTED, lambda value: "the " + LEXICON.ordinal(value)),
)

NORMALIZER = RuleSet("en", RULES)
