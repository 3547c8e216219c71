"""Word timings end to end: real workers, the real voice, the broker's collector and cache, the client's
clock; checked against an independent forced alignment of the same audio (PocketSphinx, see
scripts/forced_alignment.py)."""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from scripts.forced_alignment import onset_errors
from swtts.client import AudioChunk, SynthesisOptions, SynthesisResult, TimedWord
from swtts.pipeline.assembly import Timeline, assemble
from swtts.service import EmbeddedService
from swtts.workers.passes import MAX_PASS_PHONEMES
from tests.test_passes import unpunctuated

pytestmark = pytest.mark.e2e

ARTICLE = """The old lighthouse stood at the end of the harbour wall. Every night the keeper climbed the
stairs, lit the lamp and wound the clock that turned the lens.

In winter the storms came in from the west. Waves broke over the wall, and the keeper watched the
ships that passed in the dark, one by one, until the morning came.

Today the light runs by itself. Nobody climbs the stairs at night, but people still walk out along
the wall to see it shine across the water."""
MONEY = "Dr. Smith paid $49.95 at 8:00, and then he went home."
QUIET = SynthesisOptions(noise_scale=0.0, noise_w=0.0, use_cache=False, max_chunk_chars=200)
MEDIAN_LIMIT_S = 0.08
SPREAD_LIMIT_S = 0.08


def letters(text: str) -> str:
    return re.sub(r"[\W_]", "", text)


def check_words(result: SynthesisResult, text: str) -> None:
    """Every word of the text, in order, once; times never go backwards and end within the audio."""
    words = result.words
    assert letters("".join(word.word for word in words)) == letters(text)
    assert all(word.start <= word.end for word in words)
    assert all(before.end <= after.start for before, after in itertools.pairwise(words))
    assert words[-1].end <= result.duration_s


def agree_with_forced_alignment(chunks: Sequence[AudioChunk], service: EmbeddedService, pace: float = 1.0) -> float:
    """The onsets agree with PocketSphinx's alignment of the output as assembled (pauses included):
    within 80 ms median, and evenly (the recognizer runs some 50 ms early throughout, so a
    misplaced run of words shows as a spread around the median error, not in the median alone; the
    spread grows with the length of the sounds, so slower speech (``pace``) is allowed more)."""
    audio = assemble(chunks, service.settings.assembly)
    checked = onset_errors(audio, chunks[0].sample_rate, chunks)
    assert checked.skipped == 0 and len(checked.errors) == sum(len(chunk.words) for chunk in chunks)
    median = statistics.median(checked.errors)
    assert statistics.median(abs(error) for error in checked.errors) < MEDIAN_LIMIT_S, checked.errors
    spread = sorted(abs(error - median) for error in checked.errors)[int(0.9 * len(checked.errors))]
    assert spread < SPREAD_LIMIT_S * pace, f"90 % of onsets within {spread * 1000:.0f} ms of the median error"
    return median


def test_a_multi_chunk_article_times_every_word_where_it_is_heard(service: EmbeddedService) -> None:
    result = service.client().synthesize(ARTICLE, replace(QUIET, noise_scale=None, noise_w=None))
    assert len(result.chunks) >= 4 and any(chunk.paragraph_start for chunk in result.chunks)
    check_words(result, ARTICLE)
    sources = result.word_sources
    assert [ARTICLE[source[0] : source[1]] for source in sources if source] == [w.word for w in result.words]
    agree_with_forced_alignment(result.chunks, service)


def test_slower_speech_moves_the_words_with_it(service: EmbeddedService) -> None:
    client = service.client()
    text = ARTICLE.split("\n\n")[1]
    normal = client.synthesize(text, QUIET)
    slow = client.synthesize(text, replace(QUIET, length_scale=1.6))
    check_words(slow, text)
    speech = [w.end - w.start for w in normal.words], [w.end - w.start for w in slow.words]
    assert 1.4 < sum(speech[1]) / sum(speech[0]) < 1.8
    agree_with_forced_alignment(slow.chunks, service, pace=1.6)


def test_money_and_times_are_one_word_each_spanning_all_they_are_read_as(service: EmbeddedService) -> None:
    result = service.client().synthesize(MONEY, QUIET)
    check_words(result, MONEY)
    assert [word.word for word in result.words][:6] == ["Dr", "Smith", "paid", "$49.95", "at", "8:00"]
    money = result.words[3]
    assert money.end - money.start > 1.2  # "forty-nine dollars and ninety-five cents"
    agree_with_forced_alignment(result.chunks, service)


def test_words_arrive_with_their_chunks_on_the_streams_clock(service: EmbeddedService) -> None:
    def tokens() -> Iterator[str]:
        yield from re.findall(r"\S+\s*", ARTICLE)

    timeline = Timeline(service.settings.assembly)
    seen: list[TimedWord] = []
    chunks = []
    for chunk in service.client().stream(tokens(), QUIET):
        placement = timeline.place(chunk)
        begins = placement.start / chunk.sample_rate
        ends = timeline.position / chunk.sample_rate
        assert chunk.words and all(begins <= w.start <= w.end <= ends for w in chunk.words)
        assert letters("".join(w.word for w in chunk.words)) == letters(chunk.text)
        seen.extend(chunk.words)
        chunks.append(chunk)
    assert letters("".join(w.word for w in seen)) == letters(ARTICLE)
    assert all(before.end <= after.start for before, after in itertools.pairwise(seen))
    agree_with_forced_alignment(chunks, service)


def test_cached_audio_comes_back_with_its_words_also_when_spaced_otherwise(service: EmbeddedService) -> None:
    client = service.client()
    text = "Cached words come back.   They keep their places, even with other spacing."
    options = replace(QUIET, use_cache=True, max_chunk_chars=40)
    first = client.synthesize(text, options)
    again = client.synthesize(text, options)
    assert all(chunk.cached for chunk in again.chunks)
    assert again.words == first.words and again.word_sources == first.word_sources
    respaced = text.replace("   ", " ").replace(" their ", "\ntheir ") + " A new last line."  # chunk hits only
    spaced = client.synthesize(respaced, options)
    assert [chunk.cached for chunk in spaced.chunks] == [True] * len(first.chunks) + [False]
    assert [w.word for w in spaced.words][: len(first.words)] == [w.word for w in first.words]
    assert [respaced[s[0] : s[1]] for s in spaced.word_sources if s] == [w.word for w in spaced.words]
    check_words(spaced, respaced)


def test_words_stay_right_across_the_forward_passes_of_a_long_sentence(service: EmbeddedService) -> None:
    text = unpunctuated(700).capitalize() + "."  # one sentence of about 600 phonemes
    result = service.client().synthesize(text, replace(QUIET, max_chunk_chars=1000))
    assert any(len(chunk.phonemes) > 2 * MAX_PASS_PHONEMES for chunk in result.chunks)  # cut into passes
    check_words(result, text)
    agree_with_forced_alignment(result.chunks, service)
