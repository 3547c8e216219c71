"""Dynamic batching on evidence: padding waste sorted vs in document order, and batched vs one at a time.

Takes the sample article's sentences (``--sentences``, in document order) and the engine a
worker would build (``--device``, ``--threads``, batching on, so the graph exposes phoneme
durations). Padding: for batches of ``--batch`` sentences, the share of the padded phoneme-id
matrix that is padding, when batches are cut in document order and when sentences are sorted
by length first (what the worker does). Time: the same sentences spoken one at a time and as
sorted batches, interleaved rounds, medians. On CPU this is the figure behind ``batching =
"auto"`` (off on CPU); on a GPU machine, ``--device cuda:0`` gives the CUDA figure.
``--output docs/benchmarks.md`` replaces the ``<!-- batching:start -->`` section.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench import ARTICLE, SETTLE_S
from scripts.report import machine_line, replace_section
from swtts.pipeline.sentences import sentence_spans
from swtts.protocol import SynthesisParams
from swtts.workers.engine import Engine


def padding_share(lengths: list[int], batch: int) -> float:
    """Padded cells / all cells when ``lengths`` are cut, in this order, into batches of ``batch``."""
    padded = total = 0
    for first in range(0, len(lengths), batch):
        group = lengths[first : first + batch]
        total += max(group) * len(group)
        padded += max(group) * len(group) - sum(group)
    return padded / total if total else 0.0


def article_sentences(count: int) -> list[str]:
    """The first ``count`` sentences of the sample article, in document order."""
    return [ARTICLE[start:end] for start, end in sentence_spans(ARTICLE)][:count]


def phoneme_lengths(engine: Engine, sentences: list[str]) -> list[int]:
    """Phoneme ids per sentence as the engine's voice spells them (the rows of a batch)."""
    return [
        len(engine.voice.phonemes_to_ids(phonemes))
        for text in sentences
        for phonemes in engine.voice.phonemize(text)
        if phonemes
    ]


def time_batching(
    engine: Engine, sentences: list[str], batches: list[int], rounds: Iterable[int]
) -> dict[int, list[float]]:
    """Seconds to speak ``sentences`` one at a time (key 1) and as sorted batches of each size in
    ``batches``: one warm-up of each, then a timed call of each per round, the order alternating."""
    params = SynthesisParams()

    def one_at_a_time() -> float:
        started = time.perf_counter()
        for text in sentences:
            engine.synthesize(text, params)
        return time.perf_counter() - started

    def batched(size: int) -> float:
        started = time.perf_counter()
        engine.synthesize_batch([(text, params) for text in sentences], size)
        return time.perf_counter() - started

    measures: list[tuple[int, Callable[[], float]]] = [(1, one_at_a_time)]
    measures += [(size, functools.partial(batched, size)) for size in batches]
    for _, measure in measures:
        measure()
    times: dict[int, list[float]] = {key: [] for key, _ in measures}
    for turn in rounds:
        for key, measure in measures if turn % 2 == 0 else measures[::-1]:
            time.sleep(SETTLE_S)
            times[key].append(measure())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=48, help="article sentences used (default 48)")
    parser.add_argument("--batch", type=int, default=8, help="sentences per forward pass (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1, a worker's)")
    parser.add_argument("--output", type=Path, help="replace the batching section of this markdown file")
    args = parser.parse_args()
    sentences = article_sentences(args.sentences)
    engine = Engine(device=args.device, threads=args.threads, batching="on")
    lengths = phoneme_lengths(engine, sentences)
    in_order, by_length = padding_share(lengths, args.batch), padding_share(sorted(lengths), args.batch)
    times = time_batching(engine, sentences, [args.batch], range(args.rounds))
    one, batch = statistics.median(times[1]), statistics.median(times[args.batch])
    lines = [
        f"{machine_line()} Device {engine.info.device}, {args.threads} thread(s), {len(sentences)} sentences of "
        f"the sample article ({sum(lengths)} phoneme ids), batches of {args.batch}, {args.rounds} interleaved "
        f"rounds, medians.",
        "",
        "| padding share of the batch matrix | in document order | sorted by length (the worker) |",
        "|---|---:|---:|",
        f"| padded cells / all cells | {in_order:.0%} | {by_length:.0%} |",
        "",
        "| speaking the sentences | wall s | ÷ one at a time |",
        "|---|---:|---:|",
        f"| one at a time | {one:.2f} | 1.00 |",
        f"| sorted batches of {args.batch} | {batch:.2f} | {batch / one:.2f} |",
    ]
    table = "\n".join(lines)
    print(table)
    if args.output:
        replace_section(args.output, "batching", table + "\n")
        print(f"wrote the batching section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
