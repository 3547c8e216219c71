"""Through the engine's own phonemizer: normalized text sounds like the spoken form a person
would say, where espeak alone misreads the original.

Uses Piper's espeak-ng phonemizer with the default voice's espeak voice ("en-us") and a
French one ("fr"), as a worker would.
"""

from __future__ import annotations

import pytest
from piper.phonemize_espeak import EspeakPhonemizer

from swtts.pipeline.normalize import normalize

CASES = [
    ("en-us", "en_US", "It costs $49.95.", "It costs forty-nine dollars and ninety-five cents."),
    ("en-us", "en_US", "Meet me at 8:00.", "Meet me at eight o'clock."),
    ("en-us", "en_US", "It starts at 9:05.", "It starts at nine oh five."),
    ("en-us", "en_US", "Due 2026-11-29.", "Due November twenty-ninth, twenty twenty-six."),
    ("en-us", "en_US", "It weighs 5 kg.", "It weighs five kilograms."),
    ("en-us", "en_US", "It was 21°C outside.", "It was twenty-one degrees Celsius outside."),
    ("en-us", "en_US", "Dr. Smith is in.", "Doctor Smith is in."),
    ("en-us", "en_US", "He lives on James St. The house is big.", "He lives on James Street. The house is big."),
    ("en-us", "en_US", "It grew 50% in 1984.", "It grew fifty percent in nineteen eighty-four."),
    ("en-us", "en_US", "Read chapter IV.", "Read chapter four."),
    ("en-us", "en_US", "Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
    ("en-us", "en_US", "Mail john.doe@example.com now.", "Mail john dot doe at example dot com now."),
    ("en-us", "en_US", "The 21st time.", "The twenty-first time."),
    ("en-us", "en_US", "It drove 100 km/h.", "It drove one hundred kilometers per hour."),
    ("fr", "fr_FR", "Il coûte 49,95 €.", "Il coûte quarante-neuf euros quatre-vingt-quinze."),
    ("fr", "fr_FR", "Rendez-vous à 14h30.", "Rendez-vous à quatorze heures trente."),
    ("fr", "fr_FR", "M. Dupont est là.", "Monsieur Dupont est là."),
    ("fr", "fr_FR", "Le 1er janvier 2026.", "Le premier janvier deux mille vingt-six."),
    ("fr", "fr_FR", "Il fait 21 °C.", "Il fait vingt et un degrés Celsius."),
    ("fr", "fr_FR", "Le XIXe siècle.", "Le dix-neuvième siècle."),
    ("fr", "fr_FR", "Il a 3,5 kg.", "Il a trois virgule cinq kilogrammes."),
    ("fr", "fr_FR", "Louis XIV régnait.", "Louis quatorze régnait."),
    (
        "fr",
        "fr_FR",
        "Appelez le 01 23 45 67 89.",
        "Appelez le zéro un, vingt-trois, quarante-cinq, soixante-sept, quatre-vingt-neuf.",
    ),
]


@pytest.fixture(scope="module")
def phonemizer() -> EspeakPhonemizer:
    return EspeakPhonemizer()


def phonemes(phonemizer: EspeakPhonemizer, voice: str, text: str) -> str:
    return " | ".join("".join(sentence) for sentence in phonemizer.phonemize(voice, text))


@pytest.mark.parametrize(("espeak_voice", "language", "text", "spoken"), CASES, ids=[c[2] for c in CASES])
def test_normalized_text_sounds_like_the_spoken_form(
    phonemizer: EspeakPhonemizer, espeak_voice: str, language: str, text: str, spoken: str
) -> None:
    expected = phonemes(phonemizer, espeak_voice, spoken)
    assert phonemes(phonemizer, espeak_voice, normalize(text, language).spoken) == expected
    assert phonemes(phonemizer, espeak_voice, text) != expected, "espeak alone already reads it so"


def test_language_from_the_espeak_voice_name(phonemizer: EspeakPhonemizer) -> None:
    spoken = normalize("Il coûte 49,95 €.", "fr-fr").spoken
    assert phonemes(phonemizer, "fr", spoken) == phonemes(
        phonemizer, "fr", "Il coûte quarante-neuf euros quatre-vingt-quinze."
    )
