"""Rewrite an exported graph into operations every common ONNX runtime runs the same way.

torch.onnx writes reductions as opset-18 `ReduceMean`/`ReduceSum` with their axes as an input. OpenCV's
DNN importers fail on them (5.x's classic engine refuses every one; 4.x computes a mean over
(C, H, W) wrongly without a word) while every runtime has `GlobalAveragePool`, `Flatten`, `Reshape`
with constant shapes and `MatMul`. So, exactly (the same sums, in float32):

- mean over (H, W), kept dims            → GlobalAveragePool
- sum over (C, H, W), kept dims          → Flatten, Reshape to (N, 1, CHW), MatMul with a column of ones
- mean over (C, H, W), kept dims         → that sum over the same sum of ones (a 1×1 Conv with weights
                                           1/C after GlobalAveragePool is wrong in OpenCV 5's new engine)
- mean over the batch of (K, D) codes    → MatMul with a row of ones, divided by K (their MatMul too)
- Unsqueeze of several axes              → one Unsqueeze per axis (OpenCV: "multidimensional unsqueeze"
                                           is not implemented)

Anything else is left as it is (onnxruntime and the reference evaluator run everything).

`add_size_check` makes a graph whose H and W must be multiples of m reject other sizes with an error
that names the rule, instead of failing deep inside or returning a cropped output: SpaceToDepth(m)
then DepthToSpace(m) is the identity on valid sizes and an error on the others, and the runtimes'
messages name the node, which is called `height_and_width_must_be_multiples_of_{m}`.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

Dims = list[int | str | None]


class _Graph:
    """The graph's nodes being rebuilt, its constants, the ranks and sizes shape inference gives, and
    a counter for fresh value names."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        self.proto = proto
        graph = proto.graph
        self.constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        inferred = onnx.shape_inference.infer_shapes(proto)
        self.dims: dict[str, Dims] = {}
        for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            shape = value.type.tensor_type.shape
            if value.type.tensor_type.HasField("shape"):
                self.dims[value.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                         for d in shape.dim]
        self.nodes: list[onnx.NodeProto] = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"i2i_portable_{stem}_{self.count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.fresh(stem)
        self.proto.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def add(self, op: str, inputs: list[str], output: str | None = None, **attributes: object) -> str:
        output = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output


def make_portable(proto: onnx.ModelProto) -> int:
    """Rewrite `proto`'s reductions in place (see the module doc); returns how many were rewritten."""
    graph = _Graph(proto)
    rewritten = 0
    for node in proto.graph.node:
        if _rewrite(graph, node):
            rewritten += 1
        else:
            graph.nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(graph.nodes)
    # The exporter's intermediate shapes describe values some of which are gone or changed; OpenCV 4.x
    # takes them as given (symbolic sizes as -1) and fails, so they go: every runtime infers its own.
    del proto.graph.value_info[:]
    _drop_unused_constants(proto)
    return rewritten


def _rewrite(graph: _Graph, node: onnx.NodeProto) -> bool:
    """Append the portable form of `node` to `graph.nodes` and say so, or return False to keep it."""
    if node.op_type == "Unsqueeze":
        return _split_unsqueeze(graph, node)
    if node.op_type not in ("ReduceMean", "ReduceSum") or len(node.input) < 2:
        return False
    keepdims = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
    axes_value = graph.constants.get(node.input[1])
    dims = graph.dims.get(node.input[0])
    if axes_value is None or dims is None or keepdims != 1:
        return False
    rank = len(dims)
    axes = sorted(int(a) % rank for a in np.atleast_1d(axes_value))
    x, out = node.input[0], node.output[0]
    if node.op_type == "ReduceMean" and rank == 4 and axes == [2, 3]:
        graph.add("GlobalAveragePool", [x], out)
    elif rank == 4 and axes == [1, 2, 3]:
        total = _sum_chw(graph, x, ones=False)
        if node.op_type == "ReduceSum":
            graph.add("Identity", [total], out)
        else:
            graph.add("Div", [total, _sum_chw(graph, x, ones=True)], out)
    elif node.op_type == "ReduceMean" and rank == 2 and axes == [0] and isinstance(dims[1], int):
        _batch_mean(graph, x, out, dims[1])
    else:
        return False
    return True


def _sum_chw(graph: _Graph, x: str, ones: bool) -> str:
    """Σ over (C, H, W) of x (or of ones shaped like x: the count) as (N, 1, 1, 1): a (N, 1, CHW) row
    times a column of ones. Flatten first: OpenCV's new engine cannot Reshape a convolution's (blocked)
    output directly; the ones come from x (times zero, plus one), as a runtime computes no shapes."""
    row_shape = graph.constant("row", np.array([0, 1, -1], np.int64))
    ones_4d = graph.add("Add", [graph.add("Mul", [x, graph.constant("zero", np.zeros(1, np.float32))]),
                                graph.constant("one", np.ones(1, np.float32))])
    column = graph.add("Transpose", [graph.add("Reshape", [graph.add("Flatten", [ones_4d], axis=1), row_shape])],
                       perm=[0, 2, 1])
    row = graph.add("Reshape", [graph.add("Flatten", [ones_4d if ones else x], axis=1), row_shape])
    total = graph.add("MatMul", [row, column])                                       # (N, 1, 1)
    return graph.add("Reshape", [total, graph.constant("kept", np.array([-1, 1, 1, 1], np.int64))])


def _split_unsqueeze(graph: _Graph, node: onnx.NodeProto) -> bool:
    """Unsqueeze with axes [a1 < a2 < …] as one Unsqueeze per axis, in ascending order (each axis
    already counts the ones inserted before it, as the ONNX definition does)."""
    axes_value = graph.constants.get(node.input[1]) if len(node.input) > 1 else None
    if axes_value is None or np.atleast_1d(axes_value).size < 2 or (np.atleast_1d(axes_value) < 0).any():
        return False
    value = node.input[0]
    axes = sorted(int(a) for a in np.atleast_1d(axes_value))
    for i, axis in enumerate(axes):
        last = i == len(axes) - 1
        value = graph.add("Unsqueeze", [value, graph.constant("axis", np.array([axis], np.int64))],
                          node.output[0] if last else None)
    return True


def _batch_mean(graph: _Graph, codes: str, out: str, width: int) -> None:
    """(K, D) → (1, D) mean over K without a reduction: a column of K ones made from the codes (times
    a zero vector, plus one), its transpose times the codes (the sum), over its transpose times itself
    (K)."""
    column = graph.add("Add", [graph.add("MatMul", [codes, graph.constant("zeros", np.zeros((width, 1), np.float32))]),
                               graph.constant("one", np.ones(1, np.float32))])
    row = graph.add("Transpose", [column], perm=[1, 0])
    total = graph.add("MatMul", [row, codes])
    graph.add("Div", [total, graph.add("MatMul", [row, column])], out)


def add_size_check(proto: onnx.ModelProto, input_name: str, multiple: int) -> None:
    """Make `input_name` (N, C, H, W) reject H or W that are not multiples of `multiple` (see the
    module doc). A no-op for multiple 1."""
    if multiple <= 1:
        return
    checked = f"{input_name}_size_checked"
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name == input_name:
                node.input[i] = checked
    rule = f"height_and_width_must_be_multiples_of_{multiple}"
    blocks = f"{input_name}_{rule}"
    check = [helper.make_node("SpaceToDepth", [input_name], [blocks], blocksize=multiple, name=rule),
             helper.make_node("DepthToSpace", [blocks], [checked], blocksize=multiple, mode="DCR",
                              name=f"{rule}_restore")]
    nodes = list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(check + nodes)


def _drop_unused_constants(proto: onnx.ModelProto) -> None:
    """Initializers and Constant nodes nothing reads any more (the rewritten reductions' axes)."""
    graph = proto.graph
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = [node for node in graph.node if node.op_type != "Constant" or node.output[0] in used]
    del graph.node[:]
    graph.node.extend(nodes)
