"""Audio cache: keys, LRU/TTL/size bounds, persistence, corruption handling, concurrency, codec."""

from __future__ import annotations

import logging
import logging.handlers
import math
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import re
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from swtts.broker.cache import (
    CACHE_FORMAT_VERSION,
    AudioCache,
    CachedAudio,
    CacheStats,
    Codec,
    CodecError,
    cache_key,
    decode_pcm,
    encode_pcm,
)
from swtts.broker.cache import codec as codec_module
from swtts.broker.cache import keys as keys_module

RATE = 22050
PARAMS = {
    "speaker": 0,
    "length_scale": 1.0,
    "noise_scale": 0.667,
    "noise_w": 0.8,
    "volume": 1.0,
    "loudness_target": -18.0,
    "sample_format": "s16le",
}


class FakeClock:
    """Deterministic time for TTL and LRU order."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += seconds


def speech_like(n: int, seed: int = 0) -> bytes:
    """A smooth, band-limited signal: compresses like speech, unlike white noise."""
    if n == 0:
        return b""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 40.0, n))
    smooth = np.convolve(walk - walk.mean(), np.ones(8) / 8, mode="same")
    return np.clip(smooth, -32768, 32767).astype("<i2").tobytes()


def noise(n_bytes: int, seed: int) -> bytes:
    """Incompressible audio, so every entry has the same stored size."""
    return np.random.default_rng(seed).integers(-32768, 32768, n_bytes // 2, dtype=np.int16).tobytes()


def audio(pcm: bytes, **meta: object) -> CachedAudio:
    return CachedAudio(pcm=pcm, sample_rate=RATE, meta=dict(meta))


def raw_db(directory: Path) -> sqlite3.Connection:
    return sqlite3.connect(directory / "audio-cache.sqlite3", isolation_level=None)


# -- keys ----------------------------------------------------------------------------


def test_key_is_hex_digest_and_stable() -> None:
    key = cache_key("chunk", "Hello world.", "voice-1", PARAMS)
    assert key == cache_key("chunk", "Hello world.", "voice-1", dict(reversed(PARAMS.items())))
    assert re.fullmatch("[0-9a-f]{64}", key), key
    assert isinstance(CACHE_FORMAT_VERSION, int)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("speaker", 1),
        ("length_scale", 1.1),
        ("noise_scale", 0.5),
        ("noise_w", 0.9),
        ("volume", 0.5),
        ("loudness_target", -16.0),
        ("sample_format", "f32le"),
        ("extra", True),
    ],
)
def test_key_changes_with_each_param(name: str, value: object) -> None:
    base = cache_key("chunk", "Hello world.", "voice-1", PARAMS)
    assert cache_key("chunk", "Hello world.", "voice-1", {**PARAMS, name: value}) != base


def test_key_changes_with_voice_kind_text_and_format_version() -> None:
    base = cache_key("chunk", "Hello world.", "voice-1", PARAMS)
    assert cache_key("chunk", "Hello world.", "voice-2", PARAMS) != base
    assert cache_key("doc", "Hello world.", "voice-1", PARAMS) != base
    assert cache_key("chunk", "Hello world!", "voice-1", PARAMS) != base
    with mock.patch.object(keys_module, "CACHE_FORMAT_VERSION", CACHE_FORMAT_VERSION + 1):
        assert cache_key("chunk", "Hello world.", "voice-1", PARAMS) != base


def test_key_ignores_whitespace_and_unicode_composition() -> None:
    base = cache_key("chunk", "Caf\u00e9 au lait, please.", "v", PARAMS)
    assert cache_key("chunk", "  Cafe\u0301 \t au\n\nlait,\u00a0please.  ", "v", PARAMS) == base


def test_key_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        cache_key("sentence", "Hello.", "v", PARAMS)


# -- basic behaviour -----------------------------------------------------------------


def test_hit_and_miss(tmp_path: Path) -> None:
    pcm = speech_like(RATE)
    with AudioCache(tmp_path / "new" / "dir") as cache:
        assert cache.get("absent") is None
        cache.put("k", audio(pcm, chunks=["Hello."], boundaries=[0, len(pcm)]))
        hit = cache.get("k")
        assert hit == CachedAudio(pcm, RATE, {"chunks": ["Hello."], "boundaries": [0, len(pcm)]})
        assert cache.stats().hits == 1 and cache.stats().misses == 1


def test_put_replaces_existing_key(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        cache.put("k", audio(speech_like(100, 1), v=1))
        cache.put("k", audio(speech_like(200, 2), v=2))
        assert cache.get("k") == audio(speech_like(200, 2), v=2)
        assert cache.stats().entries == 1


def test_empty_audio_round_trips(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        cache.put("empty", audio(b""))
        assert cache.get("empty") == audio(b"")


def test_odd_length_pcm_is_rejected(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache, pytest.raises(ValueError, match="int16"):
        cache.put("k", audio(b"\x00\x01\x02"))


def test_persists_across_restart(tmp_path: Path) -> None:
    pcm = speech_like(5000)
    with AudioCache(tmp_path) as cache:
        cache.put("k", audio(pcm, text="persist"))
        cache.get("k")
    with AudioCache(tmp_path) as reopened:
        assert reopened.get("k") == audio(pcm, text="persist")
        assert reopened.stats().hits == 2


def test_closed_cache_refuses_use(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    cache.close()
    cache.close()
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("k")


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"max_entries": 0}, {"ttl_s": 0.0}])
def test_invalid_limits_are_rejected(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AudioCache(tmp_path, **kwargs)  # type: ignore[arg-type]


# -- bounds --------------------------------------------------------------------------


def _entry_size(tmp_path: Path, pcm: bytes) -> int:
    with AudioCache(tmp_path / "probe") as probe:
        probe.put("probe", audio(pcm))
        return probe.stats().bytes_stored


def test_eviction_by_size_drops_least_recently_used(tmp_path: Path) -> None:
    one = _entry_size(tmp_path, noise(4000, 0))
    clock = FakeClock()
    with AudioCache(tmp_path / "c", max_bytes=3 * one + one // 2, clock=clock) as cache:
        for i in range(5):
            cache.put(f"k{i}", audio(noise(4000, i)))
            clock.advance()
        stats = cache.stats()
        assert (stats.entries, stats.evictions) == (3, 2)
        assert stats.bytes_stored <= 3 * one + one // 2
        assert [cache.get(f"k{i}") is not None for i in range(5)] == [False, False, True, True, True]


def test_eviction_by_count_keeps_recently_read(tmp_path: Path) -> None:
    clock = FakeClock()
    with AudioCache(tmp_path, max_entries=3, clock=clock) as cache:
        for name in "abc":
            cache.put(name, audio(speech_like(500), name=name))
            clock.advance()
        assert cache.get("a") is not None
        clock.advance()
        cache.put("d", audio(speech_like(500), name="d"))
        assert cache.get("b") is None
        assert all(cache.get(name) is not None for name in "acd")
        assert cache.stats().evictions == 1


def test_entry_larger_than_max_bytes_is_not_stored(tmp_path: Path) -> None:
    with AudioCache(tmp_path, max_bytes=10_000) as cache:
        cache.put("small", audio(noise(2000, 1)))
        cache.put("huge", audio(noise(20_000, 2)))
        assert cache.get("huge") is None
        assert cache.get("small") is not None
        assert cache.stats().entries == 1


def test_ttl_expiry(tmp_path: Path) -> None:
    clock = FakeClock()
    with AudioCache(tmp_path, ttl_s=60.0, clock=clock) as cache:
        cache.put("old", audio(speech_like(100)))
        clock.advance(30)
        cache.put("young", audio(speech_like(100)))
        clock.advance(29)
        assert cache.get("old") is not None  # reading does not extend the TTL
        clock.advance(2)
        assert cache.get("old") is None
        assert cache.get("young") is not None
        clock.advance(60)
        cache.put("new", audio(speech_like(100)))  # a put purges what has expired
        stats = cache.stats()
        assert (stats.entries, stats.evictions) == (1, 2)


def test_infinite_ttl_never_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    with AudioCache(tmp_path, ttl_s=math.inf, clock=clock) as cache:
        cache.put("k", audio(speech_like(100)))
        clock.advance(1e9)
        cache.put("other", audio(speech_like(100)))
        assert cache.get("k") is not None


# -- corruption ----------------------------------------------------------------------


def _tamper(
    directory: Path, key: str, blob: bytes | None = None, meta: bytes | None = None, fix_crc: bool = False
) -> None:
    with raw_db(directory) as db:
        old_blob, old_meta = db.execute("SELECT blob, meta FROM entries WHERE key = ?", (key,)).fetchone()
        blob = old_blob if blob is None else blob
        meta = old_meta if meta is None else meta
        db.execute("UPDATE entries SET blob = ?, meta = ? WHERE key = ?", (blob, meta, key))
        if fix_crc:
            db.execute("UPDATE entries SET checksum = ? WHERE key = ?", (zlib.crc32(meta, zlib.crc32(blob)), key))
    db.close()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]


def _stored_blob(directory: Path, key: str) -> bytes:
    db = raw_db(directory)
    try:
        return bytes(db.execute("SELECT blob FROM entries WHERE key = ?", (key,)).fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d, b: _tamper(d, "k", blob=_flip(b, len(b) // 2)), id="flipped-byte"),
        pytest.param(lambda d, b: _tamper(d, "k", blob=_flip(b, 5)), id="flipped-header"),
        pytest.param(lambda d, b: _tamper(d, "k", blob=b[: len(b) // 2]), id="truncated"),
        pytest.param(lambda d, b: _tamper(d, "k", meta=b'{"text":"evil"}'), id="meta"),
        pytest.param(lambda d, b: _tamper(d, "k", blob=_flip(b, 40), fix_crc=True), id="bad-lz4-valid-crc"),
        pytest.param(lambda d, b: _tamper(d, "k", blob=b[:-9], fix_crc=True), id="short-lz4-valid-crc"),
        pytest.param(lambda d, b: _tamper(d, "k", blob=b"SA\x09" + b[3:], fix_crc=True), id="unknown-codec"),
    ],
)
def test_corrupt_entry_is_a_miss_and_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path, bytes], None]
) -> None:
    pcm = speech_like(RATE)
    with AudioCache(tmp_path) as cache:
        cache.put("k", audio(pcm, text="ok"))
        cache.put("other", audio(pcm, text="ok"))
        damage(tmp_path, _stored_blob(tmp_path, "k"))
        with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"):
            assert cache.get("k") is None
        assert "corrupt" in caplog.text
        assert cache.get("k") is None
        assert cache.get("other") == audio(pcm, text="ok")
        stats = cache.stats()
        assert (stats.entries, stats.hits, stats.misses) == (1, 1, 2)
    db = raw_db(tmp_path)
    assert db.execute("SELECT COUNT(*) FROM entries WHERE key = 'k'").fetchone()[0] == 0
    db.close()


def test_corrupt_database_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    garbage = b"this is not a sqlite database\n" * 200
    (tmp_path / "audio-cache.sqlite3").write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"), AudioCache(tmp_path) as cache:
        assert cache.get("k") is None
        cache.put("k", audio(speech_like(100)))
        assert cache.get("k") is not None
    aside = list(tmp_path.glob("audio-cache.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert "corrupt" in caplog.text


def _wreck_pages(tmp_path: Path) -> None:
    """Keep the valid SQLite header (so opening succeeds) and destroy every other page."""
    with AudioCache(tmp_path) as cache:
        for i in range(20):
            cache.put(f"k{i}", audio(speech_like(4000, i)))
    path = tmp_path / "audio-cache.sqlite3"
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    path.write_bytes(bytes(data))


def test_database_damaged_while_running_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _wreck_pages(tmp_path)
    with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"), AudioCache(tmp_path) as cache:
        assert cache.get("k3") is None
        cache.put("k3", audio(speech_like(100)))
        assert cache.get("k3") == audio(speech_like(100))
    assert list(tmp_path.glob("audio-cache.sqlite3.corrupt-*"))
    assert "malformed" in caplog.text


def test_stats_and_clear_recover_from_a_damaged_database(tmp_path: Path) -> None:
    _wreck_pages(tmp_path)
    with AudioCache(tmp_path) as cache:
        assert cache.stats() == CacheStats(0, 0, 0.0, 0, 0, 0, 1.0, 0)
    _wreck_pages(tmp_path / "again")
    with AudioCache(tmp_path / "again") as cache:
        assert cache.clear() == 0
    assert list((tmp_path / "again").glob("audio-cache.sqlite3.corrupt-*"))


def test_other_schema_version_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with AudioCache(tmp_path) as cache:
        cache.put("k", audio(speech_like(100)))
    db = raw_db(tmp_path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with caplog.at_level(logging.WARNING, logger="swtts.broker.cache"), AudioCache(tmp_path) as cache:
        assert cache.get("k") is None
        cache.put("k", audio(speech_like(100)))
        assert cache.get("k") is not None
    assert "schema" in caplog.text


# -- stats and clear -----------------------------------------------------------------


def test_stats_counts_and_cross_instance_visibility(tmp_path: Path) -> None:
    clock = FakeClock()
    with AudioCache(tmp_path, max_entries=2, clock=clock) as cache, AudioCache(tmp_path) as observer:
        empty = observer.stats()
        assert empty == CacheStats(0, 0, 0.0, 0, 0, 0, 1.0, 0)
        for i in range(3):
            cache.put(f"k{i}", audio(speech_like(RATE, i), i=i))
            clock.advance()
        cache.get("k1")
        cache.get("k2")
        cache.get("k0")
        stats = observer.stats()
        assert (stats.hits, stats.misses, stats.evictions, stats.entries) == (2, 1, 1, 2)
        assert stats.hit_rate == pytest.approx(2 / 3)
        assert stats.raw_bytes > stats.bytes_stored > 0
        assert stats.compression_ratio == pytest.approx(stats.raw_bytes / stats.bytes_stored)
        assert stats.compression_ratio > 1.3
        assert stats.to_wire() == {
            "hits": 2,
            "misses": 1,
            "hit_rate": stats.hit_rate,
            "entries": 2,
            "bytes_stored": stats.bytes_stored,
            "raw_bytes": stats.raw_bytes,
            "compression_ratio": stats.compression_ratio,
            "evictions": 1,
        }


def test_clear_removes_everything_and_resets_counters(tmp_path: Path) -> None:
    with AudioCache(tmp_path) as cache:
        for i in range(4):
            cache.put(f"k{i}", audio(speech_like(1000, i)))
        cache.get("k0")
        cache.get("nope")
        assert cache.clear() == 4
        assert cache.stats() == CacheStats(0, 0, 0.0, 0, 0, 0, 1.0, 0)
        assert cache.get("k0") is None
        assert cache.clear() == 0


# -- concurrency ---------------------------------------------------------------------


def _concurrent_worker(
    directory: str,
    seed: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[tuple[int, int, list[str]]],
) -> None:
    """Runs in a spawned process: hammer overlapping keys, check every hit is intact."""
    handler = logging.handlers.BufferingHandler(capacity=10**6)  # keeps every record
    handler.setLevel(logging.WARNING)
    warnings = handler.buffer
    logging.getLogger("swtts.broker.cache").addHandler(handler)
    rng = np.random.default_rng(seed)
    hits = gets = 0
    with AudioCache(directory, max_entries=12, max_bytes=2**20) as cache:
        start.wait()
        for _ in range(50):
            n = int(rng.integers(0, 20))
            expected = audio(speech_like(2000 + 100 * n, n), key=n)
            if rng.random() < 0.5:
                cache.put(f"k{n}", expected)
            else:
                got = cache.get(f"k{n}")
                gets += 1
                if got is not None:
                    assert got == expected
                    hits += 1
    results.put((gets, hits, [record.getMessage() for record in warnings]))


def test_concurrent_processes_keep_cache_consistent(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    results = ctx.Queue()
    workers = [ctx.Process(target=_concurrent_worker, args=(str(tmp_path), seed, start, results)) for seed in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert [messages for _, _, messages in outcomes] == [[]] * 4
    gets = sum(g for g, _, _ in outcomes)
    hits = sum(h for _, h, _ in outcomes)
    assert hits > 0, "without a hit no process checked what another one stored"
    with AudioCache(tmp_path) as cache:
        stats = cache.stats()
        assert stats.hits + stats.misses == gets
        assert stats.hits == hits
        assert 0 < stats.entries <= 12
        kept = {n: cache.get(f"k{n}") for n in range(20)}
        assert len([got for got in kept.values() if got is not None]) == stats.entries
        for n, got in kept.items():
            assert got is None or got == audio(speech_like(2000 + 100 * n, n), key=n)
    db = raw_db(tmp_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


# -- codec ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    samples=arrays(np.int16, st.integers(0, 3000)),
    codec=st.sampled_from(list(Codec)),
    level=st.sampled_from([0, 3]),
    block=st.sampled_from([8, 24, codec_module._BLOCK]),
)
def test_codec_round_trip_is_lossless(samples: np.ndarray, codec: Codec, level: int, block: int) -> None:
    pcm = samples.astype("<i2").tobytes()
    with mock.patch.object(codec_module, "_BLOCK", block):  # small blocks exercise the carries
        blob = encode_pcm(pcm, 16000, codec, level)
        assert decode_pcm(blob) == (pcm, 16000)


@pytest.mark.parametrize("codec", list(Codec))
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16383, 16384, 16385, 50001])
def test_codec_round_trip_across_blocks(codec: Codec, n: int) -> None:
    rng = np.random.default_rng(n)
    wild = rng.integers(-32768, 32768, n, dtype=np.int16)
    for pcm in (speech_like(n, n), wild.tobytes(), np.full(n, -32768, np.int16).tobytes()):
        assert decode_pcm(encode_pcm(pcm, RATE, codec)) == (pcm, RATE)


def test_default_codec_compresses_speech() -> None:
    pcm = speech_like(RATE * 2)
    assert len(pcm) / len(encode_pcm(pcm, RATE)) > 1.3


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"SA",
        b"XX" + bytes(14),
        encode_pcm(b"\x01\x00" * 9, RATE)[:-3],
        encode_pcm(b"", RATE) + b"junk",
        b"SA\x03\x00" + RATE.to_bytes(4, "little") + (2**40).to_bytes(8, "little") + b"\x00",
    ],
)
def test_decode_rejects_damaged_blobs(blob: bytes) -> None:
    with pytest.raises(CodecError):
        decode_pcm(blob)
