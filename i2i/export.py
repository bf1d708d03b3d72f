"""ONNX export: one graph per direction, float32 NCHW RGB in [0, 1] in and out.

Normalisation is folded into the graph, BatchNorm runs as at translate time (see
`InferenceConfig.batchnorm`), dropout is off. Batch, height and width are dynamic (height and width
must be multiples of the generator's `multiple_of`, recorded in the metadata). The checkpoint header
travels in `metadata_props` ("i2i", plus flat "i2i.*" keys for apps that do not parse JSON). Every
export is checked against PyTorch with onnxruntime at two input sizes; a mismatch fails the export
and leaves no file.

`quantize="int8"` (single-graph models: pix2pix, CycleGAN, SRGAN) also writes OUT.int8.onnx beside the
float32 file: statically quantized with the `calibration` images (`i2i.quantize`), its PSNR against
the float32 graph measured on them and carried in the report and the file's metadata.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from i2i.checkpoint import load_checkpoint
from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.inference_model import InferenceModel
from i2i.preprocess import Preprocess
from i2i.quantize import QuantizeReport, calibration_files, quantize_int8

INPUT_NAME = "image"
OUTPUT_NAME = "translated"


@dataclass
class ExportReport:
    path: Path
    direction: str
    parity: list[tuple[tuple[int, ...], float]]  # (input shape, max |onnx − torch|)
    tolerance: float
    code_encoder: Path | None = None             # MUNIT/FUNIT: the style/class encoder graph beside `path`
    quantized: QuantizeReport | None = None      # --quantize int8: the int8 file beside `path` and its PSNR


QUANTIZE_MODES = ("int8",)


def int8_path(out: str | Path) -> Path:
    """Where `--quantize int8` writes the int8 graph: OUT.int8.onnx beside the float32 OUT.onnx."""
    out = Path(out)
    return out.with_name(f"{out.stem}.int8.onnx")


def export_onnx(model: str | Path, out: str | Path, to: str | None = None, opset: int = 18,
                tolerance: float = 1e-4, quantize: str | None = None,
                calibration: str | Path | None = None) -> ExportReport:
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise I2IError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    if quantize is not None and calibration is None:
        raise I2IError("--quantize int8 needs --calibration DIR: a few images like the ones you will translate "
                       "(static quantization measures its activation ranges on them)")
    if calibration is not None and quantize is None:
        raise I2IError("--calibration is for --quantize int8; pass both or neither")
    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    preprocess = checkpoint.preprocess
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), preprocess, batchnorm).eval()
    multiple = preprocess.multiple_of
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise I2IError(f"--out must name an .onnx file, got {out}")
    if checkpoint.header.get("conditioning", {}).get("kind") in ("style", "class"):
        if quantize is not None:
            raise I2IError(f"--quantize {quantize}: MUNIT/FUNIT exports (a generator with a code input and its "
                           f"encoder) stay float32; int8 is for pix2pix, CycleGAN and SRGAN generators")
        return _export_conditioned(checkpoint.header, network, direction, out, opset, tolerance)
    if quantize is not None:  # a missing or empty folder fails now, not after the export
        calibration_files(calibration)

    # Trace at 2 blocks and batch 2: a size of exactly 1 would be specialised by torch.export.
    example = torch.rand(2, preprocess.channels, 2 * multiple, 2 * multiple)
    # H and W are multiples of `multiple_of`: state that to the exporter so its shape guards hold.
    batch, height, width = torch.export.Dim("batch"), torch.export.Dim("height_blocks"), torch.export.Dim("width_blocks")
    dynamic = {"image": {0: batch, 2: multiple * height, 3: multiple * width}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=dynamic,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                                    verbose=False)
    proto = program.model_proto
    header = dict(checkpoint.header)
    _set_metadata(proto, {
        "i2i": json.dumps(header),
        "i2i.direction": direction,
        "i2i.multiple_of": str(multiple),
        "i2i.scale": str(preprocess.scale),
        "i2i.input": "float32 NCHW RGB in [0, 1]; H and W multiples of i2i.multiple_of",
        "i2i.output": "float32 NCHW RGB in [0, 1]",
    })

    # Parity before the file lands: two sizes (one non-square), batch 2.
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    parity = []
    generator = torch.Generator().manual_seed(0)
    for blocks_h, blocks_w in ((2, 2), (2, 3)):  # ≥ 2 blocks: a ResNet cannot run at 1×multiple
        sample = torch.rand(2, preprocess.channels, multiple * blocks_h, multiple * blocks_w, generator=generator)
        with torch.no_grad():
            expected = network(sample).numpy()
        actual = session.run(None, {INPUT_NAME: sample.numpy()})[0]
        parity.append((tuple(sample.shape), float(np.abs(actual - expected).max())))
    worst = max(difference for _, difference in parity)
    if not worst <= tolerance:
        raise I2IError(f"ONNX output differs from PyTorch by {worst:.3g} (> {tolerance}); no file written. "
                       f"Per size: {parity}")
    atomic_write(out, lambda temporary: onnx.save(proto, str(temporary)))
    quantized = quantize_int8(out, int8_path(out), calibration) if quantize is not None else None
    return ExportReport(out, direction, parity, tolerance, quantized=quantized)


def _set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "i2i"


class _ConditionedGraph(torch.nn.Module):
    """Fixed (image, code) signature for the exporter (InferenceModel takes *codes)."""

    def __init__(self, model: InferenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.model(image, code)


def _export_conditioned(header: dict, network: InferenceModel, direction: str, out: Path, opset: int,
                        tolerance: float) -> ExportReport:
    """MUNIT/FUNIT: two graphs. OUT: (image N×3×H×W, code N×D) → translated; beside it
    OUT.style_encoder.onnx (MUNIT: N images → N style codes) or OUT.class_encoder.onnx (FUNIT: K images
    of one class → the (1, D) mean class code). Both are checked against PyTorch at two sizes and batch
    sizes 1 and 3 before either file is written."""
    import onnxruntime

    from i2i.inference_model import CodeEncoderModel

    conditioning = header["conditioning"]
    kind, dim = conditioning["kind"], int(conditioning["code_dim"])
    preprocess = Preprocess.from_dict(header["preprocess"])
    multiple, size = preprocess.multiple_of, preprocess.size
    code_name = f"{kind}_code"
    encoder_path = out.with_name(f"{out.stem}.{kind}_encoder.onnx")

    graph = _ConditionedGraph(network).eval()
    encoder = CodeEncoderModel(network, average=kind == "class").eval()
    batch, height, width = torch.export.Dim("batch"), torch.export.Dim("height_blocks"), torch.export.Dim("width_blocks")
    images = torch.export.Dim("images")
    enc_h, enc_w = torch.export.Dim("enc_height", min=16), torch.export.Dim("enc_width", min=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main = torch.onnx.export(
            graph, (torch.rand(2, preprocess.channels, 2 * multiple, 2 * multiple), torch.randn(2, dim)),
            dynamo=True, opset_version=opset, verbose=False, input_names=[INPUT_NAME, code_name],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"image": {0: batch, 2: multiple * height, 3: multiple * width}, "code": {0: batch}},
        ).model_proto
        side = max(size, 16)
        encoded = torch.onnx.export(
            encoder, (torch.rand(2, preprocess.channels, side, side),), dynamo=True, opset_version=opset,
            verbose=False, input_names=[INPUT_NAME], output_names=[code_name],
            dynamic_shapes={"images": {0: images, 2: enc_h, 3: enc_w}},
        ).model_proto
    flat = {
        "i2i": json.dumps(header),
        "i2i.direction": direction,
        "i2i.multiple_of": str(multiple),
        "i2i.scale": str(preprocess.scale),
        "i2i.code_kind": kind,
        "i2i.code_dim": str(dim),
        "i2i.code_encoder": encoder_path.name,
    }
    if kind == "style":
        code_text = (f"float32 (N, {dim}): one style per image — N(0, I) draws for random styles, or the output "
                     f"of {encoder_path.name} on a reference image of the target domain")
        encoder_text = f"float32 NCHW RGB in [0, 1], any size ≥ 16 (reference images; the training size {size} works best) → (N, {dim}) style codes"
    else:
        code_text = (f"float32 (N, {dim}): the class code, repeated per image — the output of {encoder_path.name} "
                     f"on K images of the target class")
        encoder_text = f"float32 KCHW RGB in [0, 1] (K images of one class, {size}×{size}) → (1, {dim}) mean class code"
    _set_metadata(main, {**flat, "i2i.role": "generator",
                         "i2i.input": "float32 NCHW RGB in [0, 1]; H and W multiples of i2i.multiple_of",
                         f"i2i.input.{code_name}": code_text, "i2i.output": "float32 NCHW RGB in [0, 1]"})
    _set_metadata(encoded, {**flat, "i2i.role": f"{kind}_encoder", "i2i.input": encoder_text})

    main_session = onnxruntime.InferenceSession(main.SerializeToString(), providers=["CPUExecutionProvider"])
    encoder_session = onnxruntime.InferenceSession(encoded.SerializeToString(), providers=["CPUExecutionProvider"])
    parity = []
    generator = torch.Generator().manual_seed(0)
    for n in (1, 3):
        for blocks_h, blocks_w in ((2, 2), (2, 3)):
            sample = torch.rand(n, preprocess.channels, multiple * blocks_h, multiple * blocks_w, generator=generator)
            code = torch.randn(n, dim, generator=generator)
            with torch.no_grad():
                expected = graph(sample, code).numpy()
            actual = main_session.run(None, {INPUT_NAME: sample.numpy(), code_name: code.numpy()})[0]
            parity.append((tuple(sample.shape), float(np.abs(actual - expected).max())))
        for side_h, side_w in ((side, side), (side + 8, side + 24)):
            references = torch.rand(n, preprocess.channels, side_h, side_w, generator=generator)
            with torch.no_grad():
                expected = encoder(references).numpy()
            actual = encoder_session.run(None, {INPUT_NAME: references.numpy()})[0]
            parity.append((("encoder", *references.shape), float(np.abs(actual - expected).max())))
    worst = max(difference for _, difference in parity)
    if not worst <= tolerance:
        raise I2IError(f"ONNX output differs from PyTorch by {worst:.3g} (> {tolerance}); no file written. "
                       f"Per input: {parity}")
    atomic_write(encoder_path, lambda temporary: onnx.save(encoded, str(temporary)))
    atomic_write(out, lambda temporary: onnx.save(main, str(temporary)))
    return ExportReport(out, direction, parity, tolerance, encoder_path)
