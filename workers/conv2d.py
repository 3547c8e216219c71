"""Piper's 1-D convolutions made 2-D ones of height 1, for sessions that run on one CPU thread.

onnxruntime's graph optimizer gives 2-D convolutions its blocked-layout (NCHWc) CPU kernels;
1-D ones keep the generic im2col and matrix-product path. Most of a sentence's time is the
decoder's convolutions, and on one thread the 2-D form speaks a sentence in about a tenth less
time. On two threads it was slower (the blocked kernels split a height-1 image poorly), so only
one-thread CPU sessions get it: see ``SessionPlan``. Figures: ``scripts/bench_conv2d.py``.

Each ``Conv`` and ``ConvTranspose`` whose weight is a 3-D initializer of its own gets a height
axis: the weight's shape gains a 1 (the same bytes, so they are still read in place from the
voice file), its input is unsqueezed and its output squeezed. Those squeezes are then moved
past elementwise operations whose other inputs are squeezed the same way or are scalars, and an
unsqueeze of a squeeze cancels: the decoder's runs of convolutions, activations and residual
sums stay 2-D, with no reshaping between them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["as_2d_convolutions"]

HEIGHT_AXIS = 2
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "LeakyRelu", "Relu", "Tanh", "Sigmoid"})
"""Operations that act element by element (broadcasting), so an extra axis of size 1 changes nothing."""

_AXES = "swtts_conv2d_height_axis"


def as_2d_convolutions(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place (see the module's text); how many convolutions were made 2-D."""
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return 0  # subgraphs could read the renamed tensors: left as they are
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    rewrite = _Rewrite(graph, axes_as_input=opset >= 13)
    nodes = rewrite.widen(list(graph.node))
    if not rewrite.widened:
        return 0
    if rewrite.axes_as_input:
        graph.initializer.append(numpy_helper.from_array(np.array([HEIGHT_AXIS], dtype=np.int64), _AXES))
    nodes = rewrite.prune(rewrite.cancel(rewrite.sink(nodes)), {output.name for output in graph.output})
    del graph.node[:]
    graph.node.extend(nodes)
    return rewrite.widened


class _Rewrite:
    """The rewrite's steps, and what it added: squeezes (output → 2-D input), unsqueezes, and the
    outputs of every squeeze and unsqueeze it made (``added``: only those may be pruned)."""

    def __init__(self, graph: onnx.GraphProto, axes_as_input: bool) -> None:
        self.axes_as_input = axes_as_input
        self.initializers = {tensor.name: tensor for tensor in graph.initializer}
        self.scalars = {name for name, tensor in self.initializers.items() if _is_scalar(tensor)}
        for node in graph.node:
            if node.op_type == "Constant" and any(a.name == "value" and _is_scalar(a.t) for a in node.attribute):
                self.scalars.add(node.output[0])
        self.uses: dict[str, int] = {}
        for node in graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        self.squeezed: dict[str, str] = {}
        self.unsqueezed: set[str] = set()
        self.added: set[str] = set()
        self.widened = 0

    def widen(self, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        """Each 1-D convolution with a weight of its own as a 2-D one between an unsqueeze and a squeeze."""
        result = []
        for node in nodes:
            weight = self.initializers.get(node.input[1]) if len(node.input) > 1 else None
            if (
                node.op_type not in ("Conv", "ConvTranspose")
                or weight is None
                or len(weight.dims) != 3
                or self.uses.get(weight.name) != 1  # a shared weight cannot change its shape for one reader
            ):
                result.append(node)
                continue
            weight.dims.insert(HEIGHT_AXIS, 1)
            flat_in, wide_in, wide_out = node.input[0], f"{node.output[0]}/2d_input", f"{node.output[0]}/2d"
            result.append(self._unsqueeze(flat_in, wide_in))
            attributes = {a.name: _widened(a.name, helper.get_attribute_value(a)) for a in node.attribute}
            result.append(
                helper.make_node(
                    node.op_type, [wide_in, *node.input[1:]], [wide_out], node.name or wide_out, **attributes
                )
            )
            result.append(self._squeeze(wide_out, node.output[0]))
            self.widened += 1
        return result

    def sink(self, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        """Move squeezes past elementwise operations (in graph order, so runs move whole)."""
        result = []
        for node in nodes:
            inputs = list(node.input)
            if (
                node.op_type not in ELEMENTWISE
                or node.domain not in ("", "ai.onnx")
                or not any(name in self.squeezed for name in inputs)
                or not all(name in self.squeezed or name in self.scalars for name in inputs)
            ):
                result.append(node)
                continue
            wide_out = f"{node.output[0]}/2d"
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            wide_inputs = [self.squeezed.get(name, name) for name in inputs]
            result.append(helper.make_node(node.op_type, wide_inputs, [wide_out], wide_out, **attributes))
            result.append(self._squeeze(wide_out, node.output[0]))
        return result

    def cancel(self, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        """Drop each added unsqueeze of a squeezed tensor: its readers take the 2-D tensor itself."""
        renamed = {}
        result = []
        for node in nodes:
            if node.output[0] in self.unsqueezed and node.input[0] in self.squeezed:
                renamed[node.output[0]] = self.squeezed[node.input[0]]
            else:
                result.append(node)
        for node in result:
            for index, name in enumerate(node.input):
                if name in renamed:
                    node.input[index] = renamed[name]
        return result

    def prune(self, nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
        """Drop the added nodes nothing reads any more (the graph's own nodes all stay)."""
        while True:
            read = outputs | {name for node in nodes for name in node.input}
            kept = [node for node in nodes if node.output[0] not in self.added or node.output[0] in read]
            if len(kept) == len(nodes):
                return kept
            nodes = kept

    def _squeeze(self, wide: str, flat: str) -> onnx.NodeProto:
        """A squeeze back to the 1-D tensor ``flat`` (nodes are named after their output: unique)."""
        self.squeezed[flat] = wide
        self.added.add(flat)
        if self.axes_as_input:
            return helper.make_node("Squeeze", [wide, _AXES], [flat], f"{flat}/squeeze")
        return helper.make_node("Squeeze", [wide], [flat], f"{flat}/squeeze", axes=[HEIGHT_AXIS])

    def _unsqueeze(self, flat: str, wide: str) -> onnx.NodeProto:
        self.unsqueezed.add(wide)
        self.added.add(wide)
        if self.axes_as_input:
            return helper.make_node("Unsqueeze", [flat, _AXES], [wide], f"{wide}/unsqueeze")
        return helper.make_node("Unsqueeze", [flat], [wide], f"{wide}/unsqueeze", axes=[HEIGHT_AXIS])


def _widened(name: str, value: Any) -> Any:
    """A 1-D convolution's attribute for its height-1 2-D form."""
    if name in ("kernel_shape", "strides", "dilations") and isinstance(value, list):
        return [1, *value]
    if name in ("output_padding", "output_shape") and isinstance(value, list):
        return [0 if name == "output_padding" else 1, *value]
    if name == "pads" and isinstance(value, list):
        return [0, value[0], 0, value[1]]
    return value


def _is_scalar(tensor: onnx.TensorProto) -> bool:
    """A tensor of one element and at most one axis: broadcasts the same against any rank."""
    return len(tensor.dims) <= 1 and int(np.prod(tensor.dims)) == 1
