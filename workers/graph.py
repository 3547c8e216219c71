"""The voice's graph with its phoneme-duration tensor (``w_ceil``) as a second output, in memory only.

Protobuf merges a message's repeated fields when it is read twice, so the file's bytes followed
by a small message holding just that graph output are the patched model: no re-serializing of
the weights (a third of a second for a 60 MB voice). Finding the tensor still takes importing
onnx and parsing the model, about 0.15 s on a small machine: most of what a cold one-shot
``say`` spent beyond the Piper CLI. So the small message is kept, one file per voice file, in a
folder (``graphs/`` in the cache's folder), keyed by the model's path, size, inode and
modification time; a later load reads it back and needs neither onnx nor the parse. A folder
that cannot be written only costs that time again: nothing fails for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

LOGGER = logging.getLogger(__name__)

__all__ = ["alignment_graph", "alignment_suffix"]


def alignment_graph(model_path: Path, folder: Path | None = None) -> bytes:
    """The model's bytes with the duration output added (as they are, if it already has one).

    ``folder`` keeps each model's patch for the next load (None: computed every time).
    """
    raw = model_path.read_bytes()
    kept = _kept_path(model_path, folder) if folder is not None else None
    if kept is not None:
        with contextlib.suppress(OSError):
            return raw + kept.read_bytes()
    suffix = alignment_suffix(raw, model_path)
    if kept is not None:
        _keep(kept, suffix)
    return raw + suffix


def alignment_suffix(raw: bytes, model_path: Path) -> bytes:
    """The small serialized model that, appended to ``raw``, marks the ``w_ceil`` tensor as an output."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    try:
        tensor = add_alignment_output(onnx.load_from_string(raw))  # on a parsed copy: only its name is kept
    except ValueError as exc:
        LOGGER.debug("no alignment output added to %s: %s", model_path, exc)
        return b""
    suffix: bytes = onnx.ModelProto(
        graph=onnx.GraphProto(output=[onnx.ValueInfoProto(name=tensor)])
    ).SerializeToString()
    return suffix


def _kept_path(model_path: Path, folder: Path) -> Path | None:
    """Where ``model_path``'s patch is kept: named by what identifies this very file (None if unreadable)."""
    try:
        stat = model_path.stat()
    except OSError:
        return None
    identity = f"{model_path.resolve()}\0{stat.st_size}\0{stat.st_ino}\0{stat.st_mtime_ns}"
    return folder / f"{model_path.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:24]}.suffix"


def _keep(path: Path, suffix: bytes) -> None:
    """Write ``suffix`` whole or not at all (a temporary file renamed into place)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    except OSError as exc:
        LOGGER.debug("the voice's graph patch is not kept in %s: %s", path.parent, exc)
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(suffix)
        os.replace(temporary, path)
    except OSError as exc:
        LOGGER.debug("the voice's graph patch is not kept in %s: %s", path.parent, exc)
        Path(temporary).unlink(missing_ok=True)
