"""`i2i export --quantize int8`: an int8 graph that onnxruntime runs with integer convolutions, the
i2i metadata kept, translate through it unchanged, and the PSNR it reports recomputed here."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.export.onnx import export_onnx
from i2i.images import read_image, write_image
from i2i.inference.backend import load_backend
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import translate_files
from i2i.models import ResNetConfig, ResNetGenerator
from i2i.preprocess import Preprocess

runner = CliRunner()
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = ResNetConfig(ngf=8, num_blocks=2)
    net = ResNetGenerator(config)
    preprocess = Preprocess(size=32, multiple_of=config.multiple_of, min_size=config.min_size)
    header = make_header("cyclegan", ["A", "B"], {"A->B": net}, preprocess, {}, {}, {"steps": 0})
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_checkpoint(path, {"A->B": net}, header)
    return path


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smooth random images; one size is not a multiple of 4 (padded as translate pads it), one has alpha."""
    folder = tmp_path_factory.mktemp("calibration")
    rng = np.random.default_rng(0)
    for index, (height, width) in enumerate([(32, 32), (30, 26), (32, 40)]):
        coarse = rng.random((height // 4 + 2, width // 4 + 2, 3))
        image = np.kron(coarse, np.ones((4, 4, 1)))[:height, :width].astype(np.float32)
        alpha = np.full((height, width), 0.5, np.float32) if index == 1 else None
        write_image(folder / "sub" / f"c{index}.png", image, alpha=alpha)
    return folder


@pytest.fixture(scope="module")
def exported(checkpoint: Path, calibration: Path, tmp_path_factory: pytest.TempPathFactory):
    return export_onnx(checkpoint, tmp_path_factory.mktemp("out") / "m.onnx", quantize="int8",
                       calibration=calibration)


def _ops(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def test_int8_file_has_quantized_convolutions_and_keeps_the_metadata(exported):
    fp32_path, int8_path = exported.path, exported.quantized.path
    assert fp32_path.is_file() and int8_path == fp32_path.with_name("m.int8.onnx") and int8_path.is_file()
    fp32, int8 = onnx.load(fp32_path), onnx.load(int8_path)
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(int8) and "QuantizeLinear" not in _ops(fp32)
    assert any(init.data_type == onnx.TensorProto.INT8 for init in int8.graph.initializer)  # int8 weights

    # onnxruntime fuses the QDQ pattern into integer convolutions: the speed-up is real, not simulated.
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(int8_path.with_name("optimized.onnx"))
    onnxruntime.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(options.optimized_model_filepath)
    assert sum(node.op_type == "QLinearConv" for node in optimized.graph.node) == len(exported.quantized.int8_convolutions)

    # 2 blocks × 2 convs + 2 downsampling convs are int8; the image-side convs and the ConvTransposes stay float.
    assert len(exported.quantized.int8_convolutions) == 6 and len(exported.quantized.float_convolutions) == 4
    meta32 = {p.key: p.value for p in fp32.metadata_props}
    meta8 = {p.key: p.value for p in int8.metadata_props}
    assert {key: meta8[key] for key in meta32} == meta32
    assert meta8["i2i.quantization"].startswith("int8 static") and "calibrated on 3 images" in meta8["i2i.quantization"]
    assert float(meta8["i2i.quantization.psnr"]) == pytest.approx(exported.quantized.mean_psnr, abs=1e-4)
    assert json.loads(meta8["i2i"])["generators"]["A->B"]["architecture"] == "resnet"


def test_reported_psnr_is_int8_against_fp32_on_the_calibration_images(exported, calibration):
    """Recomputed independently: images read, padded to the multiple of 4 and cropped back by hand."""
    fp32 = onnxruntime.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    int8 = onnxruntime.InferenceSession(str(exported.quantized.path), providers=["CPUExecutionProvider"])
    scores = []
    for path in sorted(calibration.rglob("*.png")):
        rgb = read_image(path)[0]
        height, width = rgb.shape[:2]
        padded = np.pad(rgb, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        batch = padded.transpose(2, 0, 1)[None].astype(np.float32)
        a = int8.run(None, {"image": batch})[0][0, :, :height, :width].astype(np.float64)
        b = fp32.run(None, {"image": batch})[0][0, :, :height, :width].astype(np.float64)
        scores.append(10 * np.log10(1.0 / np.mean((a - b) ** 2)))
    assert exported.quantized.psnr == pytest.approx(scores, abs=1e-6)
    assert exported.quantized.mean_psnr == pytest.approx(np.mean(scores), abs=1e-6)
    assert 15 < exported.quantized.min_psnr < 80  # quantized (not a copy of the float graph), and not garbage


def test_translate_runs_the_int8_file_unchanged(exported, calibration, tmp_path):
    backend = load_backend(exported.quantized.path)
    assert backend.direction == "A->B" and "onnxruntime" in backend.description
    report = translate_files(backend, collect_jobs([str(calibration)], tmp_path / "out"))
    assert not report.failed and len(report.written) == 3
    assert read_image(tmp_path / "out" / "sub" / "c1.png")[0].shape == (30, 26, 3)


def test_cli_prints_the_int8_file_and_its_psnr(checkpoint, calibration, tmp_path):
    result = runner.invoke(app, ["export", str(checkpoint), "--out", str(tmp_path / "g.onnx"), "--quantize", "int8",
                                 "--calibration", str(calibration)])
    assert result.exit_code == 0, result.output
    assert f"int8 → {tmp_path / 'g.int8.onnx'}" in result.output and "PSNR vs float32" in result.output


@pytest.mark.parametrize("extra, message", [
    (["--quantize", "int8"], "--quantize int8 needs --calibration DIR"),
    (["--quantize", "int4", "--calibration", "."], "--quantize must be one of int8"),
    (["--calibration", "."], "--calibration is for --quantize int8"),
    (["--quantize", "int8", "--calibration", "no-such-folder"], "--calibration: input no-such-folder does not exist"),
])
def test_quantize_usage_errors_are_one_line_exit_2(checkpoint, tmp_path, extra, message):
    result = runner.invoke(app, ["export", str(checkpoint), "--out", str(tmp_path / "g.onnx"), *extra])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert not list(tmp_path.iterdir())  # nothing written


def test_munit_and_funit_exports_refuse_int8(calibration, tmp_path):
    for name in ("munit-styles", "funit-classes"):
        with pytest.raises(I2IError, match="MUNIT/FUNIT exports .* stay float32"):
            export_onnx(WEIGHTS / f"{name}.safetensors", tmp_path / "m.onnx", quantize="int8", calibration=calibration)
    assert not list(tmp_path.iterdir())
