"""Where each phoneme lies in the audio: from one forward pass to a whole chunk.

The voice's graph (patched to expose it, see :func:`swtts.workers.graph.voice_graph`)
gives the samples each phoneme id takes. Piper lays a pass's ids out as BOS, PAD, then each
phoneme's ids followed by a PAD, then EOS; a phoneme takes its ids and the PAD after it, so a
pass's :class:`~swtts.pipeline.timings.Phone` spans cover its audio but for the BOS and EOS
ends. Passes of one sentence are joined with a crossfade (:func:`~swtts.workers.passes.join_pieces`),
sentences back to back; :func:`joined` and :func:`concatenated` move the spans with the audio and
mark each seam with an empty :data:`~swtts.pipeline.timings.BOUNDARY` phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from piper.const import BOS, EOS, PAD

from swtts.pipeline.timings import BOUNDARY, Phone
from swtts.workers.passes import CROSSFADE_S, join_pieces


@dataclass(frozen=True)
class Spoken:
    """Audio (float32) and the span of each of its phonemes; ``phones`` is empty when unknown."""

    audio: np.ndarray
    phones: list[Phone] = field(default_factory=list)


def pass_phones(
    phonemes: Sequence[str], id_map: Mapping[str, Sequence[int]], samples_per_id: np.ndarray | None
) -> list[Phone]:
    """Each phoneme's span in one pass's audio, from the samples per id; [] when they do not fit."""
    if samples_per_id is None:
        return []
    pad = len(id_map.get(PAD, ()))
    counts = [len(id_map.get(BOS, ())) + pad]
    counts += [len(id_map[p]) + pad if p in id_map else 0 for p in phonemes]
    counts.append(len(id_map.get(EOS, ())))
    samples = np.asarray(samples_per_id, dtype=np.int64).reshape(-1)
    if sum(counts) != samples.size:
        return []
    bounds = np.concatenate([[0], np.cumsum(samples)])[np.cumsum(counts)].tolist()
    return [Phone(p, bounds[i], bounds[i + 1]) for i, p in enumerate(phonemes)]


def piece_starts(sizes: Sequence[int], sample_rate: int) -> list[int]:
    """Where each piece starts in :func:`~swtts.workers.passes.join_pieces`'s output (the same crossfade rule)."""
    starts = [0]
    tail_start, tail = 0, sizes[0] if sizes else 0
    for size in sizes[1:]:
        fade = min(round(CROSSFADE_S * sample_rate), tail, size)
        starts.append(tail_start + tail - fade)
        tail_start, tail = starts[-1] + fade, size - fade
    return starts


def joined(pieces: Sequence[Spoken], sample_rate: int) -> Spoken:
    """One sentence's passes joined with the crossfade, their phones moved along."""
    audio = join_pieces([piece.audio for piece in pieces], sample_rate)
    starts = piece_starts([piece.audio.size for piece in pieces], sample_rate)
    return Spoken(audio, _moved(pieces, starts))


def concatenated(parts: Sequence[Spoken]) -> Spoken:
    """Parts back to back (a chunk's sentences), their phones moved along."""
    starts = np.cumsum([0, *(part.audio.size for part in parts)]).tolist()
    audio = np.concatenate([part.audio for part in parts]) if parts else np.zeros(0, np.float32)
    return Spoken(audio, _moved(parts, starts))


def _moved(parts: Sequence[Spoken], starts: Sequence[int]) -> list[Phone]:
    """Every part's phones shifted to where it starts, a boundary before each part after the first.

    Phones are known for all parts or for none (a part without them would shift every later word).
    """
    if any(part.audio.size and not part.phones for part in parts):
        return []
    phones: list[Phone] = []
    for start, part in zip(starts, parts, strict=False):  # concatenated() also has the end
        if phones:
            phones.append(Phone(BOUNDARY, start, start))
        size = part.audio.size
        phones += [Phone(p.symbol, start + min(p.start, size), start + min(p.end, size)) for p in part.phones]
    return phones
