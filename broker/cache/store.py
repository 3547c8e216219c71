"""Persistent, multi-process audio cache so recurring text answers without synthesis.

The broker looks every chunk and every whole document up here before dispatching work to
the Piper workers, and stores each successful result. Only successful audio is ever put;
there is no negative caching.

Storage: one SQLite database in the cache directory (stdlib ``sqlite3``, WAL journal,
``synchronous=NORMAL``, 5 s busy timeout). SQLite gives us, for free, what a directory of
files would need hand-written: atomic replace, crash safety (a torn write is rolled back by
the journal, never half-visible), cross-process locking, and a single place for the
hit/miss/eviction counters so ``swtts cache stats`` in another process sees the broker's
totals. Every read-modify-write runs inside ``BEGIN IMMEDIATE`` so a reader never has to
upgrade a snapshot to a write lock (which SQLite refuses in WAL mode instead of waiting).
Small bookkeeping columns come before the blob in each row and a covering index on
``(accessed, stored_size, raw_size)`` serves both LRU order and the size totals, so
eviction and ``stats()`` never walk the blob pages.

Integrity: each blob carries a header (magic, codec id, sample rate, PCM length) and a
CRC-32 over blob + metadata is stored beside it. ``get`` verifies the CRC before decoding
and checks the decoded length; any mismatch, bad header or lz4 error is logged, the entry
is deleted and the lookup is a miss. CRC-32 is enough here: the threat is torn or rotted
storage, not an adversary, and it costs ~7 us on a sentence where SHA-256 costs ~40 us.
A database file SQLite refuses outright is moved aside and a fresh one started
(:mod:`recovery`).

Degrade, don't die: a cache that cannot be used (read-only folder, full disk, a lock never
released, damage beyond repair) is logged once and then left alone: every lookup is a miss
and every store is skipped (:attr:`AudioCache.broken` says why), and :func:`open_cache` gives
the broker no cache at all when one cannot even be opened. Synthesis never depends on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from swtts.broker.cache.codec import DEFAULT_CODEC, Codec, CodecError, decode_pcm, encode_pcm, settle_allocator
from swtts.broker.cache.recovery import CacheUnusableError, directory_lock, is_corruption, move_aside
from swtts.config import CacheSettings
from swtts.protocol import CacheStats

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_SCHEMA_VERSION = 1
_DB_NAME = "audio-cache.sqlite3"
_BUSY_TIMEOUT_S = 5.0
_WAL_CHECKPOINT_PAGES = 4000
"""A hit writes ~3 pages of bookkeeping, and the commit that crosses this many WAL pages
pays the checkpoint's fsyncs (4-20 ms measured here): every ~1300 hits, not every ~330."""
_WAL_SIZE_LIMIT = _WAL_CHECKPOINT_PAGES * 4096


@dataclass(frozen=True)
class CachedAudio:
    """One cached result; ``meta`` round-trips through JSON (tuples come back as lists)."""

    pcm: bytes
    sample_rate: int
    meta: dict[str, Any]


_SCHEMA = (
    """CREATE TABLE entries (
        key TEXT PRIMARY KEY,
        created REAL NOT NULL,
        accessed REAL NOT NULL,
        raw_size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        checksum INTEGER NOT NULL,
        meta BLOB NOT NULL,
        blob BLOB NOT NULL
    )""",
    "CREATE INDEX entries_lru ON entries (accessed, stored_size, raw_size)",
    "CREATE INDEX entries_created ON entries (created)",
    """CREATE TABLE counters (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        hits INTEGER NOT NULL,
        misses INTEGER NOT NULL,
        evictions INTEGER NOT NULL
    )""",
    "INSERT INTO counters VALUES (0, 0, 0, 0)",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)


def _checksum(blob: bytes, meta: bytes) -> int:
    return zlib.crc32(meta, zlib.crc32(blob))


class AudioCache:
    """Size-, count- and TTL-bounded LRU cache of synthesized audio in one SQLite file.

    One connection per object; use each object from a single thread. Any number of
    objects in any number of processes may share a directory. ``codec`` only affects new
    entries: every entry names its own codec, so a directory may hold a mix.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int = 200 * 2**20,
        max_entries: int = 2000,
        ttl_s: float = 7200.0,
        clock: Callable[[], float] = time.time,
        *,
        codec: Codec = DEFAULT_CODEC,
    ) -> None:
        if max_bytes <= 0 or max_entries <= 0 or not ttl_s > 0:
            raise ValueError("max_bytes, max_entries and ttl_s must be positive")
        self.directory = Path(directory)
        self.path = self.directory / _DB_NAME
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._codec = codec
        self.broken = ""  # why the cache is no longer used (empty while it is)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = self._open(verify=False)
        except (OSError, sqlite3.Error) as exc:
            raise CacheUnusableError(f"the audio cache at {self.directory} cannot be used: {exc}") from exc
        settle_allocator()

    # -- connection management -------------------------------------------------------

    def _open(self, verify: bool) -> sqlite3.Connection:
        """Connect, moving an unusable database aside; ``verify`` adds a full quick_check."""
        with directory_lock(self.directory):
            try:
                conn = self._connect()
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                problem = str(exc)
            else:
                found = self._quick_check(conn) if verify else None
                if found is None:
                    return conn
                conn.close()
                problem = found
            move_aside(self.path, problem)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _quick_check(conn: sqlite3.Connection) -> str | None:
        """None if SQLite finds the file sound, else a description of the damage."""
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            return str(exc)
        return None if rows == [("ok",)] else f"quick_check: {rows[:3]}"

    @staticmethod
    def _ensure_schema(conn: sqlite3.Connection) -> None:
        """Create tables on first use; a database from another schema version is rebuilt."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                if version:
                    log.warning("audio cache schema %d != %d; rebuilding", version, _SCHEMA_VERSION)
                conn.execute("DROP TABLE IF EXISTS entries")
                conn.execute("DROP TABLE IF EXISTS counters")
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("AudioCache is closed")
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._require()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _handle_error(self, exc: sqlite3.Error, action: str) -> None:
        """Storage trouble must cost a cache miss, never the broker.

        On corruption the database is reopened with a full check (moved aside if still
        bad). Anything else, or a recovery that fails, ends the use of the cache.
        """
        if not is_corruption(exc):
            self._give_up(f"{action} failed: {exc}")
            return
        log.warning("audio cache %s failed: %s", action, exc)
        try:
            fresh = self._open(verify=True)
        except (sqlite3.Error, OSError) as again:
            self._give_up(f"recovery after a corrupt {action} failed: {again}")
            return
        self._require().close()
        self._conn = fresh

    def _give_up(self, reason: str) -> None:
        """One warning, then no more use of the cache (no more warnings either)."""
        self.broken = reason
        log.warning("audio cache %s is unusable (%s); going on without it", self.directory, reason)
        self.close()

    # -- public API ------------------------------------------------------------------

    def get(self, key: str) -> CachedAudio | None:
        """Return the audio for ``key``, or None if absent, expired or damaged (or the cache broken)."""
        if self.broken:
            return None
        try:
            with self._write() as conn:
                audio = self._lookup(conn, key, self._clock())
                column = "hits" if audio is not None else "misses"
                conn.execute(f"UPDATE counters SET {column} = {column} + 1")
            return audio
        except sqlite3.Error as exc:
            self._handle_error(exc, "get")
            return None

    def _lookup(self, conn: sqlite3.Connection, key: str, now: float) -> CachedAudio | None:
        row = conn.execute("SELECT rowid, created, checksum, meta, blob FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        rowid, created, checksum, meta, blob = row
        if now - created > self.ttl_s:
            conn.execute("DELETE FROM entries WHERE rowid = ?", (rowid,))
            conn.execute("UPDATE counters SET evictions = evictions + 1")
            return None
        try:
            if _checksum(blob, meta) != checksum:
                raise CodecError("checksum mismatch")
            pcm, sample_rate = decode_pcm(blob)
            meta_obj = json.loads(meta)
        except ValueError as exc:  # CodecError, JSON and UTF-8 errors are all ValueErrors
            log.warning("audio cache entry %s is corrupt (%s); deleted", key, exc)
            conn.execute("DELETE FROM entries WHERE rowid = ?", (rowid,))
            return None
        conn.execute("UPDATE entries SET accessed = ? WHERE rowid = ?", (now, rowid))
        return CachedAudio(pcm=pcm, sample_rate=sample_rate, meta=meta_obj)

    def put(self, key: str, audio: CachedAudio) -> None:
        """Store ``audio`` under ``key`` atomically, then evict down to the limits (skipped if broken)."""
        if self.broken:
            return
        self._require()
        blob = encode_pcm(audio.pcm, audio.sample_rate, self._codec)
        meta = json.dumps(audio.meta, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        stored_size = len(blob) + len(meta)
        if stored_size > self.max_bytes:
            log.debug("audio cache entry %s (%d B) exceeds max_bytes; not stored", key, stored_size)
            return
        now = self._clock()
        try:
            with self._write() as conn:
                rowid = conn.execute(
                    "INSERT OR REPLACE INTO entries"
                    " (key, created, accessed, raw_size, stored_size, checksum, meta, blob)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        now,
                        now,
                        len(audio.pcm) + len(meta),
                        stored_size,
                        _checksum(blob, meta),
                        meta,
                        blob,
                    ),
                ).lastrowid
                self._evict(conn, rowid, now)
        except sqlite3.Error as exc:
            self._handle_error(exc, "put")

    def _evict(self, conn: sqlite3.Connection, keep: int | None, now: float) -> None:
        """Drop expired entries, then least recently used ones, never the entry just put."""
        evicted = 0
        if math.isfinite(self.ttl_s):
            evicted += conn.execute("DELETE FROM entries WHERE created < ?", (now - self.ttl_s,)).rowcount
        count, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(stored_size), 0) FROM entries").fetchone()
        if count > self.max_entries or total > self.max_bytes:
            victims: list[tuple[int]] = []
            candidates = conn.execute(
                "SELECT rowid, stored_size FROM entries WHERE rowid != ? ORDER BY accessed",
                (keep,),
            )
            for rowid, size in candidates:
                if count <= self.max_entries and total <= self.max_bytes:
                    break
                victims.append((rowid,))
                count -= 1
                total -= size
            candidates.close()
            conn.executemany("DELETE FROM entries WHERE rowid = ?", victims)
            evicted += len(victims)
        if evicted:
            conn.execute("UPDATE counters SET evictions = evictions + ?", (evicted,))

    def stats(self) -> CacheStats:
        """Totals for the whole directory, including other processes' hits and misses."""
        return self._admin("stats", self._read_stats)

    def clear(self) -> int:
        """Delete every entry and reset the counters; returns how many entries were removed."""
        return self._admin("clear", self._clear)

    def _admin(self, action: str, operation: Callable[[], _T]) -> _T:
        """Run stats/clear; after a storage error (and any recovery) retry once, then raise."""
        if not self.broken:
            self._require()
            try:
                return operation()
            except sqlite3.Error as exc:
                self._handle_error(exc, action)
        if self.broken:
            raise CacheUnusableError(f"the audio cache at {self.directory} is unusable: {self.broken}")
        return operation()

    def _read_stats(self) -> CacheStats:
        conn = self._require()
        conn.execute("BEGIN")  # one snapshot for both reads
        try:
            entries, stored, raw = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(stored_size), 0), COALESCE(SUM(raw_size), 0) FROM entries"
            ).fetchone()
            hits, misses, evictions = conn.execute("SELECT hits, misses, evictions FROM counters").fetchone()
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        lookups = hits + misses
        return CacheStats(
            hits=hits,
            misses=misses,
            hit_rate=hits / lookups if lookups else 0.0,
            entries=entries,
            bytes_stored=stored,
            raw_bytes=raw,
            compression_ratio=raw / stored if stored else 1.0,
            evictions=evictions,
        )

    def _clear(self) -> int:
        with self._write() as conn:
            removed: int = conn.execute("DELETE FROM entries").rowcount
            conn.execute("UPDATE counters SET hits = 0, misses = 0, evictions = 0")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> AudioCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_cache(settings: CacheSettings) -> AudioCache | None:
    """The configured cache, or None with one warning when it cannot be used: the service runs without it."""
    try:
        return AudioCache(settings.directory(), settings.max_mb * 2**20, settings.max_entries, settings.ttl_s)
    except CacheUnusableError as exc:
        log.warning("%s; going on without a cache", exc)
        return None
