"""ONNX export: one graph per direction, float32 NCHW RGB in [0, 1] in and out.

Normalisation is folded into the graph, BatchNorm runs as at translate time (see
`InferenceConfig.batchnorm`), dropout is off. Batch, height and width are dynamic (height and width
must be multiples of the generator's `multiple_of`, recorded in the metadata). The checkpoint header
travels in `metadata_props` ("i2i", plus flat "i2i.*" keys for apps that do not parse JSON). Every
export is checked against PyTorch with onnxruntime at two input sizes; a mismatch fails the export
and leaves no file. MUNIT/FUNIT generators export as two graphs, the generator with a code input
and its encoder (`i2i.export.conditioned`).

`quantize="int8"` (single-graph models: pix2pix, CycleGAN, SRGAN) also writes OUT.int8.onnx beside the
float32 file: statically quantized with the `calibration` images (`i2i.export.int8`), its PSNR against
the float32 graph measured on them and carried in the report and the file's metadata.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from i2i.checkpoint import load_checkpoint
from i2i.errors import I2IError
from i2i.export.int8 import QuantizeReport, calibration_files, quantize_int8
from i2i.export.portable import add_size_check, make_portable
from i2i.files import atomic_write
from i2i.inference.codes import code_kind
from i2i.inference.deployed import InferenceModel
from i2i.models.spandrel_network import SpandrelNetwork
from i2i.preprocess import Preprocess

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
    _check_quantize_options(quantize, calibration)
    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    preprocess = checkpoint.preprocess
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), preprocess, batchnorm).eval()
    multiple = preprocess.multiple_of
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise I2IError(f"--out must name an .onnx file, got {out}")
    if code_kind(checkpoint.header) is not None:
        if quantize is not None:
            raise I2IError(f"--quantize {quantize}: MUNIT/FUNIT exports (a generator with a code input and its "
                           f"encoder) stay float32; int8 is for pix2pix, CycleGAN and SRGAN generators")
        from i2i.export.conditioned import export_conditioned  # it builds on this module's names

        return export_conditioned(checkpoint.header, network, direction, out, opset, tolerance)
    if quantize is not None:  # a missing or empty folder fails now, not after the export
        calibration_files(calibration)

    with _spandrel_guard(network, opset):
        proto = _trace(network, preprocess, opset)
    make_portable(proto)
    add_size_check(proto, INPUT_NAME, multiple)
    header = dict(checkpoint.header)
    set_metadata(proto, {
        "i2i": json.dumps(header),
        "i2i.direction": direction,
        "i2i.multiple_of": str(multiple),
        "i2i.scale": str(preprocess.scale),
        "i2i.input": "float32 NCHW RGB in [0, 1]; H and W multiples of i2i.multiple_of",
        "i2i.output": "float32 NCHW RGB in [0, 1]",
    })
    with _spandrel_guard(network, opset):
        parity = _parity(network, proto, preprocess)
        check_parity(parity, tolerance, "size")
    atomic_write(out, lambda temporary: onnx.save(proto, str(temporary)))
    quantized = quantize_int8(out, int8_path(out), calibration) if quantize is not None else None
    return ExportReport(out, direction, parity, tolerance, quantized=quantized)


def _check_quantize_options(quantize: str | None, calibration: str | Path | None) -> None:
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise I2IError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    if quantize is not None and calibration is None:
        raise I2IError("--quantize int8 needs --calibration DIR: a few images like the ones you will translate "
                       "(static quantization measures its activation ranges on them)")
    if calibration is not None and quantize is None:
        raise I2IError("--calibration is for --quantize int8; pass both or neither")


def image_dims() -> tuple[torch.export.Dim, torch.export.Dim, torch.export.Dim]:
    """The exporter's dynamic batch, height and width (the last two in blocks of `multiple_of`)."""
    return torch.export.Dim("batch"), torch.export.Dim("height_blocks"), torch.export.Dim("width_blocks")


def _trace(network: InferenceModel, preprocess: Preprocess, opset: int) -> onnx.ModelProto:
    """The generator as an ONNX graph with dynamic batch, height and width."""
    multiple, blocks = preprocess.multiple_of, _blocks(preprocess)
    # Trace at ≥ 2 blocks and batch 2: a size of exactly 1 would be specialised by torch.export.
    example = torch.rand(2, preprocess.channels, blocks * multiple, blocks * multiple)
    # H and W are multiples of `multiple_of`: state that to the exporter so its shape guards hold.
    batch, height, width = image_dims()
    dynamic = {"image": {0: batch, 2: multiple * height, 3: multiple * width}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=dynamic,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                                    verbose=False)
    return program.model_proto


def _parity(network: InferenceModel, proto: onnx.ModelProto,
            preprocess: Preprocess) -> list[tuple[tuple[int, ...], float]]:
    """Parity before the file lands: two sizes (one non-square), batches 1 and 3 — not the trace's 2: a
    graph the exporter froze at the trace batch (a model computing its batch size through a float, as
    spandrel's SwinIR does) is silently wrong at any other and fails here."""
    import onnxruntime

    multiple = preprocess.multiple_of
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    parity = []
    generator = torch.Generator().manual_seed(0)
    blocks = _blocks(preprocess)  # ≥ 2: a ResNet cannot run at 1×multiple
    for batch, blocks_h, blocks_w in ((1, blocks, blocks), (3, blocks, blocks + 1)):
        sample = torch.rand(batch, preprocess.channels, multiple * blocks_h, multiple * blocks_w,
                            generator=generator)
        with torch.no_grad():
            expected = network(sample).numpy()
        actual = session.run(None, {INPUT_NAME: sample.numpy()})[0]
        parity.append((tuple(sample.shape), float(np.abs(actual - expected).max())))
    return parity


def _blocks(preprocess: Preprocess) -> int:
    """Multiples of `multiple_of` per side in the trace and parity inputs: 2, or enough for `min_size`
    (spandrel's networks: SwinIR, HAT, … need sides of at least 16)."""
    return max(2, -(-preprocess.min_size // preprocess.multiple_of))


# -- networks imported through spandrel: an export that fails is one line naming the architecture ----
@contextmanager
def _spandrel_guard(network: InferenceModel, opset: int) -> Iterator[None]:
    """Around the trace and the parity check. For a network imported through spandrel, an architecture
    known not to export is refused before the exporter runs (one crashes it), and a failure of the
    exporter, of onnxruntime on its graph or of the parity check becomes one I2IError naming it."""
    generator = network.generator
    if not isinstance(generator, SpandrelNetwork):
        yield
        return
    name = f"{generator.config.architecture} (imported through spandrel)"
    if generator.onnx_problem is not None:
        raise I2IError(f"{name} does not export to ONNX: {generator.onnx_problem}; translate the checkpoint "
                       f"with the torch backend instead")
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the exporter's and onnxruntime's errors share no type
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise I2IError(f"{name} does not export to ONNX with torch.onnx.export (dynamo, opset {opset}): "
                       f"{reason}; translate the checkpoint with the torch backend instead") from None


def check_parity(parity: list[tuple[tuple, float]], tolerance: float, per: str) -> None:
    """Fail the export (no file written) when the worst ONNX − PyTorch difference exceeds `tolerance`."""
    worst = max(difference for _, difference in parity)
    if not worst <= tolerance:
        raise I2IError(f"ONNX output differs from PyTorch by {worst:.3g} (> {tolerance}); no file written. "
                       f"Per {per}: {parity}")


def set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    """Replace the graph's metadata_props with `values`; the producer is i2i."""
    del proto.metadata_props[:]
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "i2i"

