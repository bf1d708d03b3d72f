"""fp16 ONNX export: float16 graphs checked against the float32 graph on real photos, nothing written on
a failed check, statistics kept float32, and the command line's option checks."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.export.fp16 import convert_fp16, export_fp16, fitted_photo, parity_photos
from i2i.export.onnx import export_onnx
from i2i.methods import MUNIT
from i2i.metrics.pixel import psnr
from i2i.preprocess import Preprocess
from tests.conftest import tiny_munit, write_styles, write_tiny_checkpoint

runner = CliRunner()


def _session(path: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    return types | {t.name: t.data_type for t in graph.initializer}


@pytest.fixture(scope="module")
def munit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny MUNIT checkpoint (dim 4), written as the trainer writes one."""
    root = tmp_path_factory.mktemp("munit")
    method = MUNIT(tiny_munit(write_styles(root / "styles")))
    exported = method.exported_generators()
    header = make_header("munit", method.domains(), exported, method.preprocess(), {"batchnorm": "per_image"},
                         {}, {"steps": 0}, conditioning=method.header())
    save_checkpoint(root / "munit.safetensors", exported, header)
    return root / "munit.safetensors"


def test_pix2pix_fp16_is_float16_inside_and_matches_float32_on_photos(tmp_path):
    write_tiny_checkpoint(tmp_path / "m.safetensors")
    report = export_fp16(tmp_path / "m.safetensors", tmp_path / "m16.onnx")
    export_onnx(tmp_path / "m.safetensors", tmp_path / "m32.onnx")
    half = onnx.load(tmp_path / "m16.onnx")
    types = _elem_types(half)
    # float32 contract outside, float16 inside: every Conv weight and output, the input cast right away
    assert [types[i.name] for i in (*half.graph.input, *half.graph.output)] == [TensorProto.FLOAT] * 2
    convs = [n for n in half.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert convs and all(types[n.input[1]] == types[n.output[0]] == TensorProto.FLOAT16 for n in convs)
    norms = [n for n in half.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(types[n.output[0]] == TensorProto.FLOAT for n in norms)
    metadata = {p.key: p.value for p in half.metadata_props}
    assert metadata["i2i.precision"] == "fp16" and json.loads(metadata["i2i"])["method"] == "pix2pix"
    # Independently of the export's own check: the three photos, a fresh float32 export, our PSNR.
    preprocess = Preprocess(size=32, multiple_of=32)
    scores = []
    for path in parity_photos():
        batch, _ = fitted_photo(path, 96, preprocess)
        full = _session(tmp_path / "m32.onnx").run(None, {"image": batch})[0]
        scores.append(psnr(_session(tmp_path / "m16.onnx").run(None, {"image": batch})[0], full))
    assert min(scores) >= 60 and report.worst_psnr >= 60
    assert report.checks[0].graph == "generator" and len(report.checks[0].psnr) == 3
    assert 0 < report.checks[0].max_abs < 1e-2


def test_munit_fp16_converts_generator_and_style_encoder(tmp_path, munit):
    report = export_fp16(munit, tmp_path / "munit.onnx")
    encoder = tmp_path / "munit.style_encoder.onnx"
    assert report.code_encoder == encoder and encoder.is_file()
    assert [c.graph for c in report.checks] == ["generator", "style_encoder", "generator + style_encoder"]
    assert report.worst_psnr >= 60 and report.checks[1].max_abs < 1e-2
    for path in (tmp_path / "munit.onnx", encoder):
        model = onnx.load(path)
        assert {p.key: p.value for p in model.metadata_props}["i2i.precision"] == "fp16"
        assert any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
    # The fp16 pair runs end to end on onnxruntime's CPU provider: a reference's style, then the generator.
    references = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    codes = _session(encoder).run(None, {"image": references})[0]
    out = _session(tmp_path / "munit.onnx").run(None, {"image": references, "style_code": codes})[0]
    assert out.shape == (2, 3, 32, 32) and np.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1


def test_a_failed_check_writes_nothing(tmp_path):
    write_tiny_checkpoint(tmp_path / "m.safetensors")
    with pytest.raises(I2IError, match=r"PSNR .* dB < 200.0 dB .*no file written") as caught:
        export_fp16(tmp_path / "m.safetensors", tmp_path / "out.onnx", min_psnr=200.0)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("out*"))
    with pytest.raises(I2IError, match=r"\.onnx"):
        export_fp16(tmp_path / "m.safetensors", tmp_path / "out.bin")


def test_statistics_stay_float32_where_float16_would_overflow():
    """A variance as MUNIT's LayerNorm computes it: mean((x − mean)²) · n / (n − 1), n = C·H·W from the
    shape. Here n = 4·160·160 = 102400 > 65504 and (x − mean)² reaches 10⁶: in float16 both overflow."""
    axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    weight = numpy_helper.from_array(np.full((4, 4, 1, 1), 0.25, np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("ReduceMean", ["c", "axes"], ["mean"]),
             helper.make_node("Sub", ["c", "mean"], ["d"]),
             helper.make_node("Mul", ["d", "d"], ["square"]),
             helper.make_node("ReduceMean", ["square", "axes"], ["mean_square"]),
             helper.make_node("Shape", ["c"], ["shape"]),
             helper.make_node("ReduceProd", ["shape"], ["count_int"], keepdims=0),
             helper.make_node("Cast", ["count_int"], ["count"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["mean_square", "count"], ["sum_square"]),
             helper.make_node("Sub", ["count", "one"], ["dof"]),
             helper.make_node("Div", ["sum_square", "dof"], ["var"]),
             helper.make_node("Sqrt", ["var"], ["std"]),
             helper.make_node("Div", ["d", "std"], ["y"])]
    shape = [1, 4, 160, 160]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
    graph = helper.make_graph(nodes, "variance", inputs, outputs, [axes, one, weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    half = convert_fp16(model)
    types = _elem_types(half)
    normalise = next(n for n in half.graph.node if n.op_type == "Div" and n.input[0] == "d")
    # the convolution, x − mean and the division by std run in float16
    assert types["c"] == types["d"] == types[normalise.output[0]] == TensorProto.FLOAT16
    assert types["y"] == TensorProto.FLOAT                               # the graph's output stays float32
    for name in ("square", "count", "sum_square", "dof", "var", "std"):  # the statistic's arithmetic: float32
        assert types[name] == TensorProto.FLOAT, name
    x = np.random.default_rng(0).normal(0, 1, (1, 4, 160, 160)).astype(np.float32)
    x[0, :, :4, :4] = 4000  # (x − mean)² ≈ 1.6e7 there
    full, reduced = (onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                     .run(None, {"x": x})[0] for m in (model, half))
    assert np.isfinite(reduced).all() and np.abs(reduced - full).max() < 0.05 * np.abs(full).max()


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp8"], "--precision must be one of fp32, fp16"),
    (["--precision", "fp16", "--quantize", "int8", "--calibration", "x"], "choose one"),
    (["--format", "ncnn", "--quantize", "int8"], "--quantize int8 is for ONNX"),
    (["--format", "ncnn", "--opset", "17"], "--opset is for ONNX"),
    (["--format", "tflite"], "--format must be one of onnx, ncnn"),
    (["--name", "x"], "--name is for --format ncnn"),
    (["--calibration", "x"], "--calibration is for --quantize int8"),
])
def test_bad_option_combinations_are_one_line_errors(tmp_path, args, message):
    # the options are checked before the model is read: it need not exist
    result = runner.invoke(app, ["export", str(tmp_path / "never-read.safetensors"),
                                 "--out", str(tmp_path / "x.onnx"), *args])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_cli_prints_psnr_and_max_abs_per_graph(tmp_path):
    write_tiny_checkpoint(tmp_path / "m.safetensors")
    result = runner.invoke(app, ["export", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "m.onnx"),
                                 "--precision", "fp16"])
    assert result.exit_code == 0, result.output
    for part in ("in fp16", "generator: PSNR min", "max |fp16 − fp32|"):
        assert part in result.output
    assert onnx.load(tmp_path / "m.onnx").graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
