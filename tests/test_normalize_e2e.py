"""Text is read as a person would, end to end: `swtts say`, the Python client and token streams
through real processes and the real voice (checked on the phonemes the workers spoke), and
`swtts normalize`, which prints what will be spoken."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swtts.client import AsyncClient, AudioChunk, Client, SynthesisOptions, SynthesisResult
from swtts.config import Settings
from swtts.pipeline.normalize import normalize
from swtts.service import EmbeddedService
from tests.conftest import phoneme_words
from tests.helpers import run_swtts as run_cli
from tests.test_voices import french_voice  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

MONEY = "Dr. Smith paid $49.95 at 8:00."
MONEY_SPOKEN = "Doctor Smith paid forty-nine dollars and ninety-five cents at eight o'clock."
FRENCH = "M. Dupont paie 49,95 € à 14h30."
FRENCH_SPOKEN = "Monsieur Dupont paie quarante-neuf euros quatre-vingt-quinze à quatorze heures trente."
FAST = SynthesisOptions(length_scale=0.3, noise_scale=0.0, noise_w=0.0, use_cache=False)
AS_WRITTEN = replace(FAST, normalize=False)

ANSWER = """# Lighthouse facts

The **Eddystone** light is *famous*:

- It stood in 1698.
- See [the history](https://example.com/eddystone).

```python
print("lamp")
```

That is all."""
ANSWER_CHUNKS = [
    "Lighthouse facts",
    "The Eddystone light is famous:",
    "It stood in 1698.",
    "See the history.",
    "That is all.",
]


def spoken(result: SynthesisResult) -> str:
    """What the workers said, without stress, length or punctuation."""
    return phoneme_words(" ".join(chunk.phonemes for chunk in result.chunks))


def test_say_reads_money_times_and_titles_and_no_normalize_reads_as_written(
    service: EmbeddedService, tmp_path: Path
) -> None:
    """`swtts say` speaks through the service; what it spoke comes back from the cache."""
    with service.client() as client:
        client.cache_clear()
        for flags in ([], ["--no-normalize"]):
            done = run_cli("say", "--connect", service.endpoint, MONEY, "-o", str(tmp_path / "out.wav"), *flags)
            assert done.returncode == 0, done.stderr
        said = client.synthesize(MONEY)
        said_as_written = client.synthesize(MONEY, SynthesisOptions(normalize=False))
        again = client.synthesize(MONEY)
        expected = client.synthesize(MONEY_SPOKEN, AS_WRITTEN)
    # Two cache entries, one per reading, each a hit for the request that reads the same way.
    assert [c.cached for c in said.chunks + said_as_written.chunks + again.chunks] == [True, True, True]
    assert said.timings["cached_chunks"] == 1
    assert spoken(said) == spoken(expected)  # dollars and cents, eight o'clock, Doctor
    assert spoken(said_as_written) != spoken(said)
    # "Dr." ends no sentence: one sentence, and none of espeak's breaks inside it.
    (chunk,) = said.chunks
    assert chunk.text == MONEY and len(chunk.sentence_samples) == 1
    assert chunk.phonemes.rstrip(".").count(".") == 0
    assert said_as_written.chunks[0].phonemes.rstrip(".").count(".") >= 1


@pytest.fixture(scope="module")
def french_service(french_voice: Path, settings: Settings) -> Iterator[EmbeddedService]:  # noqa: F811
    with EmbeddedService(settings.override(voice__model=str(french_voice)), workers=1) as running:
        yield running


def test_a_french_voice_reads_euros_hours_and_titles_in_french(french_service: EmbeddedService) -> None:
    with french_service.client() as client:
        read = client.synthesize(FRENCH, FAST)
        expected = client.synthesize(FRENCH_SPOKEN, AS_WRITTEN)
        as_written = client.synthesize(FRENCH, AS_WRITTEN)
    assert spoken(read) == spoken(expected)
    assert spoken(as_written) != spoken(read)
    assert [chunk.text for chunk in read.chunks] == [FRENCH]


def test_a_markdown_answer_is_read_without_its_markup(service: EmbeddedService, settings: Settings) -> None:
    with service.client() as client:
        read = client.synthesize(ANSWER, FAST)
        plain = client.synthesize("\n\n".join(ANSWER_CHUNKS), FAST)
    assert [chunk.text for chunk in read.chunks] == ANSWER_CHUNKS  # each block a paragraph of its own
    assert [chunk.paragraph_start for chunk in read.chunks] == [False, True, True, True, True]
    assert spoken(read) == spoken(plain)
    assert [ANSWER[slice(*chunk.source)] if chunk.source else None for chunk in read.chunks] == [
        "Lighthouse facts",
        "The **Eddystone** light is *famous*:",
        "It stood in 1698.",
        "See [the history](https://example.com/eddystone).",
        "That is all.",
    ]
    with Client(service.endpoint, settings.override(normalize__read_code_blocks=True)) as client:
        with_code = client.synthesize(ANSWER, FAST)
    assert 'print("lamp")' in [chunk.text for chunk in with_code.chunks]


def random_tokens(text: str, seed: int) -> list[str]:
    cuts = sorted(random.Random(seed).sample(range(1, len(text)), 30))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def test_a_token_stream_reads_like_the_whole_text(service: EmbeddedService, settings: Settings) -> None:
    """LLM tokens arrive mid-number ("$4" then "9.95") and mid-markup, split anywhere."""

    async def async_stream(tokens: list[str]) -> list[AudioChunk]:
        async def arrive() -> AsyncIterator[str]:
            for token in tokens:
                yield token

        return [chunk async for chunk in AsyncClient(service.endpoint, settings).stream(arrive(), FAST)]

    with service.client() as client:
        money = list(client.stream(iter(["Pay $4", "9.95 now."]), FAST))
        whole_money = client.synthesize("Pay $49.95 now.", FAST)
        whole = client.synthesize(ANSWER, FAST)
        streams = [list(client.stream(iter(random_tokens(ANSWER, seed)), FAST)) for seed in range(2)]
    streams.append(asyncio.run(async_stream(random_tokens(ANSWER, 2))))
    assert phoneme_words(" ".join(c.phonemes for c in money)) == spoken(whole_money)
    assert "dˈɑːlɚz" in money[0].phonemes
    for chunks in streams:
        assert [chunk.text for chunk in chunks] == ANSWER_CHUNKS
        assert phoneme_words(" ".join(c.phonemes for c in chunks)) == spoken(whole)
        assert [chunk.source for chunk in chunks] == [chunk.source for chunk in whole.chunks]


def normalize_cli(*args: str) -> str:
    done = run_cli("normalize", *args)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def test_normalize_prints_the_text_as_it_will_be_spoken(french_voice: Path, tmp_path: Path) -> None:  # noqa: F811
    assert normalize_cli(MONEY) == MONEY_SPOKEN + "\n"
    assert normalize_cli("--language", "fr", FRENCH) == FRENCH_SPOKEN + "\n"
    assert normalize_cli("--voice", str(french_voice), FRENCH) == FRENCH_SPOKEN + "\n"
    answer = tmp_path / "answer.md"
    answer.write_text(ANSWER)
    assert normalize_cli("--file", str(answer)) == normalize(ANSWER, "en").spoken + "\n"
    config = tmp_path / "code.toml"
    config.write_text("[normalize]\nread_code_blocks = true\n")
    assert 'print("lamp")' in normalize_cli("--file", str(answer), "--config", str(config))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--language", "de", "Hallo."], "--language has no reading rules for 'de' (known: en, fr)"),
        (["--language", "en", "--voice", "x.onnx", "Hi."], "give --language or --voice, not both"),
    ],
)
def test_normalize_refuses_what_it_cannot_do_in_one_line(args: list[str], message: str) -> None:
    done = run_cli("normalize", *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"swtts: error: {message}\n")
