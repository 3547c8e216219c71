"""Cache benchmark: hits through the client against a running service vs. real synthesis.

Starts an embedded service with a private cache directory, then measures, interleaved and
as medians: a short sentence and the 5000-character sample article, each as a miss (cache
bypassed, real synthesis) and as a hit (document-level entry), plus a chunk-level hit (the
article with one paragraph edited). Prints a markdown table; ``--output`` replaces the
``<!-- cache:start -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.report import machine_line, replace_section
from swtts.client import Client, SynthesisOptions
from swtts.config import load_settings
from swtts.service import EmbeddedService

SHORT = "Hello there, how can I help you today?"
ARTICLE = (Path(__file__).resolve().parent.parent / "samples" / "article.txt").read_text()


def timed(client: Client, text: str, use_cache: bool) -> tuple[float, int]:
    started = time.perf_counter()
    result = client.synthesize(text, SynthesisOptions(use_cache=use_cache))
    return (time.perf_counter() - started) * 1000, result.timings.get("cached_chunks", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="hit repetitions for the short sentence")
    parser.add_argument("--miss-repeats", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        settings = load_settings().override(cache__dir=cache_dir)
        with EmbeddedService(settings, workers=2) as service, service.client() as client:
            client.synthesize(SHORT)
            client.synthesize(ARTICLE)
            short_miss: list[float] = []
            article_miss: list[float] = []
            article_hit: list[float] = []
            edited: list[tuple[float, int]] = []
            for repeat in range(args.miss_repeats):
                short_miss.append(timed(client, SHORT, False)[0])
                article_miss.append(timed(client, ARTICLE, False)[0])
                changed = ARTICLE.replace("lighthouses", f"lighthouses (edit {repeat})", 1)
                ms, cached = timed(client, changed, True)
                edited.append((ms, cached))
                article_hit.extend(timed(client, ARTICLE, True)[0] for _ in range(10))
            short_hit = [timed(client, SHORT, True)[0] for _ in range(args.repeats)]
            stats = client.cache_stats()
    if stats is None:
        raise SystemExit("the service runs without a cache")
    rows = [
        ("short sentence, miss (synthesis)", short_miss),
        ("short sentence, hit", short_hit),
        ("5817-char article, miss (synthesis)", article_miss),
        ("5817-char article, document hit", article_hit),
        ("article with one paragraph edited (chunk hits)", [ms for ms, _ in edited]),
    ]
    lines = [
        "| request (through the client, running service) | median ms | p90 ms | n |",
        "|---|---:|---:|---:|",
    ]
    for label, values in rows:
        ordered = sorted(values)
        lines.append(
            f"| {label} | {statistics.median(ordered):.3f} | {ordered[int(0.9 * (len(ordered) - 1))]:.3f} | {len(ordered)} |"
        )
    lines.append("")
    lines.append(
        f"Short hit is {statistics.median(short_miss) / statistics.median(short_hit):.0f}x faster than synthesis; "
        f"article hit {statistics.median(article_miss) / statistics.median(article_hit):.0f}x. "
        f"The edited article re-synthesized only the changed chunks "
        f"({statistics.median([c for _, c in edited]):.0f} chunks came from the cache). "
        f"Compression ratio on this speech: {stats.compression_ratio:.2f} "
        f"({stats.raw_bytes / 2**20:.1f} MiB raw in {stats.bytes_stored / 2**20:.1f} MiB)."
    )
    table = "\n".join(lines)
    print(table)
    if args.output:
        replace_section(args.output, "cache", f"{machine_line()}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
