"""Word timings: what they cost, and how well they agree with the audio (figures for docs/benchmarks.md).

Cost: the same sentences through one session of the plain voice and one of the voice with its
duration output (:func:`~swtts.workers.graph.build_graph`), alternating, one thread each;
then the word mapping per chunk against that chunk's synthesis, and the graph's build time.
Agreement: a multi-chunk text through the real service, its assembled audio checked against
PocketSphinx's forced alignment (:mod:`scripts.forced_alignment`) and against energy onsets:
where the audio turns loud after a silence of 100 ms or more, the nearest word start.

    python -m scripts.bench_timings [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig

from scripts.forced_alignment import onset_errors
from scripts.report import machine_line, replace_section
from swtts.client import SynthesisOptions
from swtts.config import load_settings
from swtts.pipeline.chunker import split_text
from swtts.pipeline.normalize import normalize
from swtts.pipeline.sentences import sentence_spans
from swtts.pipeline.timings import word_timings
from swtts.protocol import SynthesisParams
from swtts.service import EmbeddedService
from swtts.workers.engine import Engine
from swtts.workers.graph import VoiceGraph, build_graph
from swtts.workers.session import open_session
from tests.test_word_timings import ARTICLE

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cost(rounds: int) -> list[str]:
    engine = Engine(threads=1)
    model = Path(engine.info.model_path)
    started = time.perf_counter()
    graph = build_graph(model)
    patch_ms = (time.perf_counter() - started) * 1000
    plain = PiperVoice(
        config=engine.voice.config, session=open_session(VoiceGraph(model, None), 1, ["CPUExecutionProvider"])
    )
    aligned = PiperVoice(config=engine.voice.config, session=open_session(graph, 1, ["CPUExecutionProvider"]))
    text = ARTICLE.replace("\n", " ")
    sentences = [text[start:end] for start, end in sentence_spans(text)]
    ids = [plain.phonemes_to_ids(p) for s in sentences for p in plain.phonemize(s)]
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for row in ids:
            for with_durations, voice in ((False, plain), (True, aligned)):
                started = time.perf_counter()
                voice.phoneme_ids_to_audio(row, config, with_durations)
                times[with_durations].append(time.perf_counter() - started)
    ratios = [b / a for a, b in zip(times[False], times[True], strict=True)]
    mapping, synthesis = [], []
    for chunk in split_text(ARTICLE, max_chars=200):
        reading = normalize(chunk.text, engine.info.espeak_voice)
        started = time.perf_counter()
        spoken = engine.synthesize(reading.spoken, SynthesisParams())
        synthesis.append(time.perf_counter() - started)
        started = time.perf_counter()
        word_timings(reading, spoken.phones, engine.word_phonemes)
        mapping.append(time.perf_counter() - started)
    return [
        f"- Forward pass with the duration output, against the plain voice ({len(ids)} sentences x {rounds}, "
        f"alternating, 1 thread): median {statistics.median(times[True]) * 1000:.1f} ms against "
        f"{statistics.median(times[False]) * 1000:.1f} ms, **median ratio {statistics.median(ratios):.3f}**.",
        f"- Mapping phonemes to words, per 200-character chunk (a fresh worker: each word read alone once): "
        f"median {statistics.median(mapping) * 1000:.1f} ms against {statistics.median(synthesis) * 1000:.0f} ms "
        f"of synthesis ({statistics.median(m / s for m, s in zip(mapping, synthesis, strict=True)) * 100:.1f} %).",
        f"- Building the voice's graph (read, parse, add the output, index the weights): {patch_ms:.0f} ms, once per voice file.",
    ]


def energy_onsets(audio: np.ndarray, rate: int, quiet_s: float = 0.1) -> list[float]:
    """Where the audio turns loud (5 ms frames above -40 dBFS) after at least ``quiet_s`` of quiet."""
    frame = int(0.005 * rate)
    frames = audio[: audio.size - audio.size % frame].astype(np.float32).reshape(-1, frame) / 32768.0
    loud = np.sqrt((frames**2).mean(axis=1)) > 10 ** (-40 / 20)
    onsets, quiet = [], 0
    for number, is_loud in enumerate(loud):
        if is_loud and quiet * frame >= quiet_s * rate:
            onsets.append(number * frame / rate)
        quiet = 0 if is_loud else quiet + 1
    return onsets


def agreement() -> list[str]:
    settings = load_settings().override(cache__dir=tempfile.mkdtemp(prefix="swtts-bench-"))
    lines = []
    with EmbeddedService(settings, workers=2) as service:
        for label, options in (
            ("default noise", SynthesisOptions(use_cache=False, max_chunk_chars=200)),
            ("length_scale 1.6", SynthesisOptions(use_cache=False, max_chunk_chars=200, length_scale=1.6)),
        ):
            result = service.client().synthesize(ARTICLE, options)
            checked = onset_errors(result.audio, result.sample_rate, result.chunks)
            errors = np.array(checked.errors)
            starts = np.array([word.start for word in result.words])
            onsets = energy_onsets(result.audio, result.sample_rate)
            near = [starts[np.abs(starts - onset).argmin()] - onset for onset in onsets]
            lines.append(
                f"- {label}: {len(result.chunks)} chunks, {len(errors)} words. PocketSphinx: median |error| "
                f"**{np.median(np.abs(errors)) * 1000:.0f} ms**, median error {np.median(errors) * 1000:+.0f} ms, "
                f"90 % within {np.percentile(np.abs(errors - np.median(errors)), 90) * 1000:.0f} ms of it. "
                f"Energy onsets after a silence ({len(near)}): median |error| "
                f"**{np.median(np.abs(near)) * 1000:.0f} ms**, median {np.median(near) * 1000:+.0f} ms."
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()
    body = "\n".join(
        [
            machine_line(),
            "",
            "Cost (scripts/bench_timings.py):",
            "",
            *cost(args.rounds),
            "",
            "Agreement with the audio, the three-paragraph text of tests/test_word_timings.py in chunks of 200 "
            "characters (errors are swtts's onset minus the reference's):",
            "",
            *agreement(),
        ]
    )
    print(body)
    if args.write:
        replace_section(DOC, "timings", body)


if __name__ == "__main__":
    main()
