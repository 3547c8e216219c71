"""Word lists and subtitles: phrases a viewer can read, in files real players' parsers open, following the audio."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import pytest
import soundfile
import srt
import webvtt

from swtts.client import TimedWord
from swtts.pipeline.subtitles import MAX_CUE_S, MAX_LINE, cues, shown_words, to_srt, to_vtt
from tests.helpers import run_swtts
from tests.test_word_timings import ARTICLE


class Chunk:
    def __init__(self, text: str, words: list[tuple[str, float, float]]) -> None:
        self.text = text
        self.words = [TimedWord(*word) for word in words]


def timed(text: str, seconds_per_word: float = 0.3) -> Chunk:
    words = re.findall(r"[\w$'.:%-]*\w", text)
    return Chunk(text, [(w, n * seconds_per_word, (n + 0.8) * seconds_per_word) for n, w in enumerate(words)])


def test_words_show_with_the_punctuation_written_around_them() -> None:
    chunk = Chunk('He said "hello" -- (quickly).', [("He", 0, 1), ("said", 1, 2), ("hello", 2, 3), ("quickly", 4, 5)])
    assert [w.text for w in shown_words([chunk])] == ["He", "said", '"hello"', "(quickly)."]


def test_cues_are_readable_phrases_that_end_with_sentences_and_break_at_clauses() -> None:
    text = (
        "Short one. This sentence is long enough that it cannot fit on two lines of forty-two characters, "
        "so it is cut after its comma, and then it goes on and on for quite some time before it ends."
    )
    phrases = cues(shown_words([timed(text)]))
    assert " ".join(w.text for cue in phrases for w in cue.words) == text
    assert phrases[0].lines == [[*phrases[0].words]] and phrases[0].words[-1].text == "Short one."[6:]
    for cue in phrases:
        assert len(cue.lines) <= 2 and all(len(" ".join(w.text for w in line)) <= MAX_LINE for line in cue.lines)
        assert cue.words[-1].end - cue.start <= MAX_CUE_S
    assert any(cue.words[-1].text.endswith(",") for cue in phrases)  # a long sentence cut at a comma
    assert all(a.end <= b.start for a, b in itertools.pairwise(phrases))


def test_an_abbreviation_does_not_end_a_cue_but_a_sentence_does() -> None:
    text = "Dr. Smith lives on James St. The house is at No. 5 Elm Rd. It is small! Really."
    phrases = cues(shown_words([timed(text)]))
    assert [" ".join(w.text for w in cue.words) for cue in phrases] == [
        "Dr. Smith lives on James St.",
        "The house is at No. 5 Elm Rd.",
        "It is small!",
        "Really.",
    ]


def test_srt_and_webvtt_open_in_their_parsers_with_a_timestamp_per_word() -> None:
    phrases = cues(shown_words([timed("One two three. Four five, six seven.")]))
    parsed = list(srt.parse(to_srt(phrases)))
    assert [s.content for s in parsed] == ["One two three.", "Four five, six seven."]
    assert parsed[1].start.total_seconds() == pytest.approx(0.9)
    captions = webvtt.from_buffer(io.StringIO(to_vtt(phrases))).captions
    assert [c.text for c in captions] == ["One two three.", "Four five, six seven."]
    assert captions[1].raw_text == "Four <00:00:01.200>five, <00:00:01.500>six <00:00:01.800>seven."


@pytest.mark.e2e
def test_say_writes_words_and_subtitles_that_follow_the_audio(tmp_path: Path) -> None:
    audio, words, vtt, subs = (tmp_path / name for name in ("a.wav", "w.json", "s.vtt", "s.srt"))
    common = ["--file", "-", "--max-chunk-chars", "200", "--workers", "2", "--no-cache", "--words", str(words)]
    done = run_swtts("say", *common, "-o", str(audio), "--subtitles", str(vtt), input=ARTICLE)
    assert done.returncode == 0, done.stderr
    duration = soundfile.info(str(audio)).duration
    listed = json.loads(words.read_text())
    assert re.sub(r"\W", "", "".join(w["word"] for w in listed)) == re.sub(r"\W", "", ARTICLE)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(listed))
    assert listed[0]["start"] >= 0 and listed[-1]["end"] <= duration
    captions = webvtt.read(str(vtt)).captions
    assert re.sub(r"\W", "", "".join(c.text for c in captions)) == re.sub(r"\W", "", ARTICLE)
    starts = [w["start"] for w in listed]
    tags = [_seconds(c.start) for c in captions]
    for caption in captions:
        tags += [_seconds(tag) for tag in re.findall(r"<([\d:.]+)>", caption.raw_text)]
    assert sorted(tags) == pytest.approx(starts, abs=0.001)  # one timestamp per word: its start, to the millisecond
    assert all(_seconds(c.start) < _seconds(c.end) <= duration + 1 for c in captions)

    done = run_swtts("say", *common, "--stream", "-o", str(audio), "--subtitles", str(subs), input=ARTICLE)
    assert done.returncode == 0, done.stderr
    parsed = list(srt.parse(subs.read_text()))
    assert [s.content for s in parsed] == [c.text for c in captions]


@pytest.mark.e2e
def test_say_refuses_unknown_subtitle_kinds_before_speaking(tmp_path: Path) -> None:
    done = run_swtts("say", "Hi.", "-o", str(tmp_path / "a.wav"), "--subtitles", str(tmp_path / "s.txt"))
    assert done.returncode == 2 and "--subtitles" in done.stderr and ".srt or .vtt" in done.stderr


def _seconds(clock: str) -> float:
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
