"""A one-line progress bar on stderr (chunks done / total, audio so far, ETA) for long documents."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws in place; silent when the stream is not a terminal (logs and pipes stay clean)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.started = time.monotonic()
        self.audio_s = 0.0

    def update(self, done: int, total: int | None, audio_s: float) -> None:
        if not self.enabled:
            return
        self.audio_s += audio_s
        elapsed = time.monotonic() - self.started
        if total:
            filled = int(self.width * done / total)
            eta = elapsed / done * (total - done) if done else 0.0
            line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} chunks, {self.audio_s:.0f} s audio, ETA {eta:.0f} s"
        else:
            line = f"{done} chunks, {self.audio_s:.0f} s audio, {elapsed:.0f} s"
        self.stream.write("\r" + line.ljust(self.width + 50))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
