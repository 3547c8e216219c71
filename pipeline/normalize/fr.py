"""French: day/month/year, decimal comma, space thousands, 24-hour clock ("14h30")."""

from __future__ import annotations

import re
from collections.abc import Callable

from swtts.pipeline.normalize import common
from swtts.pipeline.normalize.rules import Lexicon, Rule, RuleSet

__all__ = ["LEXICON", "NORMALIZER"]

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip

LEXICON = Lexicon(
    code="fr",
    decimal=",",
    groups=" \u00a0\u202f\u2009",
    words={
        "point": "virgule", "to": "à", "and": "et", "-": "moins", "−": "moins", "+": "plus",
        "&": "et", "=": "égale", "@": "arobase", "#number": "numéro", "#tag": "hashtag",
    },
    address={
        ".": "point", "/": "slash", "-": "tiret", "_": "tiret bas", ":": "deux-points",
        "?": "point d'interrogation", "=": "égal", "&": "et", "#": "dièse", "~": "tilde", "@": "arobase",
        "+": "plus", "%": "pour cent",
    },
    units={
        "%": ("pour cent", "pour cent"), "kg": ("kilogramme", "kilogrammes"), "g": ("gramme", "grammes"),
        "mg": ("milligramme", "milligrammes"), "km": ("kilomètre", "kilomètres"), "m": ("mètre", "mètres"),
        "cm": ("centimètre", "centimètres"), "mm": ("millimètre", "millimètres"),
        "km/h": ("kilomètre par heure", "kilomètres par heure"), "°C": ("degré Celsius", "degrés Celsius"),
        "°F": ("degré Fahrenheit", "degrés Fahrenheit"), "°": ("degré", "degrés"),
        "ml": ("millilitre", "millilitres"), "mL": ("millilitre", "millilitres"), "cl": ("centilitre", "centilitres"),
        "l": ("litre", "litres"), "L": ("litre", "litres"), "Ko": ("kilooctet", "kilooctets"),
        "Mo": ("mégaoctet", "mégaoctets"), "Go": ("gigaoctet", "gigaoctets"), "To": ("téraoctet", "téraoctets"),
        "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("mégahertz", "mégahertz"),
        "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"),
        "kWh": ("kilowattheure", "kilowattheures"), "V": ("volt", "volts"), "ms": ("milliseconde", "millisecondes"),
        "min": ("minute", "minutes"), "h": ("heure", "heures"), "m²": ("mètre carré", "mètres carrés"),
        "km²": ("kilomètre carré", "kilomètres carrés"), "m³": ("mètre cube", "mètres cubes"),
    },
    currencies={
        "€": ("euro", "euros", "centime", "centimes"), "EUR": ("euro", "euros", "centime", "centimes"),
        "$": ("dollar", "dollars", "cent", "cents"), "USD": ("dollar", "dollars", "cent", "cents"),
        "£": ("livre", "livres", "penny", "pence"), "GBP": ("livre", "livres", "penny", "pence"),
    },
    scales={"mille": "mille", "million": "million", "millions": "million", "milliard": "milliard",
            "milliards": "milliard", "k": "mille", "M": "million", "Md": "milliard", "Mds": "milliard"},
    plural_from=2,
)  # fmt: skip

_MONTH = r"(?P<month>" + "|".join(MONTHS) + ")"
_REGNAL = frozenset(
    {
        "Louis",
        "Henri",
        "Charles",
        "Philippe",
        "François",
        "Jean",
        "Napoléon",
        "Élisabeth",
        "Elisabeth",
        "Georges",
        "Édouard",
        "Guillaume",
        "Jacques",
        "Richard",
        "Pierre",
        "Paul",
        "Benoît",
        "Pie",
        "Grégoire",
        "Léon",
        "Innocent",
        "Alexandre",
        "Frédéric",
        "Catherine",
        "Marie",
        "Anne",
        "Nicolas",
        "Clément",
        "Urbain",
        "Boniface",
        "Ferdinand",
        "Alphonse",
        "Victor",
        "Emmanuel",
        "Léopold",
        "Albert",
        "Baudouin",
        "Ramsès",
        "Ptolémée",
        "Constantin",
        "Othon",
        "Rodolphe",
        "Christian",
        "Frederik",
    }
)
_COUNTED = frozenset(
    {
        "chapitre",
        "partie",
        "tome",
        "livre",
        "acte",
        "scène",
        "article",
        "titre",
        "volume",
        "saison",
        "épisode",
        "phase",
        "niveau",
        "classe",
        "type",
        "guerre",
        "vol",
        "chap",
    }
)


def _feminine(words: str) -> str:
    """Cardinal agreeing with a feminine noun: "un" → "une", "vingt et un" → "vingt et une"."""
    return words[:-2] + "une" if words == "un" or words.endswith(" un") or words.endswith("-un") else words


def _day(day: int) -> str:
    return "premier" if day == 1 else LEXICON.cardinal(day)


def _date(day: int, month: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{_day(day)} {MONTHS[month - 1]}" + (f" {LEXICON.cardinal(int(year))}" if year else "")


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    spoken = _feminine(LEXICON.cardinal(hour)) + (" heure" if hour < 2 else " heures")
    return spoken + (" " + _feminine(LEXICON.cardinal(minute)) if minute else "")


def _phone(match: re.Match[str]) -> str:
    """French numbers are said in pairs: "06 12 34 56 78" → "zéro six, douze, trente-quatre, …"."""
    written = match.group()
    spoken = []
    if written.startswith("+"):
        code = re.match(r"\+(\d+)", written)
        assert code is not None
        spoken.append("plus " + LEXICON.cardinal(int(code.group(1))))
        written = written[code.end() :]
    digits = re.sub(r"\D", "", written)
    if len(digits) % 2:
        spoken.append(LEXICON.cardinal(int(digits[0])))
        digits = digits[1:]
    for i in range(0, len(digits), 2):
        pair = digits[i : i + 2]
        spoken.append(LEXICON.digits(pair) if pair[0] == "0" else LEXICON.cardinal(int(pair)))
    return ", ".join(spoken)


def _ordinal(match: re.Match[str]) -> str | None:
    value, suffix = int(match.group("n")), match.group("suffix")
    if suffix in ("er", "ᵉʳ"):
        return "premier" if value == 1 else None
    if suffix in ("re", "ère", "ʳᵉ"):
        return "première" if value == 1 else None
    if suffix in ("nd", "nde"):
        return ("second" if suffix == "nd" else "seconde") if value == 2 else None
    return LEXICON.ordinal(value) if value > 1 else None


def _roman_ordinal(match: re.Match[str]) -> str | None:
    numeral, suffix = match.group("n"), match.group("suffix")
    value = common.roman_value(numeral)
    if value is None or (len(numeral) == 1 and numeral not in "IVX"):
        return None  # "Ce", "De", "Le", "Me" are words
    if suffix in ("er", "ᵉʳ"):
        return "premier" if value == 1 else None
    return LEXICON.ordinal(value) if value > 1 else None


def _rule(name: str, pattern: str, render: Callable[[re.Match[str]], str | None]) -> Rule:
    return Rule(name, re.compile(pattern), render)


RULES = (
    common.url(LEXICON),
    common.email(LEXICON),
    common.symbols(LEXICON),
    _rule("phone", r"(?<![\w+])(?:\+33[ .]?[1-9]|0[1-9])(?:[ .-]?\d{2}){4}(?![\w])", _phone),
    _rule("date", r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])", lambda m: _date(int(m[3]), int(m[2]), m[1])),
    _rule(
        "date", r"(?<![\w/.-])(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?![\w/])", lambda m: _date(int(m[1]), int(m[3]), m[4])
    ),
    _rule(
        "date",
        rf"(?<![\w.,/:–-])(?P<day>\d{{1,2}})(?:er|ᵉʳ)?[^\S\n]{_MONTH}(?:[^\S\n](?P<year>\d{{4}}))?(?![\w])",
        lambda m: _date(int(m["day"]), MONTHS.index(m["month"]) + 1, m["year"]),
    ),
    _rule("time", r"(?<![\w:.,])(?P<h>[01]?\d|2[0-3])[^\S\n]?h(?:[^\S\n]?(?P<m>[0-5]\d))?(?![\w])", _time),
    _rule("time", r"(?<![\w:.,])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?![\w:]|[.,]\d)", _time),
    common.currency(LEXICON),
    common.quantity(LEXICON),
    _rule("ordinal", r"(?<![\w.,])(?P<n>\d+)(?P<suffix>er|re|ère|ème|e|nde|nd|ᵉʳ|ʳᵉ|ᵉ)(?!\w)", _ordinal),
    _rule("ordinal", r"(?<![\w.-])(?P<n>[IVXLCDM]+)(?P<suffix>er|ème|e|ᵉʳ|ᵉ)(?![\w'’-])", _roman_ordinal),
    common.numbers(LEXICON),
    common.abbreviations(LEXICON),
    common.roman_numerals(LEXICON, _REGNAL, _COUNTED, LEXICON.cardinal),
)

NORMALIZER = RuleSet("fr", RULES)
