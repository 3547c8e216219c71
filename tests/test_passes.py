"""Bounded forward passes: a sentence of any length is spoken whole, in pieces of bounded size, without seams."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swtts.client import InvalidRequestError, SynthesisOptions
from swtts.config import MAX_CHUNK_CHARS
from swtts.protocol import SynthesisParams
from swtts.service import EmbeddedService
from swtts.workers.engine import Engine
from swtts.workers.passes import CROSSFADE_S, MAX_PASS_PHONEMES, bounded_pieces, join_pieces
from tests.conftest import phoneme_words

DETERMINISTIC = SynthesisParams(noise_scale=0.0, noise_w=0.0)
WORDS = str.split(
    "harbor town votes on the future of its old ferry terminal while the council weighs the cost of "
    "repairs against a new bridge that would carry cars and trains across the bay to the mainland "
    "where most of the workers live and commute every morning before dawn"
)


def unpunctuated(chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(WORDS[len(words) * 7 % len(WORDS)])
    return " ".join(words)


def test_short_sentences_are_one_piece() -> None:
    phonemes = list("həlˈoʊ wˈɜːld")
    assert bounded_pieces(phonemes) == [phonemes]


@given(
    st.lists(st.sampled_from([*"abcdefg", " ", " ", ",", ";"]), max_size=3000),
    st.integers(min_value=4, max_value=300),
)
def test_pieces_are_bounded_and_lose_or_double_nothing(phonemes: list[str], limit: int) -> None:
    pieces = bounded_pieces(phonemes, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    rebuilt = [p for piece in pieces for p in [*piece, "|"]]
    # Only the single space at a cut may go; every other phoneme is kept, in order.
    assert "".join(rebuilt).replace("|", "").replace(" ", "") == "".join(phonemes).replace(" ", "")


def test_cuts_prefer_pauses_then_word_boundaries() -> None:
    sentence = list(("ab " * 30) + "cd, " + ("ef " * 30))
    pieces = bounded_pieces(sentence, 120)
    assert len(pieces) == 2 and "".join(pieces[0]).endswith("cd,")
    words = list(" ".join(["abc"] * 100))
    assert all(piece[-1] != " " and "".join(piece).split(" ")[-1] == "abc" for piece in bounded_pieces(words, 50))


def test_pieces_come_out_about_equal() -> None:
    pieces = bounded_pieces(list("abcd " * 90), 200)  # 450 phonemes: three pieces, not 200 + 200 + 50
    assert len(pieces) == 3 and max(map(len, pieces)) - min(map(len, pieces)) <= 10


def test_crossfade_joins_without_a_gap_or_a_jump() -> None:
    rate = 1000
    tone = np.sin(np.arange(500) / 3).astype(np.float32)
    joined = join_pieces([tone, tone, tone], rate)
    fade = round(CROSSFADE_S * rate)
    assert joined.size == 3 * tone.size - 2 * fade
    assert np.abs(np.diff(joined)).max() <= np.abs(np.diff(tone)).max() * 1.5


class PassRecorder:
    """Stands in for the voice's onnxruntime session and records every forward pass's input length."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.lengths: list[int] = []

    def run(self, outputs: Any, inputs: dict[str, np.ndarray], *options: Any) -> Any:
        self.lengths.append(int(inputs["input"].shape[1]))
        return self.session.run(outputs, inputs, *options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(quick_start=True)


@pytest.mark.e2e
def test_a_long_unpunctuated_text_is_spoken_whole_in_bounded_passes(engine: Engine) -> None:
    text = unpunctuated(2500)
    recorder = PassRecorder(engine.voice.session)
    engine.voice.session = recorder
    try:
        spoken = engine.synthesize(text, DETERMINISTIC)
    finally:
        engine.voice.session = recorder.session
    expected = phoneme_words("".join("".join(s) for s in engine.voice.phonemize(text)))
    assert phoneme_words(spoken.phonemes) == expected  # no word lost or doubled
    assert len(recorder.lengths) >= 2500 // 200  # the text (~2,300 phonemes) went in many passes...
    assert max(recorder.lengths) <= 2 * MAX_PASS_PHONEMES + 2  # ...each bounded (an id and a pad per phoneme)

    # As long per phoneme as the same words spoken as ordinary sentences, and no gap at the cuts.
    sentences = ". ".join(" ".join(text.split()[i : i + 12]) for i in range(0, len(text.split()), 12)) + "."
    reference = engine.synthesize(sentences, DETERMINISTIC)
    audio = np.frombuffer(spoken.pcm, "<i2")
    ratio = (audio.size / len(expected)) / (sum(reference.sentence_samples) / len(expected))
    assert 0.85 < ratio < 1.15, ratio
    frames = np.abs(audio[: audio.size - audio.size % 220].reshape(-1, 220)).max(axis=1)
    silent = longest_run(frames < 100) * 220 / engine.info.sample_rate
    assert silent < 0.3, f"a {silent:.2f} s gap"


def longest_run(flags: np.ndarray) -> int:
    best = count = 0
    for flag in flags:
        count = count + 1 if flag else 0
        best = max(best, count)
    return best


@pytest.mark.e2e
def test_a_cancelled_engine_refuses_to_run() -> None:
    """What the embedded service does on its way out: no forward pass may run on into the exit."""
    engine = Engine(quick_start=True)
    engine.cancel()
    with pytest.raises(Exception, match=r"(?i)terminat"):
        engine.synthesize("Too late.", DETERMINISTIC)


@pytest.mark.e2e
def test_through_the_service_no_client_can_make_a_chunk_unbounded(
    service: EmbeddedService, reference_voice: Any
) -> None:
    """A long unpunctuated text is spoken whole, every word once, in chunks no larger than the cap;
    a request for bigger chunks is refused with a line naming the option."""
    text = unpunctuated(3000)
    with service.client() as client:
        with pytest.raises(InvalidRequestError, match="max_chunk_chars"):
            client.synthesize(text, SynthesisOptions(max_chunk_chars=100_000))
        result = client.synthesize(text, SynthesisOptions(max_chunk_chars=MAX_CHUNK_CHARS, use_cache=False))
    assert len(result.chunks) >= 2 and all(len(chunk.text) <= MAX_CHUNK_CHARS for chunk in result.chunks)
    assert " ".join(chunk.text for chunk in result.chunks).split() == text.split()
    reference = "".join("".join(sentence) for sentence in reference_voice.phonemize(text))
    assert phoneme_words(" ".join(chunk.phonemes for chunk in result.chunks)) == phoneme_words(reference)
