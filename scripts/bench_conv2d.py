"""The voice's 1-D convolutions as 2-D ones (:mod:`swtts.workers.conv2d`): time per sentence, both forms.

The first ``--sentences`` sentences of the sample article, as phoneme ids, spoken by a session
over the plain graph and one over the 2-D form, noise off, in interleaved rounds (medians):
on one thread alone; on one thread in two processes at once (what ``serve``'s one-thread
workers do on a 2-core machine when both are busy); and on two threads. The figure behind
``SessionPlan``'s rule: the 2-D form for one-thread CPU sessions only.
``--output docs/benchmarks.md`` replaces the ``<!-- conv2d:start -->`` section.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench import ARTICLE, SETTLE_S
from scripts.report import machine_line, replace_section
from swtts.pipeline.sentences import sentence_spans
from swtts.workers.graph import build_graph
from swtts.workers.session import open_session
from swtts.workers.voice_files import check_voice

CPU = ["CPUExecutionProvider"]
FORMS = ("plain", "2-D")
_SESSIONS: dict[str, onnxruntime.InferenceSession] = {}
_ROWS: list[np.ndarray] = []


def phoneme_rows(count: int) -> list[np.ndarray]:
    """The article's first ``count`` sentences as the voice's phoneme ids, one row each."""
    from piper import PiperVoice

    voice = check_voice(None)
    piper = PiperVoice.load(voice.model_path, config_path=voice.config_path)
    sentences = [ARTICLE[start:end] for start, end in sentence_spans(ARTICLE)][:count]
    return [np.array([piper.phonemes_to_ids(p)], dtype=np.int64) for s in sentences for p in piper.phonemize(s) if p]


def open_forms(threads: int, rows: list[np.ndarray]) -> None:
    """This process's session of each form on ``threads`` threads, and the rows it speaks."""
    model = check_voice(None).model_path
    for form in FORMS:
        _SESSIONS[form] = open_session(build_graph(model, conv2d=form == "2-D"), threads, CPU)
    _ROWS[:] = rows


def one_pass(form: str) -> float:
    """Seconds to speak every row once with ``form``'s session."""
    session = _SESSIONS[form]
    scales = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    started = time.perf_counter()
    for row in _ROWS:
        session.run(None, {"input": row, "input_lengths": np.array([row.shape[1]]), "scales": scales})
    return time.perf_counter() - started


def measure(rows: list[np.ndarray], threads: int, processes: int, rounds: int) -> dict[str, float]:
    """Median seconds per pass of each form, ``processes`` passes at once (their mean) per round."""
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=open_forms, initargs=(threads, rows)) as pool:
        for form in FORMS:
            pool.map(one_pass, [form] * processes)  # warm-up
        for turn in range(rounds):
            for form in FORMS if turn % 2 == 0 else FORMS[::-1]:
                time.sleep(SETTLE_S)
                times[form].append(statistics.mean(pool.map(one_pass, [form] * processes)))
    return {form: statistics.median(values) for form, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=16, help="article sentences used (default 16)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--output", type=Path, help="replace the conv2d section of this markdown file")
    args = parser.parse_args()
    rows = phoneme_rows(args.sentences)
    cases = [("one thread", 1, 1), ("one thread, two processes at once", 1, 2), ("two threads", 2, 1)]
    lines = [
        f"{machine_line()} {len(rows)} sentences of the sample article ({sum(r.shape[1] for r in rows)} phoneme "
        f"ids), noise off, {args.rounds} interleaved rounds, medians of the seconds per pass over them.",
        "",
        "| sessions | plain graph s | 2-D form s | 2-D ÷ plain |",
        "|---|---:|---:|---:|",
    ]
    for name, threads, processes in cases:
        times = measure(rows, threads, processes, args.rounds)
        lines.append(f"| {name} | {times['plain']:.2f} | {times['2-D']:.2f} | {times['2-D'] / times['plain']:.2f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    table = "\n".join(lines)
    print(table)
    if args.output:
        replace_section(args.output, "conv2d", table + "\n")
        print(f"wrote the conv2d section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
