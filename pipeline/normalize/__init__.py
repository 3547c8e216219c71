"""Text normalization: read real text as a person would, and remember where every word came from.

Two passes. :mod:`.markup` (language-independent) removes what is formatting rather than
speech: markdown emphasis, heading and list markers, link targets, code, table pipes, HTML
tags. Then the token normalizer of the text's language rewrites what espeak would misread:
money, numbers, dates, times, units, abbreviations, URLs, symbols (:mod:`.en`, :mod:`.fr`;
an unknown language gets the markup pass only). Both passes keep the sentence and
paragraph structure, and record spans so any piece of the spoken text maps back to the
original (word timings report "$49.95", not "forty-nine dollars and ninety-five cents").
Text that arrives in pieces (an LLM's tokens) goes through :class:`MarkupStream`, which
returns the same stripped text piece by piece as soon as later text cannot change it.

Languages are looked up in a registry by the first part of a language code ("en_US",
"en-us", "fr_FR", "fr" …); :func:`register` adds one. :data:`VERSION` changes with every rule
change, so cached audio of older readings is not reused.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Protocol

from swtts.pipeline.normalize.alignment import NormalizedText, Span, compose
from swtts.pipeline.normalize.options import DEFAULT_MARKUP, DEFAULT_OPTIONS, MarkupOptions, NormalizeOptions
from swtts.pipeline.normalize.stream import MarkupStream

__all__ = [
    "VERSION",
    "LanguageNormalizer",
    "MarkupOptions",
    "MarkupStream",
    "NormalizeOptions",
    "NormalizedText",
    "Span",
    "language_key",
    "languages",
    "normalize",
    "normalizer_for",
    "register",
    "strip_markup",
]

VERSION = "1"

_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}")


class LanguageNormalizer(Protocol):
    """What a language module provides: a rewrite of plain text with its spans."""

    code: str

    def rewrite(self, text: str) -> tuple[str, list[Span]]:
        """Spoken form of ``text`` and the spans of what changed (text → spoken)."""
        ...


_FACTORIES: dict[str, Callable[[], LanguageNormalizer]] = {}
_LOADED: dict[str, LanguageNormalizer] = {}


def register(code: str, factory: Callable[[], LanguageNormalizer]) -> None:
    """Make ``factory`` (called once, on first use) the normalizer of language ``code`` ("de")."""
    key = language_key(code)
    if not key:
        raise ValueError(f"not a language code: {code!r}")
    _FACTORIES[key] = factory
    _LOADED.pop(key, None)


def _module_factory(module: str) -> Callable[[], LanguageNormalizer]:
    def load() -> LanguageNormalizer:
        normalizer: LanguageNormalizer = importlib.import_module(module).NORMALIZER
        return normalizer

    return load


def languages() -> list[str]:
    """Codes of the registered languages."""
    return sorted(_FACTORIES)


def language_key(language: str | None) -> str:
    """The registry key of a language code: "en_US", "en-us", "EN" → "en"; "" when none."""
    match = _LANGUAGE_RE.match(language or "")
    return match.group().lower() if match else ""


register("en", _module_factory("swtts.pipeline.normalize.en"))
register("fr", _module_factory("swtts.pipeline.normalize.fr"))


def normalizer_for(language: str | None) -> LanguageNormalizer | None:
    """The token normalizer of ``language`` (a voice's "en_US" or espeak "fr-fr"), None if unknown."""
    key = language_key(language)
    if key not in _FACTORIES:
        return None
    if key not in _LOADED:
        _LOADED[key] = _FACTORIES[key]()
    return _LOADED[key]


def strip_markup(text: str, options: MarkupOptions = DEFAULT_MARKUP) -> NormalizedText:
    """``text`` without its markdown and HTML markup (see :mod:`.markup`), with its spans."""
    # Imported on first use: the chunker needs this package's abbreviations, not markdown-it.
    from swtts.pipeline.normalize import markup

    return markup.strip_markup(text, options)


def normalize(text: str, language: str | None = None, options: NormalizeOptions = DEFAULT_OPTIONS) -> NormalizedText:
    """``text`` as it will be spoken in ``language``, with the spans back to ``text``.

    An unknown or missing language gets the markup pass only.
    """
    stripped = strip_markup(text, options.markup_options) if options.markup else NormalizedText(text, text, ())
    normalizer = normalizer_for(language)
    if normalizer is None:
        return stripped
    spoken, spans = normalizer.rewrite(stripped.spoken)
    return NormalizedText(text, spoken, tuple(compose(stripped.spans, spans)), normalizer.code)
