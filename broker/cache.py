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
A database file that SQLite refuses outright (not a database / malformed) is renamed to
``*.corrupt-<ns timestamp>`` and a fresh one started, under a directory ``flock`` so that
several processes recovering at once do not move each other's fresh file aside.

Codec: int16 speech barely compresses with plain lz4 (1.13x on Piper output) because lz4
only finds repeated byte strings. Cheap reversible filters turn audio into such strings: a
second-order difference (linear prediction ``2x[n-1] - x[n-2]``) leaves small residuals,
zigzag maps them to small unsigned codes (-1 becomes 0x0001, not 0xFFFF) and a byte
shuffle puts the mostly-zero high bytes in one long run. Measured on a minute of real Piper
speech (``scripts/bench_codec.py``): 1.72x at ~1.3 GB/s encode and 0.07 ms decode for a
2 s sentence, against 1.43x for a plain shuffle and 1.62x with a first-order difference.
The default stops there on purpose:

* a bit-plane shuffle (``DELTA2_BITSHUFFLE``) reaches 2.05x but doubles decode time, and
  a hit is paid on every lookup while capacity is not: with the default limits (2000
  entries, 200 MiB) a cache full of 2 s chunks at 1.7x holds ~100 MiB, so the entry cap
  binds first. It is available per cache via ``AudioCache(codec=...)``;
* lz4's high-compression mode adds 5 % (level 3) to 10 % (level 9) ratio on this filter
  for 13-70x the encode time, and encoding runs on the broker's event loop.

Decoding is done in blocks of ``_BLOCK`` samples so that no temporary crosses glibc's
mmap threshold: whole-clip numpy temporaries measured 2-3x slower when each one had to
be faulted in afresh. The raw lz4 *block* format is used rather than the frame
format because our header already records the length and our CRC covers integrity, so
the frame's own header and checksums would be pure overhead. The codec id in every blob
lets the format evolve; every listed codec stays decodable.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import functools
import json
import logging
import math
import os
import sqlite3
import struct
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, TypeVar

import lz4.block
import numpy as np

from swtts.protocol import CacheStats

__all__ = [
    "CACHE_FORMAT_VERSION",
    "DEFAULT_CODEC",
    "AudioCache",
    "CacheStats",
    "CachedAudio",
    "Codec",
    "CodecError",
    "cache_key",
    "decode_pcm",
    "encode_pcm",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

CACHE_FORMAT_VERSION = 1
"""Bumped whenever cached audio for the same inputs would differ; it is hashed into every key."""

_SCHEMA_VERSION = 1
_DB_NAME = "audio-cache.sqlite3"
_LOCK_NAME = "audio-cache.lock"
_BUSY_TIMEOUT_S = 5.0
_WAL_CHECKPOINT_PAGES = 4000
"""A hit writes ~3 pages of bookkeeping, and the commit that crosses this many WAL pages
pays the checkpoint's fsyncs (4-20 ms measured here): every ~1300 hits, not every ~330."""
_WAL_SIZE_LIMIT = _WAL_CHECKPOINT_PAGES * 4096
_KINDS = frozenset({"chunk", "doc"})
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class Codec(enum.IntEnum):
    """Reversible pre-filter applied to int16 PCM before lz4; stored in every blob header."""

    PLAIN = 0
    SHUFFLE = 1
    DELTA_SHUFFLE = 2
    DELTA2_SHUFFLE = 3
    DELTA2_BITSHUFFLE = 4


DEFAULT_CODEC = Codec.DELTA2_SHUFFLE
DEFAULT_LEVEL = 0
"""lz4 level for new entries: 0 is the fast mode, 1..12 the high-compression mode."""


class CodecError(ValueError):
    """A blob cannot be decoded back into the PCM it claims to hold."""


_HEADER = struct.Struct("<2sBxIQ")  # magic, codec, pad, sample rate, PCM byte length
_MAGIC = b"SA"
_LZ4_MAX_RATIO = 255  # lz4 cannot expand one input byte to more, so a larger claim is a lie
_I16 = np.dtype("<i2")
_U16 = np.dtype("<u2")
_U64 = np.dtype("<u8")
_BIT_MASKS = (
    (np.uint64(7), np.uint64(0x00AA00AA00AA00AA)),
    (np.uint64(14), np.uint64(0x0000CCCC0000CCCC)),
    (np.uint64(28), np.uint64(0x00000000F0F0F0F0)),
)


_ORDER = {
    Codec.SHUFFLE: 0,
    Codec.DELTA_SHUFFLE: 1,
    Codec.DELTA2_SHUFFLE: 2,
    Codec.DELTA2_BITSHUFFLE: 2,
}
_DECODE_BLOCK = 1 << 18
"""Samples per decode step for the byte-shuffle codecs: two int32 scratch buffers of 1 MiB
stay under the 4 MiB mmap threshold that ``_settle_allocator`` sets, while a long document
(300 s of audio) needs ~25 steps instead of ~400 (Python overhead per step dominated)."""
_BLOCK = 16384
"""Samples per decode step, small enough that int32 scratch stays under the mmap threshold.

It is also the block size of the ``DELTA2_BITSHUFFLE`` layout, so changing it needs a new
codec id.
"""


def _delta(x: np.ndarray, order: int) -> np.ndarray:
    """Repeated first difference with int16 wraparound, so every input is representable."""
    for _ in range(order):
        d = np.empty_like(x)
        d[:1] = x[:1]
        np.subtract(x[1:], x[:-1], out=d[1:])
        x = d
    return x


def _zigzag(d: np.ndarray) -> np.ndarray:
    """Map signed residuals to unsigned codes so small magnitudes of either sign stay small."""
    return (d.view(_U16) << 1) ^ (d >> 15).view(_U16)


def _byte_planes(u: np.ndarray) -> np.ndarray:
    """Low bytes of all samples, then high bytes: lz4 then sees long runs of near-zero bytes."""
    n = len(u)
    out = np.empty(2 * n, dtype=np.uint8)
    out[:n] = u  # keeps the low byte
    np.right_shift(u, 8, out=out[n:], casting="unsafe")
    return out


def _bit_planes(u: np.ndarray) -> np.ndarray:
    """Bit-plane shuffle of one block: bits above the residuals' range become zero runs."""
    n = len(u)
    padded = np.zeros(n + (-n) % 8, dtype=_U16)
    padded[:n] = u
    groups = _transpose8x8(_byte_planes(padded).view(_U64))
    return np.ascontiguousarray(groups.view(np.uint8).reshape(-1, 8).T).reshape(-1)


def _transpose8x8(x: np.ndarray) -> np.ndarray:
    """Transpose each uint64 as an 8x8 bit matrix, in place (it is its own inverse)."""
    t = np.empty_like(x)
    for shift, mask in _BIT_MASKS:
        np.right_shift(x, shift, out=t)
        t ^= x
        t &= mask
        x ^= t
        t <<= shift
        x ^= t
    return x


def _filtered_size(codec: Codec, n_samples: int) -> int:
    if codec is Codec.DELTA2_BITSHUFFLE:
        return 2 * (n_samples + (-n_samples) % 8)
    return 2 * n_samples


def _prefilter(codec: Codec, samples: np.ndarray) -> np.ndarray:
    if codec is Codec.PLAIN:
        return samples
    order = _ORDER[codec]
    codes = _zigzag(_delta(samples, order)) if order else samples.view(_U16)
    if codec is Codec.DELTA2_BITSHUFFLE:
        blocks = [_bit_planes(codes[i : i + _BLOCK]) for i in range(0, len(codes), _BLOCK)]
        return np.concatenate(blocks)
    return _byte_planes(codes)


def _load_codes(codec: Codec, planes: np.ndarray, n: int, start: int, codes: np.ndarray) -> None:
    """Fill ``codes`` (int32) with the pre-filter output for samples ``start:start+len``."""
    k = len(codes)
    if codec is Codec.DELTA2_BITSHUFFLE:
        padded = k + (-k) % 8
        block = planes[2 * start : 2 * (start + padded)].reshape(8, -1)
        groups = _transpose8x8(np.ascontiguousarray(block.T).view(_U64).reshape(-1))
        planes, n, start = groups.view(np.uint8), padded, 0
    codes[:] = planes[n + start : n + start + k]
    codes <<= 8
    codes |= planes[start : start + k]


def _postfilter(codec: Codec, data: bytes, n: int) -> bytes:
    """Invert the pre-filter block by block, carrying the running sums across blocks.

    Arithmetic is int32 (cumsum is ~3x faster than in int16) and agrees with int16
    wraparound modulo 2**16, so the final narrowing is exact.
    """
    if codec is Codec.PLAIN:
        return data
    planes = np.frombuffer(data, dtype=np.uint8)
    order = _ORDER[codec]
    out = np.empty(n, dtype=_I16)
    block = _BLOCK if codec is Codec.DELTA2_BITSHUFFLE else _DECODE_BLOCK
    codes_buf = np.empty(min(n, block), dtype=np.int32)
    sign_buf = np.empty_like(codes_buf)
    carries = [0] * order
    for start in range(0, n, block):
        stop = min(start + block, n)
        codes = codes_buf[: stop - start]
        _load_codes(codec, planes, n, start, codes)
        if order:
            sign = sign_buf[: stop - start]
            np.bitwise_and(codes, 1, out=sign)
            np.negative(sign, out=sign)
            codes >>= 1
            codes ^= sign
        for level in range(order):
            codes[0] += carries[level]
            np.cumsum(codes, out=codes)
            carries[level] = (int(codes[-1]) + 0x8000) % 0x10000 - 0x8000
        out[start:stop] = codes
    return out.tobytes()


def encode_pcm(pcm: bytes, sample_rate: int, codec: Codec = DEFAULT_CODEC, level: int = DEFAULT_LEVEL) -> bytes:
    """Compress int16 LE mono PCM into a self-describing blob (header + lz4 block)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM length {len(pcm)} is not a whole number of int16 samples")
    samples = np.frombuffer(pcm, dtype=_I16)
    if not len(samples):
        body = b""
    elif level > 0:
        body = lz4.block.compress(
            _prefilter(codec, samples),
            mode="high_compression",
            compression=level,
            store_size=False,
        )
    else:
        body = lz4.block.compress(_prefilter(codec, samples), store_size=False)
    return _HEADER.pack(_MAGIC, codec, sample_rate, len(pcm)) + body


def decode_pcm(blob: bytes) -> tuple[bytes, int]:
    """Return ``(pcm, sample_rate)`` from :func:`encode_pcm` output; raise CodecError if damaged."""
    if len(blob) < _HEADER.size:
        raise CodecError(f"blob of {len(blob)} bytes is shorter than its header")
    magic, codec_id, sample_rate, raw_size = _HEADER.unpack_from(blob)
    if magic != _MAGIC or raw_size % 2:
        raise CodecError("bad blob header")
    try:
        codec = Codec(codec_id)
    except ValueError:
        raise CodecError(f"unknown codec id {codec_id}") from None
    n = raw_size // 2
    size = _filtered_size(codec, n)
    body = memoryview(blob)[_HEADER.size :]
    if size == 0:
        if len(body):
            raise CodecError("trailing data after empty audio")
        return b"", sample_rate
    if size > _LZ4_MAX_RATIO * len(body) + 64:
        raise CodecError(f"header claims {size} bytes from a {len(body)}-byte body")
    try:
        data = lz4.block.decompress(body, uncompressed_size=size)
    except lz4.block.LZ4BlockError as exc:
        raise CodecError(f"lz4: {exc}") from exc
    if len(data) != size:
        raise CodecError(f"decoded {len(data)} bytes, header says {size}")
    return _postfilter(codec, data, n), sample_rate


def _canonical_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def cache_key(kind: str, text: str, voice_hash: str, params: Mapping[str, Any]) -> str:
    """Hex SHA-256 over everything that determines the audio, so equal keys mean equal audio.

    Text is NFC-normalised with whitespace runs collapsed and stripped, since those never
    change what is spoken; ``params`` is serialised as canonical JSON (sorted keys).
    """
    if kind not in _KINDS:
        raise ValueError(f"cache key kind must be one of {sorted(_KINDS)}, not {kind!r}")
    payload = json.dumps(
        {
            "format": CACHE_FORMAT_VERSION,
            "kind": kind,
            "params": dict(params),
            "text": _canonical_text(text),
            "voice": voice_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return sha256(payload.encode("utf-8")).hexdigest()


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


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _checksum(blob: bytes, meta: bytes) -> int:
    return zlib.crc32(meta, zlib.crc32(blob))


@functools.cache
def _settle_allocator() -> None:
    """Stop glibc from handing each hit's buffers back to the OS, once per process.

    glibc trims free heap above 128 KiB back to the OS until the process frees one large
    mmapped block, after which the limit follows that block's size. A 2 s hit allocates and
    frees ~400 KiB, so in a process that never freed anything bigger every hit faulted its
    pages in afresh: 0.25 ms instead of 0.12 ms. Freeing one 4 MiB block now does what the
    first long document would do anyway; elsewhere it is a harmless allocation.
    """
    scratch = np.empty(4 * 2**20, dtype=np.uint8)
    del scratch


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
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / _DB_NAME
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._codec = codec
        self._conn: sqlite3.Connection | None = self._open(verify=False)
        _settle_allocator()

    # -- connection management -------------------------------------------------------

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        """Serialise open/recovery across processes so nobody moves a fresh file aside."""
        with open(self.directory / _LOCK_NAME, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _open(self, verify: bool) -> sqlite3.Connection:
        """Connect, moving an unusable database aside; ``verify`` adds a full quick_check."""
        with self._directory_lock():
            try:
                conn = self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                problem = str(exc)
            else:
                found = self._quick_check(conn) if verify else None
                if found is None:
                    return conn
                conn.close()
                problem = found
            self._move_aside(problem)
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
            if not _is_corruption(exc):
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

    def _move_aside(self, problem: str) -> None:
        target = self.path.with_name(f"{self.path.name}.corrupt-{time.time_ns()}")
        log.warning("audio cache %s is corrupt (%s); moved to %s", self.path, problem, target)
        if self.path.exists():
            os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

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
        bad); if even that fails the old connection stays and later calls keep missing.
        """
        log.warning("audio cache %s failed: %s", action, exc)
        if not _is_corruption(exc):
            return
        try:
            fresh = self._open(verify=True)
        except (sqlite3.Error, OSError) as again:
            log.error("audio cache recovery failed: %s", again)
            return
        self._require().close()
        self._conn = fresh

    # -- public API ------------------------------------------------------------------

    def get(self, key: str) -> CachedAudio | None:
        """Return the audio for ``key``, or None if absent, expired or damaged."""
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
        """Store ``audio`` under ``key`` atomically, then evict down to the limits."""
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
        self._require()
        try:
            return operation()
        except sqlite3.Error as exc:
            self._handle_error(exc, action)
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
