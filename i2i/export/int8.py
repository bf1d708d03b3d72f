"""int8 ONNX graphs: onnxruntime static quantization, calibrated on the user's own images.

`quantize_int8(fp32_file, out, calibration)` writes an int8 copy of an exported generator and measures
what it costs: the PSNR of the int8 outputs against the float32 file's outputs on the calibration
images. The recipe (each choice measured on a ResNet-9 CycleGAN generator, benchmarks/translate_speed.py):

- Static quantization in QDQ format, int8 activations (asymmetric, MinMax ranges over the calibration
  images) and per-channel symmetric int8 weights: onnxruntime's CPU provider fuses each
  DequantizeLinear → Conv → QuantizeLinear into an integer QLinearConv. Dynamic quantization
  (ConvInteger, activation ranges found at run time) was 2× *slower* than float32 here.
- Only Conv is quantized. Every other op stays float32 between dequantize/quantize pairs:
  InstanceNorm (no integer kernel exists), the residual Add (the trunk of a ResNet carries no
  quantization noise of its own), Pad, ReLU, tanh. ConvTranspose too: the CPU provider has no integer
  ConvTranspose, so quantizing it would only add quantize/dequantize steps.
- The first and the last convolution (image → features, features → image) stay float32: the first
  one's quantization error passes through the whole network (it alone cost more PSNR than any other
  layer), and with 3 image channels neither runs faster in int8.

Calibration images are prepared exactly as `i2i translate` prepares its inputs (`read_image`: RGB in
[0, 1], alpha composited onto white; reflect-padded to the generator's multiple; never resized), one
image per pass, so any sizes may be mixed. `quant_pre_process` (onnxruntime's shape inference and
graph clean-up before quantizing) is not run: it leaves an `i2i export` graph unchanged.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.images import ImageReadError, read_image
from i2i.metrics.pixel import psnr
from i2i.preprocess import Preprocess, pad_to_multiple, to_batch

QUANTIZED_OPS = ("Conv",)


RECIPE = "int8 static (onnxruntime QDQ: int8 activations, per-channel int8 weights, MinMax)"


@dataclass
class QuantizeReport:
    path: Path
    images: int                       # calibration images (the PSNR is measured on the same images)
    psnr: list[float]                 # per image, int8 output vs float32 output, dB (RGB in [0, 1])
    int8_convolutions: list[str]      # Conv/ConvTranspose nodes reading quantized inputs and weights
    float_convolutions: list[str]     # the others, left float32
    recipe: str = RECIPE

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def min_psnr(self) -> float:
        return float(np.min(self.psnr))

    def describe(self) -> str:
        """The one-line summary stored in the file's `i2i.quantization` and printed by `i2i export`."""
        return (f"{self.recipe}, calibrated on {self.images} image{'s' if self.images != 1 else ''}; "
                f"{len(self.int8_convolutions)} of {len(self.int8_convolutions) + len(self.float_convolutions)} "
                f"convolutions int8; PSNR vs float32 on those images: mean {self.mean_psnr:.2f} dB, "
                f"min {self.min_psnr:.2f} dB")


def calibration_files(calibration: str | Path) -> list[Path]:
    """The images of `--calibration` (a folder, searched recursively, a file or a glob pattern, as
    `translate`'s INPUT)."""
    from i2i.inference.jobs import collect_jobs

    try:
        return [job.source for job in collect_jobs([str(calibration)], Path(calibration))]
    except I2IError as error:
        raise I2IError(f"--calibration: {error}") from None


def prepare(path: Path, preprocess: Preprocess) -> tuple[np.ndarray, tuple[int, int]]:
    """One image as `translate` feeds it to the network (1×3×H'×W' float32 in [0, 1], padded to the
    multiple) and its original (H, W), which the outputs are cropped back to."""
    try:
        rgb = read_image(path)[0]
    except ImageReadError as error:
        raise I2IError(f"--calibration: {error}") from None
    return to_batch([pad_to_multiple(rgb, preprocess.multiple_of, preprocess.min_size)]), rgb.shape[:2]


def image_side_convolutions(model: onnx.ModelProto) -> list[str]:
    """Names of the first and the last Conv/ConvTranspose node (ONNX graphs are topologically sorted):
    the convolutions that read the image and write the output."""
    convolutions = [node.name for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose")]
    return sorted({convolutions[0], convolutions[-1]}) if convolutions else []


def integer_convolutions(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(int8, float32) convolution nodes of a quantized graph: QLinearConv/ConvInteger nodes, and
    Conv/ConvTranspose nodes whose input and weight both come from DequantizeLinear (QDQ), are int8."""
    producer = {output: node.op_type for node in model.graph.node for output in node.output}
    integer, floating = [], []
    for node in model.graph.node:
        if node.op_type in ("QLinearConv", "ConvInteger"):
            integer.append(node.name)
        elif node.op_type in ("Conv", "ConvTranspose"):
            dequantized = all(producer.get(name) == "DequantizeLinear" for name in node.input[:2])
            (integer if dequantized else floating).append(node.name)
    return integer, floating


@contextmanager
def quiet_quantizer() -> Iterator[None]:
    """onnxruntime.quantization logs advice through the root logger (e.g. "consider pre-processing")."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _session(model: str | Path | bytes):
    import onnxruntime

    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])


def quantize_int8(fp32: str | Path, out: str | Path, calibration: str | Path,
                  keep_float: list[str] | None = None, options: dict[str, Any] | None = None) -> QuantizeReport:
    """Write an int8 copy of the exported float32 graph `fp32` to `out` (atomically), calibrated on the
    images of `calibration`, with the float32 file's metadata plus `i2i.quantization` (a summary line)
    and `i2i.quantization.psnr`. `keep_float`: Conv nodes left float32 (default: the image-side ones).
    `options`: keyword arguments for onnxruntime's `quantize_static` replacing the recipe's (for
    experiments: benchmarks/translate_speed.py compares variants); the summary then lists them.
    Single-input graphs only (the conditioned MUNIT/FUNIT generators take a code as well)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fp32, out = Path(fp32), Path(out)
    model = onnx.load(str(fp32))
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    if len(model.graph.input) != 1:
        raise I2IError(f"{fp32}: int8 quantization takes single-input generators; this graph has inputs "
                       f"{[i.name for i in model.graph.input]} (MUNIT/FUNIT exports stay float32)")
    if "i2i" not in metadata:
        raise I2IError(f"{fp32}: ONNX file without i2i metadata (export it with `i2i export`)")
    preprocess = Preprocess.from_dict(json.loads(metadata["i2i"])["preprocess"])
    files = calibration_files(calibration)
    input_name = model.graph.input[0].name
    keep_float = image_side_convolutions(model) if keep_float is None else list(keep_float)

    class Images(CalibrationDataReader):  # one image at a time: a large folder is never all in memory
        def __init__(self) -> None:
            self.remaining = iter(files)

        def get_next(self) -> dict[str, np.ndarray] | None:
            path = next(self.remaining, None)
            return None if path is None else {input_name: prepare(path, preprocess)[0]}

    with tempfile.TemporaryDirectory(prefix="i2i-quantize-") as scratch, quiet_quantizer():
        quantized_path = Path(scratch) / "int8.onnx"
        settings = {"quant_format": QuantFormat.QDQ, "activation_type": QuantType.QInt8,
                    "weight_type": QuantType.QInt8, "per_channel": True,
                    "op_types_to_quantize": list(QUANTIZED_OPS), "nodes_to_exclude": keep_float, **(options or {})}
        quantize_static(str(fp32), str(quantized_path), Images(), **settings)
        quantized = onnx.load(str(quantized_path))

    int8_session, fp32_session = _session(quantized.SerializeToString()), _session(fp32)
    scores, scale = [], preprocess.scale
    for path in files:
        batch, (height, width) = prepare(path, preprocess)
        expected = fp32_session.run(None, {input_name: batch})[0][..., : height * scale, : width * scale]
        actual = int8_session.run(None, {input_name: batch})[0][..., : height * scale, : width * scale]
        scores.append(float(psnr(actual, expected)))
    integer, floating = integer_convolutions(quantized)
    recipe = RECIPE if not options else f"int8 static, custom onnxruntime options {options}"
    report = QuantizeReport(out, len(files), scores, integer, floating, recipe)
    onnx.helper.set_model_props(quantized, {**metadata, "i2i.quantization": report.describe(),
                                            "i2i.quantization.psnr": f"{report.mean_psnr:.4f}"})
    atomic_write(out, lambda temporary: onnx.save(quantized, str(temporary)))
    return report
