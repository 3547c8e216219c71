"""Subtitles and word lists from timed words: SRT and WebVTT cues of readable phrases, and JSON.

Cues are phrases a viewer reads at a glance: at most two lines of :data:`MAX_LINE` characters
and :data:`MAX_CUE_S` seconds. A cue ends with its sentence, or at a long pause; one that grows
too long is cut after its last clause mark (comma, semicolon, colon, dash) when that leaves a
fair part of it, otherwise before the word that does not fit. Each word shows with the
punctuation written around it. WebVTT cues carry a timestamp tag before each word after the
first (``<00:00:01.200>``), so a player can follow word by word. The files are written with the
``srt`` and ``webvtt-py`` packages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, Protocol

import srt
import webvtt

from swtts.pipeline.normalize.abbreviations import period_ends_sentence

MAX_LINE = 42
MAX_LINES = 2
MAX_CUE_S = 6.0
MIN_CUE_S = 0.8  # a short cue stays up this long, unless the next one starts first
PAUSE_S = 0.6  # a silence this long between words ends a cue
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*$")
_CONTEXT_WORDS = 3  # words before a '.' that tell an abbreviation after a name ("James St.")
_CLAUSE_END = re.compile(r"[,;:—–]+[\"'”’»)\]]*$")
FORMATS = (".srt", ".vtt")


class Timed(Protocol):
    """A timed word (the client's TimedWord has these)."""

    @property
    def word(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


class Worded(Protocol):
    """A chunk: its text and its timed words, which are slices of it in order."""

    @property
    def text(self) -> str: ...

    @property
    def words(self) -> Sequence[Timed]: ...


class Shown(NamedTuple):
    """A word as a viewer sees it ("(quickly)."), and when it is heard."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    """One subtitle: its words, shown from the first one's start to ``end``."""

    words: tuple[Shown, ...]
    end: float

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def lines(self) -> list[list[Shown]]:
        """The cue's words, line by line."""
        return _lines(self.words)


def shown_words(chunks: Sequence[Worded]) -> list[Shown]:
    """Every timed word with the punctuation written around it in its chunk's text."""
    shown: list[Shown] = []
    for chunk in chunks:
        text, at = chunk.text, 0
        for word in chunk.words:
            found = text.find(word.word, at)
            if found < 0:  # cannot be (words are slices of the text, in order): show the word alone
                shown.append(Shown(word.word, word.start, word.end))
                continue
            first = found
            while first > at and not text[first - 1].isspace():
                first -= 1
            last = found + len(word.word)
            while last < len(text) and not text[last].isspace() and not text[last].isalnum():
                last += 1
            shown.append(Shown(text[first:last], word.start, word.end))
            at = last
    return shown


def cues(words: Sequence[Shown]) -> list[Cue]:
    """The words in readable phrases (see the module's docstring)."""
    groups: list[list[Shown]] = []
    current: list[Shown] = []
    for number, word in enumerate(words):
        if current and (word.start - current[-1].end >= PAUSE_S or not _fits([*current, word])):
            cut = _clause_cut(current) if word.start - current[-1].end < PAUSE_S else len(current)
            groups.append(current[:cut])
            current = current[cut:]
        current.append(word)
        if _ends_sentence(words, number):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    result = []
    for number, group in enumerate(groups):
        following = groups[number + 1][0].start if number + 1 < len(groups) else float("inf")
        end = max(group[-1].end, min(group[0].start + MIN_CUE_S, following))
        result.append(Cue(tuple(group), round(end, 3)))
    return result


def _ends_sentence(words: Sequence[Shown], number: int) -> bool:
    """Whether word ``number`` ends a sentence: a single '.' is judged as the chunker judges it
    ("Dr. Smith" and "p. 12" go on; "James St. The" ends), by the words before and after it."""
    text = words[number].text
    match = _SENTENCE_END.search(text)
    if match is None:
        return False
    if not match.group().startswith(".") or match.group().startswith(".."):
        return True
    before = " ".join(word.text for word in words[max(0, number - _CONTEXT_WORDS) : number])
    line = f"{before} {text}" if before else text
    following = words[number + 1].text[:1] if number + 1 < len(words) else ""
    return period_ends_sentence(line, len(line) - len(text) + match.start(), 0, following)


def _fits(words: Sequence[Shown]) -> bool:
    return len(_lines(words)) <= MAX_LINES and words[-1].end - words[0].start <= MAX_CUE_S


def _clause_cut(words: Sequence[Shown]) -> int:
    """Where to end a cue that grew too long: after its last clause mark past its first third, else at its end."""
    for cut in range(len(words) - 1, max(0, len(words) // 3) - 1, -1):
        if cut and _CLAUSE_END.search(words[cut - 1].text):
            return cut
    return len(words)


def _line(words: Sequence[Shown]) -> str:
    return " ".join(word.text for word in words)


def _lines(words: Sequence[Shown]) -> list[list[Shown]]:
    """Words on lines of at most MAX_LINE characters; two lines are balanced, cut at the most even space."""
    if len(_line(words)) <= MAX_LINE:
        return [list(words)]
    fitting = [
        [list(words[:cut]), list(words[cut:])]
        for cut in range(1, len(words))
        if len(_line(words[:cut])) <= MAX_LINE and len(_line(words[cut:])) <= MAX_LINE
    ]
    best = min(fitting, key=lambda pair: abs(len(_line(pair[0])) - len(_line(pair[1]))), default=None)
    if best is not None:
        return best
    lines = [[words[0]]]  # too long for two lines: as many as it takes
    for word in words[1:]:
        if len(_line([*lines[-1], word])) <= MAX_LINE:
            lines[-1].append(word)
        else:
            lines.append([word])
    return lines


def to_srt(phrases: Sequence[Cue]) -> str:
    return str(
        srt.compose(
            srt.Subtitle(
                number, timedelta(seconds=cue.start), timedelta(seconds=cue.end), "\n".join(map(_line, cue.lines))
            )
            for number, cue in enumerate(phrases, 1)
        )
    )


def to_vtt(phrases: Sequence[Cue]) -> str:
    captions = []
    for cue in phrases:
        first = cue.words[0]
        tagged = [
            " ".join(w.text if w is first else f"<{_clock(w.start)}>{w.text}" for w in line) for line in cue.lines
        ]
        captions.append(webvtt.Caption(start=_clock(cue.start), end=_clock(cue.end), text="\n".join(tagged)))
    return str(webvtt.WebVTT(captions=captions).content)


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def words_json(words: Sequence[Timed]) -> str:
    """``[{"word", "start", "end"}, …]`` (seconds), one word a line."""
    rows = [json.dumps({"word": w.word, "start": w.start, "end": w.end}, ensure_ascii=False) for w in words]
    return "[\n" + ",\n".join(rows) + "\n]\n"


def subtitles(chunks: Sequence[Worded], path: str | Path) -> str:
    """The subtitle file's text for ``path``'s format (.srt or .vtt)."""
    phrases = cues(shown_words(chunks))
    return to_vtt(phrases) if Path(path).suffix.lower() == ".vtt" else to_srt(phrases)
