"""The codec of cached audio: int16 PCM to a small, self-describing blob and back.

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

import enum
import functools
import struct

import lz4.block
import numpy as np


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
stay under the 4 MiB mmap threshold that :func:`settle_allocator` sets, while a long document
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


@functools.cache
def settle_allocator() -> None:
    """Stop glibc from handing each hit's buffers back to the OS, once per process.

    glibc trims free heap above 128 KiB back to the OS until the process frees one large
    mmapped block, after which the limit follows that block's size. A 2 s hit allocates and
    frees ~400 KiB, so in a process that never freed anything bigger every hit faulted its
    pages in afresh: 0.25 ms instead of 0.12 ms. Freeing one 4 MiB block now does what the
    first long document would do anyway; elsewhere it is a harmless allocation.
    """
    scratch = np.empty(4 * 2**20, dtype=np.uint8)
    del scratch
