"""The voice's graph as onnxruntime opens it: its phoneme-duration tensor (``w_ceil``) made a
second output, and its large weights read in place from the voice file.

Word timings need those durations, and Piper's graph gives audio only, so the graph is edited.
Editing means importing onnx and parsing the 60 MB model (about 0.15 s on a small machine),
and handing onnxruntime 60 MB of Python bytes opens the voice in about 0.28 s where the file
itself opens in 0.18 s. So the edited graph is kept without its large tensors (under 1 MB; in
``graphs/`` in the cache's folder, one file per voice file and form, keyed by the model's path,
size, inode and modification time), with an index of where each tensor's bytes lie in the voice
file. One-thread CPU sessions get a second form, with 2-D convolutions (:mod:`swtts.workers.conv2d`).
A load maps the voice file read-only and gives onnxruntime those spans as external
initializers: no onnx, no 60 MB copy through Python, about 0.14 s. A folder that cannot be
written only costs the edit again: nothing fails for it. Keeping a graph removes those of voice
files that are gone or have changed since theirs was kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swtts.workers.voice_files import initializer_spans

LOGGER = logging.getLogger(__name__)

__all__ = ["VoiceGraph", "Weight", "build_graph", "voice_graph"]

EXTERNAL_MIN_BYTES = 4096
"""Float tensors from this size on are read from the voice file; smaller ones (and every
integer tensor: shapes, which onnxruntime's shape inference reads while loading) stay inline."""

_FORMAT = 1
"""The kept file's layout: a JSON header line, then the serialized model (a new layout, a new number)."""


@dataclass(frozen=True)
class Weight:
    """One tensor left outside the kept model: its bytes are ``source[start:end]``."""

    name: str
    start: int
    end: int
    dtype: str  # numpy's name for it, little-endian as ONNX stores it ('<f4')
    shape: tuple[int, ...]


@dataclass(frozen=True)
class VoiceGraph:
    """What a session is opened from: the model with ``weights`` left out, and the file they are in.

    ``model`` None: open ``source`` by its path as it is (a voice whose tensors live in
    external data files of its own: onnxruntime finds them beside it). ``conv2d``: its 1-D
    convolutions are 2-D ones (:mod:`swtts.workers.conv2d`).
    """

    source: Path
    model: bytes | None
    weights: tuple[Weight, ...] = ()
    conv2d: bool = False


def voice_graph(model_path: Path, folder: Path | None = None, conv2d: bool = False) -> VoiceGraph:
    """The voice's graph with the duration output, its large tensors left in the voice file.

    ``folder`` keeps it for the next load (None: built every time); ``conv2d`` see :func:`build_graph`.
    """
    kept = _kept_path(model_path, folder, conv2d) if folder is not None else None
    if kept is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return _read(kept, model_path, conv2d)
    graph = build_graph(model_path, conv2d)
    if kept is not None and graph.model is not None and _keep(kept, graph):
        _forget_stale(kept)
    return graph


def build_graph(model_path: Path, conv2d: bool = False) -> VoiceGraph:
    """Edit the voice's graph (the duration output) and leave its large float tensors in the file.

    ``conv2d`` also makes its 1-D convolutions 2-D (for one-thread CPU sessions: :mod:`swtts.workers.conv2d`).
    """
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype
    from piper.patch_voice_with_alignment import add_alignment_output

    raw = model_path.read_bytes()
    model = onnx.load_from_string(raw)
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in model.graph.initializer):
        LOGGER.debug("%s keeps its tensors in files of its own: opened as it is (no word timings)", model_path)
        return VoiceGraph(model_path, None)
    try:
        add_alignment_output(model)
    except ValueError as exc:
        LOGGER.debug("no alignment output added to %s: %s", model_path, exc)
    if conv2d:
        from swtts.workers.conv2d import as_2d_convolutions

        as_2d_convolutions(model)
    spans = initializer_spans(raw)
    weights = []
    for tensor in model.graph.initializer:
        dtype = tensor_dtype_to_np_dtype(tensor.data_type)
        span = spans.get(tensor.name)
        if span is None or dtype.kind != "f" or span[1] - span[0] < EXTERNAL_MIN_BYTES:
            continue
        weights.append(Weight(tensor.name, *span, dtype.newbyteorder("<").str, tuple(tensor.dims)))
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", model_path.name), ("offset", str(span[0])), ("length", str(span[1] - span[0]))):
            tensor.external_data.add(key=key, value=value)
    return VoiceGraph(model_path, model.SerializeToString(), tuple(weights), conv2d)


def _kept_path(model_path: Path, folder: Path, conv2d: bool) -> Path | None:
    """Where ``model_path``'s graph (2-D or not) is kept: named by what identifies this very file (None if unreadable)."""
    try:
        stat = model_path.stat()
    except OSError:
        return None
    identity = f"{model_path.resolve()}\0{stat.st_size}\0{stat.st_ino}\0{stat.st_mtime_ns}"
    kind = "-2d" if conv2d else ""
    return folder / f"{model_path.stem}{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:24]}.graph"


def _read(kept: Path, model_path: Path, conv2d: bool) -> VoiceGraph:
    """A kept graph (any damage to it raises, and the graph is built again)."""
    header, newline, model = kept.read_bytes().partition(b"\n")
    fields: dict[str, Any] = json.loads(header)
    if not newline or fields["format"] != _FORMAT or fields.get("conv2d", False) != conv2d:
        raise ValueError(f"{kept}: not a kept graph of format {_FORMAT}")
    weights = tuple(
        Weight(name, start, end, dtype, tuple(shape)) for name, start, end, dtype, shape in fields["weights"]
    )
    return VoiceGraph(model_path, model, weights, conv2d)


def _keep(path: Path, graph: VoiceGraph) -> bool:
    """Write the graph whole or not at all (a temporary file renamed into place); whether it was."""
    weights = [[w.name, w.start, w.end, w.dtype, list(w.shape)] for w in graph.weights]
    fields = {"format": _FORMAT, "source": str(graph.source.resolve()), "conv2d": graph.conv2d, "weights": weights}
    header = json.dumps(fields).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    except OSError as exc:
        LOGGER.debug("the voice's graph is not kept in %s: %s", path.parent, exc)
        return False
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(header + b"\n" + (graph.model or b""))
        os.replace(temporary, path)
    except OSError as exc:
        LOGGER.debug("the voice's graph is not kept in %s: %s", path.parent, exc)
        Path(temporary).unlink(missing_ok=True)
        return False
    return True


def _forget_stale(kept: Path) -> None:
    """Remove the folder's graphs whose voice file is gone or has changed since (and files of an
    older layout): each is kept for one file as it was, and nothing would read it again."""
    for other in kept.parent.iterdir():
        if other == kept or other.suffix not in (".graph", ".suffix"):
            continue
        source, conv2d = None, False
        if other.suffix == ".graph":
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError), other.open("rb") as file:
                fields = json.loads(file.readline())
                source, conv2d = Path(fields["source"]), bool(fields.get("conv2d", False))
        if source is None or _kept_path(source, kept.parent, conv2d) != other:
            LOGGER.debug("removing %s: its voice file is gone or changed", other)
            with contextlib.suppress(OSError):
                other.unlink()
