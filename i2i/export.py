"""ONNX export: one graph per direction, float32 NCHW RGB in [0, 1] in and out.

Normalisation is folded into the graph, BatchNorm runs as at translate time (see
`InferenceConfig.batchnorm`), dropout is off. Batch, height and width are dynamic (height and width
must be multiples of the generator's `multiple_of`, recorded in the metadata). The checkpoint header
travels in `metadata_props` ("i2i", plus flat "i2i.*" keys for apps that do not parse JSON). Every
export is checked against PyTorch with onnxruntime at two input sizes; a mismatch fails the export
and leaves no file.
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

INPUT_NAME = "image"
OUTPUT_NAME = "translated"


@dataclass
class ExportReport:
    path: Path
    direction: str
    parity: list[tuple[tuple[int, ...], float]]  # (input shape, max |onnx − torch|)
    tolerance: float


def export_onnx(model: str | Path, out: str | Path, to: str | None = None, opset: int = 18,
                tolerance: float = 1e-4) -> ExportReport:
    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    preprocess = checkpoint.preprocess
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), preprocess, batchnorm).eval()
    multiple = preprocess.multiple_of

    # Trace at 2 blocks and batch 2: a size of exactly 1 would be specialised by torch.export.
    example = torch.rand(2, preprocess.channels, 2 * multiple, 2 * multiple)
    # H and W are multiples of `multiple_of`: state that to the exporter so its shape guards hold.
    batch, height, width = torch.export.Dim("batch"), torch.export.Dim("height_blocks"), torch.export.Dim("width_blocks")
    dynamic = {"image": {0: batch, 2: multiple * height, 3: multiple * width}}
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise I2IError(f"--out must name an .onnx file, got {out}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=dynamic,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                                    verbose=False)
    proto = program.model_proto
    header = dict(checkpoint.header)
    flat = {
        "i2i": json.dumps(header),
        "i2i.direction": direction,
        "i2i.multiple_of": str(multiple),
        "i2i.scale": str(preprocess.scale),
        "i2i.input": "float32 NCHW RGB in [0, 1]; H and W multiples of i2i.multiple_of",
        "i2i.output": "float32 NCHW RGB in [0, 1]",
    }
    del proto.metadata_props[:]
    for key, value in flat.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "i2i"

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
    return ExportReport(out, direction, parity, tolerance)
