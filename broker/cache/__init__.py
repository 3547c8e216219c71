"""The broker's audio cache: the SQLite store (:mod:`store`), its damage control (:mod:`recovery`), the PCM
codec (:mod:`codec`) and keys (:mod:`keys`).

Only the broker uses it (and ``swtts cache`` on the local directory).
"""

from swtts.broker.cache.codec import DEFAULT_CODEC, DEFAULT_LEVEL, Codec, CodecError, decode_pcm, encode_pcm
from swtts.broker.cache.keys import CACHE_FORMAT_VERSION, cache_key
from swtts.broker.cache.recovery import CacheUnusableError
from swtts.broker.cache.store import AudioCache, CachedAudio, open_cache
from swtts.protocol import CacheStats

__all__ = [
    "CACHE_FORMAT_VERSION",
    "DEFAULT_CODEC",
    "DEFAULT_LEVEL",
    "AudioCache",
    "CacheStats",
    "CacheUnusableError",
    "CachedAudio",
    "Codec",
    "CodecError",
    "cache_key",
    "decode_pcm",
    "encode_pcm",
    "open_cache",
]
