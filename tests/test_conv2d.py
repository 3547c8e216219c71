"""The 1-D convolutions made 2-D (one-thread CPU sessions): the same outputs, the runs kept 2-D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from swtts.workers.conv2d import as_2d_convolutions
from swtts.workers.graph import build_graph, voice_graph
from swtts.workers.session import SessionPlan, open_session
from tests.conftest import REAL_MODEL

CPU = ["CPUExecutionProvider"]


def decoder_like(opset: int) -> onnx.ModelProto:
    """A small HiFi-GAN-like stack: upsampling, residual blocks of activation, dilated conv and sum."""
    rng = np.random.default_rng(7)
    weights = {
        "up_w": rng.standard_normal((8, 4, 4), dtype=np.float32) * 0.3,  # ConvTranspose: (in, out, k)
        "c1_w": rng.standard_normal((4, 4, 3), dtype=np.float32) * 0.3,
        "c1_b": rng.standard_normal(4, dtype=np.float32),
        "c2_w": rng.standard_normal((4, 4, 5), dtype=np.float32) * 0.3,
        "post_w": rng.standard_normal((1, 4, 7), dtype=np.float32) * 0.3,
        "cond_w": rng.standard_normal((4, 2, 1), dtype=np.float32) * 0.3,
        "half": np.array(0.5, dtype=np.float32),
    }
    nodes = [
        helper.make_node("ConvTranspose", ["x", "up_w"], ["up"], strides=[2], pads=[1, 1], output_padding=[1]),
        helper.make_node("LeakyRelu", ["up"], ["a1"], alpha=0.1),
        helper.make_node("Conv", ["a1", "c1_w", "c1_b"], ["c1"], kernel_shape=[3], dilations=[2], pads=[2, 2]),
        helper.make_node("Add", ["c1", "up"], ["r0"]),
        helper.make_node("Conv", ["g", "cond_w"], ["cond"], kernel_shape=[1]),  # a speaker's [1, C, 1]
        helper.make_node("Add", ["r0", "cond"], ["r1"]),  # broadcast over time, as multi-speaker voices do
        helper.make_node("LeakyRelu", ["r1"], ["a2"], alpha=0.1),
        helper.make_node("Conv", ["a2", "c2_w"], ["c2"], kernel_shape=[5], strides=[1], pads=[2, 2]),
        helper.make_node("Add", ["c2", "r1"], ["r2"]),
        helper.make_node("Mul", ["r2", "half"], ["scaled"]),
        helper.make_node("Shape", ["r2"], ["length"]),  # a 1-D reader of a tensor the rewrite makes 2-D
        helper.make_node("Conv", ["scaled", "post_w"], ["post"], kernel_shape=[7], pads=[3, 3]),
        helper.make_node("Tanh", ["post"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "decoder-like",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, None]),
            helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 2, 1]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("length", TensorProto.INT64, None),
        ],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def run(model: onnx.ModelProto, feed: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=CPU)
    return list(session.run(None, {"x": feed, "g": np.full((1, 2, 1), 0.5, dtype=np.float32)}))


@pytest.mark.parametrize("opset", [11, 15])  # the axes of Squeeze/Unsqueeze: an attribute, then an input
def test_the_2d_form_computes_what_the_1d_form_does(opset: int) -> None:
    model = decoder_like(opset)
    feed = np.random.default_rng(1).standard_normal((1, 8, 37), dtype=np.float32)
    before = run(model, feed)
    assert as_2d_convolutions(model) == 5
    after = run(model, feed)
    assert after[0].shape == before[0].shape == (1, 1, 75)
    assert np.allclose(after[0], before[0], atol=1e-5)
    assert np.array_equal(after[1], before[1])  # the 1-D reader still sees the 1-D shape
    kinds = [node.op_type for node in model.graph.node]
    assert kinds.count("Unsqueeze") == 2  # only the inputs x and g: the runs between convolutions stay 2-D
    assert kinds.count("Squeeze") == 2  # its output, and the tensor Shape reads


def test_a_shared_weight_or_a_computed_one_leaves_its_convolution_as_it_is() -> None:
    model = decoder_like(15)
    nodes = {node.output[0]: node for node in model.graph.node}
    shared = helper.make_node("Conv", ["a2", "c1_w"], ["c2"], kernel_shape=[3], pads=[1, 1])
    nodes["c2"].CopyFrom(shared)  # c1_w now serves two convolutions
    nodes["post"].input[1] = "post_w_copy"  # the last one's weight is no initializer, but computed:
    model.graph.node.insert(0, helper.make_node("Identity", ["post_w"], ["post_w_copy"]))
    feed = np.random.default_rng(2).standard_normal((1, 8, 9), dtype=np.float32)
    before = run(model, feed)
    assert as_2d_convolutions(model) == 2  # the ConvTranspose and the speaker's Conv
    assert np.allclose(run(model, feed)[0], before[0], atol=1e-5)


def test_the_voice_in_2d_form_speaks_as_the_plain_voice() -> None:
    plain, wide = build_graph(REAL_MODEL), build_graph(REAL_MODEL, conv2d=True)
    assert wide.conv2d and wide.model is not None
    assert [w.start for w in wide.weights] == [w.start for w in plain.weights]  # the same bytes, read in place
    assert sum(len(w.shape) == 4 for w in wide.weights) > 100
    ids = np.array([[1, 0, 20, 0, 30, 0, 40, 0, 50, 0, 2]], dtype=np.int64)
    feeds = {"input": ids, "input_lengths": np.array([ids.shape[1]]), "scales": np.array([0, 1, 0], np.float32)}
    audio, durations = open_session(plain, 1, CPU).run(None, feeds)
    wide_audio, wide_durations = open_session(wide, 1, CPU).run(None, feeds)
    assert np.array_equal(wide_durations, durations)
    assert wide_audio.shape == audio.shape and np.abs(wide_audio - audio).max() < 1e-4


def test_one_thread_cpu_sessions_get_the_2d_form_and_the_solo_session_does_not(tmp_path: Path) -> None:
    plan = SessionPlan.decide(REAL_MODEL, "cpu", threads=1, solo_threads=2, graphs=tmp_path)
    assert plan.conv2d
    assert not SessionPlan.decide(REAL_MODEL, "cpu", threads=2).conv2d  # slower on several threads
    assert not SessionPlan.decide(REAL_MODEL, "cpu", threads=1, quick_start=True).conv2d  # no optimizer: no gain
    voice_graph(REAL_MODEL, tmp_path, conv2d=True)
    voice_graph(REAL_MODEL, tmp_path)
    names = [path.name for path in tmp_path.iterdir()]
    assert sorted("-2d-" in name for name in names) == [False, True]  # both forms kept: neither removes the other
