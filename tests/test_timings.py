"""Word timings without the voice: the text-to-phoneme alignment, the phone spans of forward passes
and their crossfade, the cache's spacing-proof positions, the output's clock, and the wire's checks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swtts.config import load_settings
from swtts.pipeline.assembly import Assembler, Timeline
from swtts.pipeline.normalize import NormalizedText, normalize
from swtts.pipeline.timings import BOUNDARY, Phone, word_range, word_timings, words_from_ink, words_to_ink
from swtts.protocol import Audio, ProtocolError, Result, WordSpan, decode
from swtts.workers.passes import CROSSFADE_S, join_pieces
from swtts.workers.phones import Spoken, concatenated, joined, pass_phones, piece_starts

# How a toy "voice" reads words alone; in context it may join, reduce or split them.
ALONE = {
    "that": "ðˈæt",
    "the": "ðə",
    "cat": "kˈæt",
    "sat": "sˈæt",
    "on": "ˈɑːn",
    "mat": "mˈæt",
    "forty-nine": "fˈɔːɹtinˈaɪn",
    "dollars": "dˈɑːlɚz",
    "and": "ænd",
    "ninety-five": "nˈaɪntifˈaɪv",
    "cents": "sˈɛnts",
    "paid": "pˈeɪd",
    "it": "ɪt",
}


def alone(text: str) -> list[str]:
    return list(" ".join(ALONE[word.strip(".,;:!?\"'()").lower()] for word in text.split() if word.strip(".,-—")))


def spoken(phonemes: str, step: int = 100) -> list[Phone]:
    """Phones of a spoken phoneme string, ``step`` samples each; "|" marks a pass boundary."""
    phones, at = [], 0
    for symbol in phonemes:
        if symbol == "|":
            phones.append(Phone(BOUNDARY, at, at))
            continue
        phones.append(Phone(symbol, at, at + step))
        at += step
    return phones


def named(reading: NormalizedText, words: Sequence[WordSpan]) -> list[str]:
    return [reading.original[w.text_start : w.text_end] for w in words]


def check_order(words: Sequence[WordSpan], samples: int) -> None:
    for before, after in itertools.pairwise(words):
        assert before.text_end <= after.text_start and before.end <= after.start
    assert all(0 <= w.start <= w.end <= samples for w in words)


def test_joined_words_are_split_where_each_one_sounds() -> None:
    reading = NormalizedText("That the cat sat.", "That the cat sat.", ())
    phones = spoken("ðætðə kˈæt sˈæt.")  # espeak joins "that the"; "that" unstressed in context
    words = word_timings(reading, phones, alone)
    assert named(reading, words) == ["That", "the", "cat", "sat"]
    assert [(w.start, w.end) for w in words] == [(0, 300), (300, 500), (600, 1000), (1100, 1500)]


def test_money_is_one_word_with_all_its_spoken_words_and_punctuation_is_not_a_word() -> None:
    reading = normalize("It paid $49.95 -- (cents).", "en")
    assert "forty-nine dollars and ninety-five cents" in reading.spoken
    heard = "ɪt pˈeɪd fˈɔːɹtinˈaɪn dˈɑːlɚz ænd nˈaɪntifˈaɪv sˈɛnts sˈɛnts."
    phones = spoken(heard)
    words = word_timings(reading, phones, alone)
    assert named(reading, words) == ["It", "paid", "$49.95", "cents"]
    money = words[2]
    assert (money.start, money.end) == (heard.index("f") * 100, heard.index(" sˈɛnts.") * 100)  # not the last word
    check_order(words, phones[-1].end)


def test_a_word_the_voice_reads_differently_still_gets_its_own_span() -> None:
    reading = NormalizedText("the cat on the mat", "the cat on the mat", ())
    phones = spoken("ði kˈæɾ ɔn ðə mˈæt")  # reduced vowels, a flap: few exact matches
    words = word_timings(reading, phones, alone)
    assert named(reading, words) == ["the", "cat", "on", "the", "mat"]
    assert [w.start for w in words] == [0, 300, 800, 1100, 1400]  # each at its real word start
    check_order(words, phones[-1].end)


def test_a_word_nothing_was_heard_for_is_kept_with_an_empty_span() -> None:
    reading = NormalizedText("the cat sat", "the cat sat", ())
    words = word_timings(reading, spoken("kˈæt sˈæt"), alone)
    assert named(reading, words) == ["the", "cat", "sat"]
    assert words[0].start == words[0].end == 0 and words[1].start == 0


def test_pass_seams_are_word_boundaries_and_crossfades_never_overlap_words() -> None:
    reading = NormalizedText("the cat sat", "the cat sat", ())
    phones = spoken("ðə kˈæt|sˈæt")
    overlapped = [*phones[:7], *(Phone(p.symbol, p.start - 50, p.end - 50) for p in phones[7:])]
    words = word_timings(reading, overlapped, alone)
    assert named(reading, words) == ["the", "cat", "sat"]
    check_order(words, overlapped[-1].end)


def test_no_phones_means_no_words() -> None:
    reading = NormalizedText("the cat", "the cat", ())
    assert word_timings(reading, [], alone) == []


@given(st.lists(st.sampled_from(sorted(ALONE)), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_every_word_comes_once_in_order_whatever_espeak_does(words: list[str], random: object) -> None:
    text = " ".join(words)
    sounds = [ALONE[word] for word in words]
    rng = np.random.default_rng(len(text))
    heard = ""
    for number, sound in enumerate(sounds):  # join some words, drop a few sounds, change others
        joiner = "" if rng.random() < 0.2 else " "
        kept = "".join(c for c in sound if rng.random() > 0.1) or sound
        heard += (joiner if number else "") + kept.replace("æ", "a" if rng.random() < 0.2 else "æ")
    phones = spoken(heard)
    reading = NormalizedText(text, text, ())
    timed = word_timings(reading, phones, alone)
    assert named(reading, timed) == words
    check_order(timed, phones[-1].end)


def test_a_word_is_its_text_without_the_punctuation_around_it() -> None:
    text = '"(Hello), $49.95 50% U.S.A. ...'
    assert [text[slice(*word_range(text, *span))] for span in [(0, 9), (10, 16), (17, 20), (21, 27), (28, 31)]] == [
        "Hello",
        "$49.95",
        "50%",
        "U.S.A",
        "",
    ]


def test_cached_word_positions_survive_other_spacing_and_refuse_another_text() -> None:
    words = [WordSpan(0, 5, 10, 20), WordSpan(7, 12, 30, 40)]
    rows = words_to_ink("Hello, world.", words)
    assert json.loads(json.dumps(rows)) == rows
    assert words_from_ink("Hello,\n  world.", rows) == (WordSpan(0, 5, 10, 20), WordSpan(9, 14, 30, 40))
    assert words_from_ink("Hi.", rows) is None


# ----- forward passes: phone spans and the crossfade -------------------------------------------------

ID_MAP = {"^": [1], "_": [0], "$": [2], "a": [3], "b": [4, 5], " ": [6]}


def test_a_pass_gives_each_phoneme_its_ids_and_the_pad_after_it() -> None:
    # ids: ^ _ a _ b b _ ? $   ("?" has no id: it takes nothing)
    samples = np.array([7, 3, 10, 1, 20, 5, 2, 9])
    assert pass_phones(["a", "b", "?"], ID_MAP, samples) == [Phone("a", 10, 21), Phone("b", 21, 48), Phone("?", 48, 48)]
    assert pass_phones(["a"], ID_MAP, samples) == []  # ids that do not fit the phonemes
    assert pass_phones(["a"], ID_MAP, None) == []


@pytest.mark.parametrize("sizes", [[500], [500, 400], [300, 150, 600, 5], [100, 100, 100]])
def test_piece_starts_follow_the_crossfade_join(sizes: list[int]) -> None:
    rate = 22050
    pieces = [np.full(size, float(number + 1), np.float32) for number, size in enumerate(sizes)]
    audio = join_pieces(pieces, rate)
    starts = piece_starts(sizes, rate)
    fade = round(CROSSFADE_S * rate)
    for number, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        clean_from = start + (min(fade, size) if number else 0)
        clean_to = start + size - (fade if number < len(sizes) - 1 else 0)
        if clean_to > clean_from:
            assert np.all(audio[clean_from:clean_to] == number + 1)
    assert starts[-1] + sizes[-1] == audio.size


def test_joined_and_concatenated_move_phones_with_their_audio_and_mark_seams() -> None:
    first = Spoken(np.zeros(1000, np.float32), [Phone("a", 100, 900)])
    second = Spoken(np.zeros(800, np.float32), [Phone("b", 50, 700)])
    fade = round(CROSSFADE_S * 22050)
    assert joined([first, second], 22050).phones == [
        Phone("a", 100, 900),
        Phone(BOUNDARY, 1000 - fade, 1000 - fade),
        Phone("b", 1050 - fade, 1700 - fade),
    ]
    both = concatenated([first, second])
    assert both.audio.size == 1800 and both.phones[-1] == Phone("b", 1050, 1700)
    assert concatenated([first, Spoken(np.zeros(10, np.float32))]).phones == []  # one part unknown: none


# ----- the output's clock ----------------------------------------------------------------------------


class FakeChunk:
    def __init__(self, sentences: list[int], paragraph_start: bool = False, sentence_end: bool = True) -> None:
        self.sentence_samples = sentences
        self.audio = np.arange(sum(sentences), dtype=np.int16)
        self.sample_rate = 1000
        self.paragraph_start = paragraph_start
        self.sentence_end = sentence_end
        self.index = 0

    @property
    def pcm(self) -> bytes:
        return self.audio.astype("<i2").tobytes()


def test_the_timeline_places_every_sample_where_the_assembler_puts_it() -> None:
    settings = load_settings().assembly
    chunks = [FakeChunk([300, 200]), FakeChunk([100], sentence_end=False), FakeChunk([150]), FakeChunk([50], True)]
    assembler, timeline = Assembler(settings), Timeline(settings)
    output = np.concatenate([assembler.add(chunk) for chunk in chunks])
    for chunk in chunks:
        placement = timeline.place(chunk)
        for sample in range(chunk.audio.size):
            assert output[placement.to_output(sample)] == chunk.audio[sample]
        assert placement.to_output(300, end=True) <= placement.to_output(300)
    assert timeline.position == output.size


# ----- on the wire -------------------------------------------------------------------------------------


def test_results_and_audio_carry_words_and_refuse_impossible_ones() -> None:
    pcm = bytes(2000)  # 1000 samples
    words = (WordSpan(0, 5, 0, 400), WordSpan(6, 11, 450, 1000))
    result = Result("r", 0, pcm, 22050, words=words)
    assert decode(result.encode()) == result
    audio = Audio("r", 0, pcm, 22050, words=words, text="Hello world")
    assert decode(audio.encode()) == audio
    for bad in (
        [[0, 5, 0, 1001]],
        [[0, 5, 500, 400]],
        [[6, 11, 0, 10], [0, 5, 20, 30]],
        [[0, 5, 0, 500], [6, 11, 400, 600]],
    ):
        frames = Result("r", 0, pcm, 22050).encode()
        header = json.loads(frames[0])
        header["words"] = bad
        with pytest.raises(ProtocolError, match="words"):
            decode([json.dumps(header).encode(), frames[1]])
    frames = Audio("r", 0, pcm, 22050, words=words, text="Hello").encode()
    with pytest.raises(ProtocolError, match="past the chunk's 5 characters"):
        decode(frames)
