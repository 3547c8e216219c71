"""When the cache's storage fails: telling corruption (recoverable) from the rest, and moving a
corrupt database aside without letting the moved-aside files pile up.

A database file SQLite refuses outright (not a database, malformed) is renamed to
``*.corrupt-<ns timestamp>`` for a post-mortem and a fresh one started, under a directory
``flock`` so that several processes recovering at once do not move each other's fresh file
aside. Only the newest :data:`KEEP_CORRUPT` such files are kept: a disk that keeps corrupting
the cache must not also fill up with its wrecks. Any other failure (read-only folder, full
disk, a lock never released) is not recoverable here: the store stops using the cache, once,
with one warning (see :class:`~swtts.broker.cache.store.AudioCache`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

KEEP_CORRUPT = 3
_LOCK_NAME = "audio-cache.lock"
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class CacheUnusableError(RuntimeError):
    """The cache folder or database cannot be used (read-only, full, locked, beyond repair)."""


def is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Serialise open/recovery across processes so nobody moves a fresh file aside."""
    with open(directory / _LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def move_aside(path: Path, problem: str) -> None:
    """Rename a corrupt database (and drop its journal files), keeping only the newest few wrecks."""
    target = path.with_name(f"{path.name}.corrupt-{time.time_ns()}")
    log.warning("audio cache %s is corrupt (%s); moved to %s", path, problem, target)
    if path.exists():
        os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    prune_corrupt(path)


def prune_corrupt(path: Path, keep: int = KEEP_CORRUPT) -> None:
    """Delete all but the ``keep`` newest ``*.corrupt-*`` files of ``path``."""
    wrecks = sorted(path.parent.glob(f"{path.name}.corrupt-*"), key=_stamp, reverse=True)
    for old in wrecks[keep:]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
            log.info("deleted old corrupt cache file %s (keeping the newest %d)", old, keep)


def _stamp(path: Path) -> int:
    suffix = path.name.rpartition(".corrupt-")[2]
    return int(suffix) if suffix.isdigit() else 0
