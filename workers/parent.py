"""Children of ``swtts serve`` leave when it does: no orphans. No onnxruntime here, so the
supervisor can use this without loading a voice."""

from __future__ import annotations

import os


def parent_alive(parent_pid: int | None) -> bool:
    """False once the process that started us is gone (we were re-parented)."""
    return parent_pid is None or os.getppid() == parent_pid
