"""fp16 ONNX graphs: the float32 export's graphs with float16 weights and activations, for GPU providers.

`export_fp16(model, out)` exports the float32 graph(s) with `i2i.export.onnx.export_onnx` into a
scratch folder (so each float32 graph is checked against PyTorch first, whatever its ops), converts
each one (`convert_fp16`) and checks the float16 graph against the float32 one on real photos before
anything is written: a PSNR under `min_psnr` (60 dB) on any photo fails the export and leaves no file.
MUNIT/FUNIT exports convert both graphs, the generator and its style/class encoder, and check the
generator, the encoder's codes, and the generator fed with its own precision's codes.

What stays float32, and why:
- Inputs and outputs: the file keeps the float32 contract, so `i2i translate`, the apps and the
  examples run it unchanged; a Cast to float16 follows the input, one to float32 precedes the output.
- Statistics: reductions (ReduceMean, GlobalAveragePool, …), InstanceNorm/LayerNorm/GroupNorm, Sqrt,
  Pow, and the arithmetic that only feeds them (MUNIT's (x − mean)², its element count C·H·W and
  variance). A mean over H×W pixels accumulated in float16 loses digits as the image grows; a sum of
  squares or a count of a 128-channel 64×64 map overflows float16's 65504.
- Resize (MUNIT's and FUNIT's upsampling): not every provider has a float16 kernel for it.
Everything else — Conv, ConvTranspose, Gemm, activations, Pad, Concat, the residual additions — runs in
float16 (`FLOAT16_OPS`, an allow-list: an op it does not name stays float32, correct if slower).

Why a converter of our own (80 lines of `onnx`): onnxconverter-common's `convert_float_to_float16`
makes a MUNIT graph onnxruntime refuses (a Cast node keeps `to=FLOAT` while its output is retyped
float16), and with reductions added to its block list it did not finish converting the 21-node FUNIT
class encoder in a minute. onnxruntime's copy of it (`onnxruntime.transformers.float16`) converts them,
but retypes MUNIT's Cast of the element count C·H·W to float16 (infinite past 65504), and naming
those nodes in its `node_block_list` produced graphs whose outputs were NaN. Here every float tensor
has one precision, decided per node, and a Cast is inserted where a reader wants the other.

onnxruntime's CPU provider runs these graphs, which is how the export and the tests check them, but
it computes in float32 the nodes it has no float16 kernel for (merging the casts around them: it hid
that count's overflow), so the check measures float16 weights and storage more than float16
arithmetic. The files are meant for the CUDA, DirectML or TensorRT providers.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from i2i.errors import I2IError
from i2i.export.int8 import calibration_files
from i2i.export.onnx import export_onnx
from i2i.files import atomic_write
from i2i.images import ImageReadError, read_image, resize_plane
from i2i.metrics.pixel import psnr
from i2i.preprocess import Preprocess, pad_to_multiple, to_batch

MIN_PSNR = 60.0  # dB, float16 graph vs float32 graph on RGB in [0, 1]
FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
# What computes in float16 (an allow-list: an op not named here, e.g. one a later exporter emits, stays
# float32, correct if slower). Reductions, GlobalAveragePool, the normalisations, Sqrt, Pow, Resize
# and Cast are left out on purpose (see the module docstring).
FLOAT16_OPS = frozenset((
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization",  # inference BatchNorm: scale + shift
    "Relu", "LeakyRelu", "PRelu", "Elu", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish", "Clip",
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Max", "Min",
    "Pad", "Concat", "Split", "Slice", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Tile",
    "Transpose", "Identity", "DepthToSpace", "SpaceToDepth", "MaxPool", "AveragePool",
))
# Cheap nodes that run in float32 when no float16 node reads them: they are then part of a statistic.
_FOLLOWERS = frozenset(("Add", "Sub", "Mul", "Div", "Neg", "Abs", "Reshape", "Flatten", "Squeeze",
                        "Unsqueeze", "Expand", "Identity"))
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png")  # scikit-image's bundled photographs
PHOTO_SIDE = 256  # the photos are fitted into PHOTO_SIDE px (SR models: their input, PHOTO_SIDE / scale)


@dataclass
class Fp16Check:
    graph: str            # "generator", "style_encoder" (codes), "generator + style_encoder" (end to end)
    psnr: list[float]     # per photo, fp16 vs fp32 output, dB (empty for an encoder: codes are not images)
    max_abs: float        # max |fp16 − fp32| over all photos


@dataclass
class Fp16Report:
    path: Path
    direction: str
    checks: list[Fp16Check]
    worst_psnr: float                       # the lowest PSNR of all checks, dB
    min_psnr: float                         # what the export required
    photos: list[Path]
    fp32_parity: list[tuple[tuple, float]]  # the float32 graphs against PyTorch (export_onnx's check)
    tolerance: float                        # … and its tolerance
    code_encoder: Path | None = None        # MUNIT/FUNIT: the fp16 encoder graph beside `path`

    def describe(self) -> str:
        """One line per check, as `i2i export --precision fp16` prints them."""
        return describe_checks(self.checks)


def describe_checks(checks: list[Fp16Check], separator: str = "\n  ") -> str:
    """Each check as "graph: PSNR min … dB (per photo), max |fp16 − fp32| …", joined by `separator`."""
    lines = []
    for check in checks:
        scores = f"PSNR min {min(check.psnr):.2f} dB ({', '.join(f'{s:.2f}' for s in check.psnr)}), " \
            if check.psnr else ""
        lines.append(f"{check.graph}: {scores}max |fp16 − fp32| {check.max_abs:.2e}")
    return separator.join(lines)


def parity_photos(photos: str | Path | None = None) -> list[Path]:
    """The images an fp16 or NCNN export is checked on: `photos` (a folder, file or glob, as
    `--calibration`), else scikit-image's bundled astronaut, chelsea and coffee photographs."""
    if photos is not None:
        return calibration_files(photos)
    try:
        import skimage
    except ImportError:
        raise I2IError("the fp16/NCNN export checks its graphs on photos: pass --calibration DIR (a few "
                       "images like those you will translate) or pip install scikit-image (its bundled "
                       "photos are the default)") from None
    folder = Path(skimage.__file__).parent / "data"
    missing = [name for name in PHOTOS if not (folder / name).is_file()]
    if missing:
        raise I2IError(f"scikit-image's data folder {folder} lacks {', '.join(missing)}; "
                       f"pass --calibration DIR")
    return [folder / name for name in PHOTOS]


def fitted_photo(path: Path, side: int, preprocess: Preprocess) -> tuple[np.ndarray, tuple[int, int]]:
    """One photo as a 1×3×H×W float32 batch in [0, 1]: scaled down (bicubic) so its longer side is at
    most `side`, reflect-padded to the multiple as `translate` pads; and its (H, W) before padding."""
    try:
        rgb = read_image(path)[0]
    except ImageReadError as error:
        raise I2IError(f"parity photo: {error}") from None
    height, width = rgb.shape[:2]
    ratio = min(1.0, side / max(height, width))
    if ratio < 1.0:
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
        rgb = np.stack([resize_plane(rgb[..., c], new_w, new_h) for c in range(3)], -1)
    padded = pad_to_multiple(rgb, preprocess.multiple_of, preprocess.min_size)
    return to_batch([padded]), rgb.shape[:2]


def reference_batch(paths: list[Path], height: int, width: int) -> np.ndarray:
    """The photos as style/class encoder references, each resized (bicubic) to height × width: N×3×H×W."""
    images = []
    for path in paths:
        try:
            rgb = read_image(path)[0]
        except ImageReadError as error:
            raise I2IError(f"parity photo: {error}") from None
        images.append(np.stack([resize_plane(rgb[..., c], width, height) for c in range(3)], -1))
    return to_batch(images)


def _float16_nodes(graph: onnx.GraphProto, types: dict[str, int]) -> set[int]:
    """Indices of the nodes that compute in float16: FLOAT16_OPS with a float output, except followers
    (walking backwards, so chains are followed) that no float16 node reads — (x − mean)², the element
    count C·H·W (over 65504 for any sizeable feature map), the variance: the arithmetic of a statistic."""
    consumers: dict[str, list[int]] = defaultdict(list)
    for index, node in enumerate(graph.node):
        for name in node.input:
            consumers[name].append(index)
    graph_outputs = {output.name for output in graph.output}
    half: set[int] = set()
    for index in reversed(range(len(graph.node))):
        node = graph.node[index]
        floats = [name for name in node.output if types.get(name) == FLOAT]
        if node.op_type not in FLOAT16_OPS or not floats:
            continue
        read_by_half = any(user in half for name in floats for user in consumers[name])
        if node.op_type not in _FOLLOWERS or read_by_half or graph_outputs.intersection(floats):
            half.add(index)
    return half


def _to_float16(values: np.ndarray) -> np.ndarray:
    """float32 → float16, finite values clipped to ±65504 rather than turned into infinities."""
    limit = float(np.finfo(np.float16).max)
    return np.where(np.isfinite(values), np.clip(values, -limit, limit), values).astype(np.float16)


def convert_fp16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of a float32 graph: float32 inputs and outputs, the nodes outside FLOAT16_OPS (and
    the arithmetic of their statistics) in float32, a Cast wherever the two meet; metadata kept."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())  # the caller's graph stays float32
    graph = proto.graph
    subgraphs = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    if any(attribute.type in subgraphs for node in graph.node for attribute in node.attribute):
        raise I2IError("fp16: the graph has control flow (If/Loop/Scan); i2i converts only flat graphs")
    inferred = onnx.shape_inference.infer_shapes(proto).graph
    values = (*inferred.value_info, *inferred.input, *inferred.output)
    types = {value.name: value.type.tensor_type.elem_type for value in values}
    types.update({tensor.name: tensor.data_type for tensor in graph.initializer})
    half = _float16_nodes(graph, types)
    half_values = {name for index in half for name in graph.node[index].output if types.get(name) == FLOAT}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    outputs = {output.name for output in graph.output if output.name in half_values}
    nodes, casts = [], {}

    def read(name: str, want: int) -> str:
        """`name` as the consumer wants it: itself, or a Cast (an initializer: a float16 copy) made once."""
        have = FLOAT16 if name in half_values else FLOAT
        if types.get(name) != FLOAT or want == have:
            return name
        if (name, want) not in casts:
            casts[(name, want)] = f"{name}_as_fp16" if want == FLOAT16 else f"{name}_as_fp32"
            if name in initializers:
                values = _to_float16(onnx.numpy_helper.to_array(initializers[name]))
                graph.initializer.append(onnx.numpy_helper.from_array(values, casts[(name, want)]))
            else:
                nodes.append(onnx.helper.make_node("Cast", [name], [casts[(name, want)]], to=want,
                                                   name=f"i2i_cast_{len(casts)}"))
        return casts[(name, want)]

    for index, node in enumerate(graph.node):
        want = FLOAT16 if index in half else FLOAT
        node.input[:] = [read(name, want) if name else name for name in node.input]
        finals = [name for name in node.output if name in outputs]  # graph outputs stay float32
        node.output[:] = [f"{name}_fp16" if name in outputs else name for name in node.output]
        nodes.append(node)
        nodes += [onnx.helper.make_node("Cast", [f"{name}_fp16"], [name], to=FLOAT, name=f"i2i_output_{name}")
                  for name in finals]
    _replace_nodes(graph, nodes, half_values)
    try:  # strict type and shape inference over the new graph: a node that reads the wrong type fails here
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise I2IError(f"fp16: the converted graph is not valid ONNX ({str(error).splitlines()[0][:200]}); "
                       f"export it in float32") from None
    return proto


def _replace_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], half_values: set[str]) -> None:
    """Install the rewritten node list; initializers only float16 nodes read become float16 copies in
    place of the float32 ones, and the value_info entries of float16 values say so."""
    used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    for value in graph.value_info:
        if value.name in half_values:
            value.type.tensor_type.elem_type = FLOAT16


def _session(proto: onnx.ModelProto):
    import onnxruntime

    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _image_check(graph: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> Fp16Check:
    """PSNR per (fp16, fp32) output pair and the max |difference| over all of them."""
    return Fp16Check(graph, [float(psnr(half, full)) for half, full in pairs],
                     max(float(np.abs(half - full).max()) for half, full in pairs))


def check_single(fp32: onnx.ModelProto, fp16: onnx.ModelProto, preprocess: Preprocess,
                 photos: list[Path]) -> list[Fp16Check]:
    """pix2pix, CycleGAN, SR: the two graphs' outputs on each photo (cropped back to the photo)."""
    full, half = _session(fp32), _session(fp16)
    name, scale, pairs = fp32.graph.input[0].name, preprocess.scale, []
    for path in photos:
        batch, (height, width) = fitted_photo(path, max(16, PHOTO_SIDE // scale), preprocess)
        crop = (..., slice(0, height * scale), slice(0, width * scale))
        pairs.append((half.run(None, {name: batch})[0][crop], full.run(None, {name: batch})[0][crop]))
    return [_image_check("generator", pairs)]


def _translate(session, names: tuple[str, str], batch: np.ndarray, code: np.ndarray,
               crop: tuple[int, int]) -> np.ndarray:
    image_name, code_name = names
    return session.run(None, {image_name: batch, code_name: code})[0][..., : crop[0], : crop[1]]


def check_conditioned(graphs: dict[str, tuple[onnx.ModelProto, onnx.ModelProto]], kind: str,
                      preprocess: Preprocess, photos: list[Path]) -> list[Fp16Check]:
    """MUNIT/FUNIT: the generator with the same prior code (seed 0) in both precisions; the encoder's
    codes of the photos (as references at the training size); and the generator fed with its own
    precision's codes — what a user's reference-style or few-shot translation gets."""
    (main32, main16), (enc32, enc16) = graphs["generator"], graphs["encoder"]
    generators = {"fp32": _session(main32), "fp16": _session(main16)}
    names = (main32.graph.input[0].name, main32.graph.input[1].name)
    side = max(preprocess.size, 16)  # the training size, as translate resizes references
    references = {enc32.graph.input[0].name: reference_batch(photos, side, side)}
    codes = {precision: _session(encoder).run(None, references)[0]
             for precision, encoder in (("fp32", enc32), ("fp16", enc16))}
    prior = np.random.default_rng(0).standard_normal((1, codes["fp32"].shape[1])).astype(np.float32)
    with_prior, end_to_end = [], []
    for index, path in enumerate(photos):
        batch, crop = fitted_photo(path, PHOTO_SIDE, preprocess)
        with_prior.append(tuple(_translate(generators[p], names, batch, prior, crop)
                                for p in ("fp16", "fp32")))
        row = min(index, codes["fp32"].shape[0] - 1)  # MUNIT: the photo's own style; FUNIT: the class code
        end_to_end.append(tuple(_translate(generators[p], names, batch, codes[p][row: row + 1], crop)
                                for p in ("fp16", "fp32")))
    encoder_name = f"{kind}_encoder"
    return [_image_check("generator", with_prior),
            Fp16Check(encoder_name, [], float(np.abs(codes["fp16"] - codes["fp32"]).max())),
            _image_check(f"generator + {encoder_name}", end_to_end)]


def export_fp16(model: str | Path, out: str | Path, to: str | None = None, opset: int = 18,
                tolerance: float = 1e-4, photos: str | Path | None = None,
                min_psnr: float = MIN_PSNR) -> Fp16Report:
    """Write the float16 graph OUT.onnx (and, for MUNIT/FUNIT, the float16 OUT.style_encoder.onnx or
    OUT.class_encoder.onnx) of one direction. The float32 export runs first, in a scratch folder, with
    its PyTorch parity check (`tolerance`); the float16 graphs must then reach `min_psnr` dB against
    it on every photo (`parity_photos(photos)`), or nothing is written."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise I2IError(f"--out must name an .onnx file, got {out}")
    files = parity_photos(photos)
    with tempfile.TemporaryDirectory(prefix="i2i-fp16-") as scratch:
        fp32 = export_onnx(model, Path(scratch) / out.name, to=to, opset=opset, tolerance=tolerance)
        main = onnx.load(str(fp32.path))
        encoder = onnx.load(str(fp32.code_encoder)) if fp32.code_encoder is not None else None
    header = json.loads({entry.key: entry.value for entry in main.metadata_props}["i2i"])
    preprocess = Preprocess.from_dict(header["preprocess"])
    converted = {"generator": (main, convert_fp16(main))}
    if encoder is None:
        checks = check_single(main, converted["generator"][1], preprocess, files)
    else:
        converted["encoder"] = (encoder, convert_fp16(encoder))
        checks = check_conditioned(converted, header["conditioning"]["kind"], preprocess, files)
    worst = min(score for check in checks for score in check.psnr)
    if not worst >= min_psnr:
        raise I2IError(f"fp16 graph differs from the float32 graph: PSNR {worst:.2f} dB < {min_psnr} dB on "
                       f"{', '.join(p.name for p in files)}; no file written "
                       f"({describe_checks(checks, '; ')})")
    encoder_path = out.with_name(fp32.code_encoder.name) if fp32.code_encoder is not None else None
    writes = [(out, converted["generator"][1])]
    if encoder_path is not None:  # the encoder first: the generator's file names it
        writes.insert(0, (encoder_path, converted["encoder"][1]))
    for path, half in writes:
        _mark_fp16(half, worst)
        atomic_write(path, lambda temporary, half=half: onnx.save(half, str(temporary)))
    return Fp16Report(out, fp32.direction, checks, worst, min_psnr, files, fp32.parity, fp32.tolerance,
                       encoder_path)


def _mark_fp16(proto: onnx.ModelProto, worst: float) -> None:
    """The float32 file's metadata plus what the precision is and what it measured."""
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    onnx.helper.set_model_props(proto, {
        **metadata, "i2i.precision": "fp16",
        "i2i.precision.detail": "float16 weights and activations; float32 inputs, outputs, reductions, "
                                "normalisation statistics and Resize",
        "i2i.fp16.psnr": f"{worst:.4f}",
    })
