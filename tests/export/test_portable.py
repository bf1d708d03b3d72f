"""i2i.export.portable: reductions rewritten into ops every runtime has (exactly: the same sums), and
the size check that turns a wrong input size into an error naming the rule."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from i2i.export.portable import add_size_check, make_portable


class Reductions(torch.nn.Module):
    """Every reduction i2i's generators and encoders use, and a multi-axis unsqueeze."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.mean(dim=(2, 3), keepdim=True)                                  # AdaIN, pooling
        centred = x - x.mean(dim=(1, 2, 3), keepdim=True)                           # MUNIT's LayerNorm
        count = (centred * 0 + 1).sum(dim=(1, 2, 3), keepdim=True)
        spread = (centred * centred).sum(dim=(1, 2, 3), keepdim=True) / (count - 1)
        codes = spatial.flatten(1)                                                  # (N, C)
        mean_code = codes.mean(0, keepdim=True)                                     # FUNIT's K-shot mean
        return centred / torch.sqrt(spread) + mean_code[:, :, None, None]


def exported(module: torch.nn.Module, multiple: int = 4) -> onnx.ModelProto:
    batch, height, width = torch.export.Dim("batch"), torch.export.Dim("h"), torch.export.Dim("w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (torch.rand(2, 3, 2 * multiple, 2 * multiple),), dynamo=True,
                                    dynamic_shapes=({0: batch, 2: multiple * height, 3: multiple * width},),
                                    input_names=["image"], verbose=False)
    return program.model_proto


def run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


def test_reductions_become_portable_ops_with_the_same_numbers():
    proto = exported(Reductions())
    assert make_portable(proto) == 6    # a spatial mean, a (C, H, W) mean, 2 sums, a batch mean, an unsqueeze
    ops = {node.op_type for node in proto.graph.node}
    assert not ops & {"ReduceMean", "ReduceSum", "Shape"}, ops
    assert {"GlobalAveragePool", "MatMul"} <= ops
    assert all(len(node.input) < 2 or node.op_type != "Unsqueeze"
               or onnx.numpy_helper.to_array(next(i for i in proto.graph.initializer if i.name == node.input[1])).size == 1
               for node in proto.graph.node)
    rng = np.random.default_rng(0)
    for shape in ((1, 3, 8, 8), (3, 3, 12, 20)):
        x = rng.random(shape).astype(np.float32)
        with torch.no_grad():
            expected = Reductions()(torch.from_numpy(x)).numpy()
        assert np.abs(run(proto, x) - expected).max() < 1e-5


def test_opencv_classic_runs_the_rewritten_graph(tmp_path):
    cv2 = pytest.importorskip("cv2")
    proto = exported(Reductions())
    make_portable(proto)
    onnx.save(proto, tmp_path / "r.onnx")
    x = np.random.default_rng(1).random((2, 3, 8, 12)).astype(np.float32)
    engine = (cv2.dnn.ENGINE_CLASSIC,) if hasattr(cv2.dnn, "ENGINE_CLASSIC") else ()
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "r.onnx"), *engine)
    net.setInput(x, "image")
    assert np.abs(net.forward() - run(proto, x)).max() < 1e-5


def test_a_size_that_is_not_a_multiple_is_an_error_naming_the_rule():
    proto = exported(torch.nn.Conv2d(3, 3, 3, padding=1).eval())
    valid = np.random.default_rng(2).random((1, 3, 8, 12)).astype(np.float32)
    before = run(proto, valid)
    add_size_check(proto, "image", 4)
    assert np.array_equal(run(proto, valid), before)          # the identity on valid sizes
    with pytest.raises(Exception, match="height_and_width_must_be_multiples_of_4"):
        run(proto, valid[:, :, :7])
    with pytest.raises(Exception, match="height_and_width_must_be_multiples_of_4"):
        run(proto, valid[:, :, :, :10])


def test_size_check_is_a_no_op_for_multiple_one():
    proto = exported(torch.nn.Conv2d(3, 3, 3, padding=1).eval(), multiple=1)
    nodes = len(proto.graph.node)
    add_size_check(proto, "image", 1)
    assert len(proto.graph.node) == nodes
