"""ONNX export of MUNIT/FUNIT generators: two graphs, the generator with a code input and the style or
class encoder beside it, both parity-checked against PyTorch before either file is written.

`i2i.export.onnx.export_onnx` calls `export_conditioned` for a checkpoint whose header has a
`conditioning` kind of "style" or "class".
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from i2i.export.onnx import INPUT_NAME, OUTPUT_NAME, ExportReport, check_parity, image_dims, set_metadata
from i2i.export.portable import add_size_check, make_portable
from i2i.files import atomic_write
from i2i.inference.codes import CodeKind
from i2i.inference.deployed import CodeEncoderModel, InferenceModel
from i2i.preprocess import Preprocess


class _ConditionedGraph(torch.nn.Module):
    """Fixed (image, code) signature for the exporter (InferenceModel takes *codes)."""

    def __init__(self, model: InferenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.model(image, code)


def export_conditioned(header: dict, network: InferenceModel, direction: str, out: Path, opset: int,
                       tolerance: float) -> ExportReport:
    """MUNIT/FUNIT: two graphs. OUT: (image N×3×H×W, code N×D) → translated; beside it
    OUT.style_encoder.onnx (MUNIT: N images → N style codes) or OUT.class_encoder.onnx (FUNIT: K images
    of one class → the (1, D) mean class code). Both are checked against PyTorch at two sizes and batch
    sizes 1 and 3 before either file is written."""
    conditioning = header["conditioning"]
    kind, dim = conditioning["kind"], int(conditioning["code_dim"])
    preprocess = Preprocess.from_dict(header["preprocess"])
    code_name = f"{kind}_code"
    encoder_path = out.with_name(f"{out.stem}.{kind}_encoder.onnx")
    side = max(preprocess.size, 16)

    graph = _ConditionedGraph(network).eval()
    encoder = CodeEncoderModel(network, average=kind == CodeKind.CLASS).eval()
    main, encoded = _trace(graph, encoder, preprocess, dim, code_name, side, opset)
    make_portable(main)
    make_portable(encoded)
    add_size_check(main, INPUT_NAME, preprocess.multiple_of)
    _set_conditioned_metadata(main, encoded, header, direction, preprocess, encoder_path)
    parity = _parity(graph, encoder, main, encoded, preprocess, dim, code_name, side)
    check_parity(parity, tolerance, "input")
    atomic_write(encoder_path, lambda temporary: onnx.save(encoded, str(temporary)))
    atomic_write(out, lambda temporary: onnx.save(main, str(temporary)))
    return ExportReport(out, direction, parity, tolerance, encoder_path)


def _trace(graph: _ConditionedGraph, encoder: CodeEncoderModel, preprocess: Preprocess, dim: int,
           code_name: str, side: int, opset: int) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """(generator graph, encoder graph): the generator's batch, height and width dynamic (the code's batch
    with the images'), the encoder's number of images and their size (≥ 16) too."""
    multiple = preprocess.multiple_of
    batch, height, width = image_dims()
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
        encoded = torch.onnx.export(
            encoder, (torch.rand(2, preprocess.channels, side, side),), dynamo=True, opset_version=opset,
            verbose=False, input_names=[INPUT_NAME], output_names=[code_name],
            dynamic_shapes={"images": {0: images, 2: enc_h, 3: enc_w}},
        ).model_proto
    return main, encoded


def _set_conditioned_metadata(main: onnx.ModelProto, encoded: onnx.ModelProto, header: dict, direction: str,
                              preprocess: Preprocess, encoder_path: Path) -> None:
    """Both graphs carry the header and name each other; each describes its own inputs."""
    conditioning = header["conditioning"]
    kind, dim = conditioning["kind"], int(conditioning["code_dim"])
    size, code_name = preprocess.size, f"{kind}_code"
    flat = {
        "i2i": json.dumps(header),
        "i2i.direction": direction,
        "i2i.multiple_of": str(preprocess.multiple_of),
        "i2i.scale": str(preprocess.scale),
        "i2i.code_kind": kind,
        "i2i.code_dim": str(dim),
        "i2i.code_encoder": encoder_path.name,
    }
    if kind == CodeKind.STYLE:
        code_text = (f"float32 (N, {dim}): one style per image — N(0, I) draws for random styles, or the output "
                     f"of {encoder_path.name} on a reference image of the target domain")
        encoder_text = f"float32 NCHW RGB in [0, 1], any size ≥ 16 (reference images; the training size {size} works best) → (N, {dim}) style codes"
    else:
        code_text = (f"float32 (N, {dim}): the class code, repeated per image — the output of {encoder_path.name} "
                     f"on K images of the target class")
        encoder_text = f"float32 KCHW RGB in [0, 1] (K images of one class, {size}×{size}) → (1, {dim}) mean class code"
    set_metadata(main, {**flat, "i2i.role": "generator",
                        "i2i.input": "float32 NCHW RGB in [0, 1]; H and W multiples of i2i.multiple_of",
                        f"i2i.input.{code_name}": code_text, "i2i.output": "float32 NCHW RGB in [0, 1]"})
    set_metadata(encoded, {**flat, "i2i.role": f"{kind}_encoder", "i2i.input": encoder_text})


def _parity(graph: _ConditionedGraph, encoder: CodeEncoderModel, main: onnx.ModelProto,
            encoded: onnx.ModelProto, preprocess: Preprocess, dim: int, code_name: str,
            side: int) -> list[tuple[tuple, float]]:
    """(input shape, max |onnx − torch|) of both graphs at batch sizes 1 and 3, two sizes each."""
    import onnxruntime

    multiple = preprocess.multiple_of
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
    return parity
