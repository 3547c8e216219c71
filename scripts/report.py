"""Shared bits for benchmark scripts: the machine line and marker-delimited sections of a doc."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import date
from pathlib import Path


def machine_line(commit: str | None = None) -> str:
    """Where and when figures were taken: CPU model, cores, memory, date, commit (``git``'s if not given)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kib / 2**20:.0f} GiB"
    except OSError:
        memory = "? GiB"
    return f"Machine: {model}, {os.cpu_count()} cores, {memory}; {date.today().isoformat()}; commit {commit or git_commit()}."


def git_commit() -> str:
    """The tree's short commit, or ``?`` where there is no git or no repository (a copied tree)."""
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return found.stdout.strip() or "?"


def replace_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, appending if absent."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
