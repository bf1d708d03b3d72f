"""NCNN export: a generator as NAME.param + NAME.bin for ncnn (Vulkan GPUs, phones, the upscaler apps).

`export_ncnn(model, out_dir)` traces the deployed generator (`InferenceModel`: [0, 1] RGB in and out,
normalisation folded in) with `torch.jit.trace`, converts it with pnnx (the NCNN project's converter;
two input shapes make H and W dynamic), runs the result with the `ncnn` package against PyTorch on
photos at two sizes, and only then writes the files; MUNIT/FUNIT add NAME.style_encoder.* or
NAME.class_encoder.*. NAME.json carries what ncnn's format cannot: the checkpoint header, multiple_of,
scale, the blobs and what they hold, the parity measured. TorchScript rather than the ONNX file: pnnx
reads torch 2.14's traces of all five methods, and the export does not depend on how the ONNX graphs
are built. ncnn has no batch axis: a graph takes one C×H×W image, a code is a vector; FUNIT's class
code of K images is the mean of the K per-image codes (as the ONNX class encoder computes it).

Blob names are the ONNX ones (`image`, `style_code`/`class_code`, `translated`), except for
super-resolution: `data` and `output`, which realesrgan-ncnn-vulkan hard-codes (src/realesrgan.cpp)
and upscayl-ncnn looks for first, so the pair drops into those apps (docs/ncnn.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from i2i.checkpoint import load_checkpoint
from i2i.errors import I2IError
from i2i.export.fp16 import PHOTO_SIDE, fitted_photo, parity_photos, reference_batch
from i2i.files import atomic_write
from i2i.inference.codes import code_kind
from i2i.inference.deployed import CodeEncoderModel, InferenceModel
from i2i.preprocess import Preprocess

# max |ncnn − torch| on [0, 1] (codes: relative to their largest |value|, at least 1). The conversion
# itself is checked on a float32 copy (float32 weights and arithmetic), as tightly as the ONNX export …
CONVERSION_TOLERANCE = 1e-4
# … and the files written, as ncnn runs them by default (float16 weights and storage): their rounding
# may move an output by up to one 8-bit level, never more.
TOLERANCE = 1 / 255
PRECISIONS = ("fp16", "fp32")  # weights in NAME.bin: ncnn's default float16, or float32
APP_BLOBS = ("data", "output")  # realesrgan-ncnn-vulkan's input and output blob names
INSTALL = "pip install pnnx==20261020 ncnn==1.0.20261020"


@dataclass
class NcnnGraph:
    role: str                    # "generator", "style_encoder", "class_encoder"
    param: Path                  # the written pair (until written: pnnx's files in the scratch folder)
    weights: Path                # the .bin
    inputs: list[str]            # blob names, in the generator's argument order
    output: str
    exact: tuple[Path, Path]     # the float32 pair of the conversion check (scratch folder, not written)
    seconds: float               # trace + pnnx (both conversions)
    # (input shape, max |ncnn − torch|): the float32 copy in float32 arithmetic (the conversion check),
    # and the written pair with ncnn's default options (float16 storage: what GPUs and phones compute)
    conversion: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    parity: list[tuple[tuple[int, ...], float]] = field(default_factory=list)


@dataclass
class NcnnReport:
    directory: Path
    name: str
    direction: str
    graphs: list[NcnnGraph]
    sidecar: Path
    tolerance: float
    end_to_end: float | None = None   # MUNIT/FUNIT: generator fed with ncnn's codes vs torch's, max |diff|
    apps: str | None = None           # SR: how realesrgan-ncnn-vulkan / Upscayl load the files

    def describe(self) -> str:
        """One line per graph (parity per size, the conversion time), as `i2i export` prints them."""
        lines = []
        for graph in self.graphs:
            exact = max(d for _, d in graph.conversion)
            lines.append(f"  {graph.role} → {graph.param.name} + {graph.weights.name} (inputs "
                         f"{', '.join(graph.inputs)}; output {graph.output}; converted in "
                         f"{graph.seconds:.1f} s): ncnn vs torch max |diff| {_sizes(graph.parity)} "
                         f"(float32 conversion check: {exact:.1e})")
        if self.end_to_end is not None:
            lines.append(f"  generator fed with ncnn's {self.graphs[1].output} vs torch's: "
                         f"max |diff| {self.end_to_end:.1e}")
        if self.apps is not None:
            lines.append(f"  {self.apps}")
        return "\n".join(lines)


def _sizes(parity: list[tuple[tuple[int, ...], float]]) -> str:
    """The worst difference per input shape (photos of one size may share a shape)."""
    worst = {shape: max(d for s, d in parity if s == shape) for shape, _ in parity}
    return ", ".join(f"{'×'.join(map(str, shape))}: {diff:.1e}" for shape, diff in worst.items())


def ncnn_name(model: str | Path, directions: list[str], direction: str, scale: int) -> str:
    """The default file stem: the run directory's or checkpoint's name, "-DOMAIN" when the checkpoint
    holds more than one direction, and for SR "-xS" unless the name already says it (Upscayl reads
    a custom model's scale from its name: "x2"/"2x" → 2, "x3"/"3x" → 3, anything else → 4)."""
    path = Path(model)
    name = path.name if path.is_dir() else path.stem
    if len(directions) > 1:
        name += f"-{direction.split('->')[1]}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "i2i"
    lowered = name.lower()  # upscayl's common/check-model-scale.ts, exactly:
    implied = 2 if ("x2" in lowered or "2x" in lowered) else 3 if ("x3" in lowered or "3x" in lowered) else 4
    return name + f"-x{scale}" if scale > 1 and implied != scale else name


def _tools() -> tuple[str, str]:
    """(pnnx executable, pnnx version), or one line saying how to install them."""
    try:
        import ncnn  # noqa: F401 - the parity check runs it
        import pnnx
    except ImportError:
        raise I2IError(f"--format ncnn needs the pnnx converter and the ncnn runtime: {INSTALL}") from None
    return pnnx.EXEC_PATH, getattr(pnnx, "__version__", "?")


def _shape_argument(tensors: tuple[torch.Tensor, ...]) -> str:
    """pnnx's "inputshape=[1,3,64,64]f32,[1,8]f32"."""
    return ",".join("[" + ",".join(map(str, t.shape)) + "]f32" for t in tensors)


def _trace(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, what: str) -> None:
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer warnings
            torch.jit.trace(module.eval(), example, check_trace=False).save(str(path))
    except Exception as error:  # noqa: BLE001 - the tracer's failures share no type
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise I2IError(f"{what} does not trace with torch.jit.trace for NCNN: {reason}") from None


def _pnnx(traced: Path, examples: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], stem: str,
          fp16: bool, what: str) -> tuple[Path, Path]:
    """pnnx on a TorchScript file: stem.ncnn.param/.bin beside it (float16 or float32 weights). Two input
    shapes (the trace's, and another size) tell pnnx which dimensions are dynamic."""
    executable, version = _tools()
    param, weights = traced.with_name(f"{stem}.ncnn.param"), traced.with_name(f"{stem}.ncnn.bin")
    command = [executable, str(traced), f"inputshape={_shape_argument(examples[0])}",
               f"inputshape2={_shape_argument(examples[1])}", f"fp16={int(fp16)}", "device=cpu",
               f"ncnnparam={param}", f"ncnnbin={weights}"]  # its other files land beside the .pt, in scratch
    result = subprocess.run(command, cwd=traced.parent, capture_output=True, text=True, timeout=900,
                            check=False)
    if result.returncode != 0 or not param.is_file() or not weights.is_file():
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])[:400]
        raise I2IError(f"pnnx {version} could not convert {what} (exit status {result.returncode}): {tail}")
    return param, weights


def _convert(spec: tuple, scratch: Path, precision: str, what: str) -> NcnnGraph:
    """One graph: traced once; pnnx with float32 weights (the conversion check's copy) and, for fp16,
    again with float16 weights (the files written); blobs renamed from pnnx's in0…/out0."""
    role, module, examples, inputs, output = spec
    started, traced = time.perf_counter(), scratch / f"{role}.pt"
    _trace(module, examples[0], traced, what)
    pairs = {fp16: _pnnx(traced, examples, f"{role}.{'fp16' if fp16 else 'fp32'}", fp16, what)
             for fp16 in {False, precision == "fp16"}}
    names = dict(zip([f"in{i}" for i in range(len(inputs))] + ["out0"], [*inputs, output]))
    for param, _ in pairs.values():
        param.write_text(rename_blobs(param.read_text(), names))
    param, weights = pairs[precision == "fp16"]
    return NcnnGraph(role, param, weights, inputs, output, pairs[False], time.perf_counter() - started)


def rename_blobs(param: str, names: dict[str, str]) -> str:
    """An ncnn .param text with blobs (and the Input layers naming them) renamed per `names`, e.g.
    pnnx's in0 → image. Each layer line is: type name #inputs #outputs input-blobs output-blobs k=v…"""
    lines = param.splitlines()
    existing = {blob for line in lines[2:] for blob in line.split()[4:4 + sum(map(int, line.split()[2:4]))]}
    clashes = set(names.values()) & (existing - set(names))
    if clashes:
        raise I2IError(f"NCNN blob names {sorted(clashes)} are already taken in the converted graph")
    renamed = lines[:2]
    for line in lines[2:]:
        fields = line.split()
        count = int(fields[2]) + int(fields[3])
        if fields[0] == "Input":
            fields[1] = names.get(fields[1], fields[1])
        fields[4:4 + count] = [names.get(blob, blob) for blob in fields[4:4 + count]]
        renamed.append(" ".join(fields))
    return "\n".join(renamed) + "\n"


def _ncnn_net(param: Path, weights: Path, fp16: bool):
    """An ncnn.Net on the CPU: with ncnn's default options (`fp16`: float16 storage and arithmetic where
    the CPU has them, as on GPUs and phones) or with float32 storage and arithmetic."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = max(1, torch.get_num_threads())
    if not fp16:
        net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise I2IError(f"ncnn could not load {param.name} / {weights.name} written by pnnx")
    return net


def _ncnn_forward(net, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
    """One forward pass. ncnn.Mat(array) borrows the array's memory, so the contiguous copies are kept
    alive in `arrays` until the output is extracted (a temporary would be freed under it)."""
    import ncnn

    arrays = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
    extractor = net.create_extractor()
    for name, array in arrays.items():
        extractor.input(name, ncnn.Mat(array))
    status, result = extractor.extract(output)
    if status != 0:
        raise I2IError(f"ncnn failed to compute blob {output!r} (status {status})")
    return np.array(result)



def _specs(network: InferenceModel, preprocess: Preprocess, kind: str | None, dim: int,
           for_apps: bool) -> list[tuple[str, nn.Module, tuple, list[str], str]]:
    """(role, module, (example inputs, inputs of another size), input blobs, output blob) per graph."""
    multiple, generator = preprocess.multiple_of, torch.Generator().manual_seed(0)
    blocks = max(2, -(-preprocess.min_size // multiple))  # ≥ 2: a ResNet cannot run at 1×multiple

    def images(height: int, width: int) -> torch.Tensor:
        return torch.rand(1, preprocess.channels, height, width, generator=generator)

    side = blocks * multiple
    small, wide = images(side, side), images(side, side + multiple)
    if kind is None:
        image_blob, output_blob = APP_BLOBS if for_apps else ("image", "translated")
        return [("generator", network, ((small,), (wide,)), [image_blob], output_blob)]
    code, side = torch.randn(1, dim, generator=generator), max(preprocess.size, 16)
    encoder = CodeEncoderModel(network, average=False)  # per image: ncnn has no batch axis to average over
    return [("generator", network, ((small, code), (wide, code)), ["image", f"{kind}_code"], "translated"),
            (f"{kind}_encoder", encoder, ((images(side, side),), (images(side + 8, side + 24),)), ["image"],
             f"{kind}_code")]


def _torch(module: nn.Module, inputs: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return module(*(torch.from_numpy(value) for value in inputs))[0].numpy()


def _nets(graph: NcnnGraph) -> list[tuple[object, list]]:
    """(net, where its differences go): the float32 copy in float32 arithmetic; the written pair as ncnn
    runs it by default."""
    exact, written = _ncnn_net(*graph.exact, fp16=False), _ncnn_net(graph.param, graph.weights, fp16=True)
    return [(exact, graph.conversion), (written, graph.parity)]


def _generator_parity(graph: NcnnGraph, module: nn.Module, preprocess: Preprocess, photos: list[Path],
                      dim: int) -> None:
    """ncnn vs torch on each photo fitted into two sizes (SR: the input side), with a fixed N(0, I) code
    for a conditioned generator."""
    nets = _nets(graph)
    code = np.random.default_rng(0).standard_normal((1, dim)).astype(np.float32) if dim else None
    for side in (PHOTO_SIDE // 2, PHOTO_SIDE):
        for path in photos:
            batch, _ = fitted_photo(path, max(16, side // preprocess.scale), preprocess)
            inputs = [batch] if code is None else [batch, code]
            expected = _torch(module, inputs)
            feed = {name: value[0] for name, value in zip(graph.inputs, inputs)}
            for net, parity in nets:
                actual = _ncnn_forward(net, feed, graph.output)
                parity.append((tuple(batch.shape[1:]), float(np.abs(actual - expected).max())))


def _encoder_parity(graph: NcnnGraph, module: nn.Module, preprocess: Preprocess, photos: list[Path]) -> None:
    """Codes of each photo as a reference at the training size and a non-square one, ncnn vs torch,
    relative to the largest |code| (at least 1): codes are not images in [0, 1]."""
    nets, side = _nets(graph), max(preprocess.size, 16)
    for sides in ((side, side), (side + 8, side + 24)):
        for reference in reference_batch(photos, *sides):
            expected = _torch(module, [reference[None]])
            scale = max(1.0, float(np.abs(expected).max()))
            for net, parity in nets:
                actual = _ncnn_forward(net, {graph.inputs[0]: reference}, graph.output)
                parity.append((tuple(reference.shape), float(np.abs(actual - expected).max()) / scale))


def _end_to_end(generator: NcnnGraph, encoder: NcnnGraph, modules: dict[str, nn.Module], kind: str,
                preprocess: Preprocess, photos: list[Path]) -> float:
    """MUNIT: each photo in its own style; FUNIT: the photos' mean class code — ncnn's encoder feeding
    ncnn's generator (the written pairs, default options) against torch's. Max |difference| on [0, 1]."""
    encoder_net = _ncnn_net(encoder.param, encoder.weights, fp16=True)
    generator_net = _ncnn_net(generator.param, generator.weights, fp16=True)
    side = max(preprocess.size, 16)
    references = reference_batch(photos, side, side)
    ours = np.stack([_ncnn_forward(encoder_net, {encoder.inputs[0]: r}, encoder.output) for r in references])
    theirs = np.stack([_torch(modules[encoder.role], [r[None]]) for r in references])
    if kind == "class":
        ours, theirs = ours.mean(0, keepdims=True), theirs.mean(0, keepdims=True)
    worst = 0.0
    for index, path in enumerate(photos):
        batch, _ = fitted_photo(path, PHOTO_SIDE // 2, preprocess)
        row = min(index, len(ours) - 1)
        feed = dict(zip(generator.inputs, (batch[0], ours[row])))
        actual = _ncnn_forward(generator_net, feed, generator.output)
        expected = _torch(modules["generator"], [batch, theirs[row: row + 1]])
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


def export_ncnn(model: str | Path, out_dir: str | Path, to: str | None = None, name: str | None = None,
                precision: str = "fp16", tolerance: float = TOLERANCE,
                photos: str | Path | None = None) -> NcnnReport:
    """Write NAME.param + NAME.bin (+ the MUNIT/FUNIT encoder's pair) and NAME.json into `out_dir`,
    after pnnx converted them and ncnn matched PyTorch within `tolerance` on photos at two sizes."""
    if precision not in PRECISIONS:
        raise I2IError(f"--precision for --format ncnn: one of {', '.join(PRECISIONS)}, got {precision!r}")
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() in (".onnx", ".param", ".bin", ".json") or out_dir.is_file():
        raise I2IError(f"--format ncnn writes NAME.param + NAME.bin into a folder: --out must name a "
                       f"directory, got {out_dir}")
    _tools()
    checkpoint = load_checkpoint(model)
    direction, preprocess, header = checkpoint.direction(to), checkpoint.preprocess, checkpoint.header
    network = InferenceModel(checkpoint.generator(direction), preprocess,
                             header.get("inference", {}).get("batchnorm", "per_image")).eval()
    kind = code_kind(header)
    dim = int(header["conditioning"]["code_dim"]) if kind is not None else 0
    for_apps = kind is None and preprocess.scale in (2, 3, 4) and preprocess.multiple_of == 1
    if name is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise I2IError(f"--name {name!r}: letters, digits, '.', '_' and '-' only (NAME.param, NAME.bin)")
    name = name or ncnn_name(model, checkpoint.directions, direction, preprocess.scale)
    files = parity_photos(photos)
    what = f"the {header['generators'][direction]['architecture']} generator of {checkpoint.path.name}"
    with tempfile.TemporaryDirectory(prefix="i2i-ncnn-") as scratch:
        specs = _specs(network, preprocess, kind, dim, for_apps)
        graphs = [_convert(spec, Path(scratch), precision, what) for spec in specs]
        modules = {spec[0]: spec[1] for spec in specs}
        end_to_end = _check(graphs, modules, kind, preprocess, files, dim, tolerance)
        report = NcnnReport(out_dir, name, direction, graphs, out_dir / f"{name}.json", tolerance, end_to_end,
                            _apps(name, preprocess.scale) if for_apps else None)
        _write(report, header, preprocess, precision)
    return report


def _check(graphs: list[NcnnGraph], modules: dict[str, nn.Module], kind: str | None, preprocess: Preprocess,
           photos: list[Path], dim: int, tolerance: float) -> float | None:
    """All parity checks; the MUNIT/FUNIT end-to-end max |diff|. Fails, before any file is written, when
    the float32 copy differs by more than CONVERSION_TOLERANCE or the written pair by more than
    `tolerance`."""
    _generator_parity(graphs[0], modules["generator"], preprocess, photos, dim)
    end_to_end = None
    if kind is not None:
        _encoder_parity(graphs[1], modules[graphs[1].role], preprocess, photos)
        end_to_end = _end_to_end(graphs[0], graphs[1], modules, kind, preprocess, photos)
    for label, bound, attribute in (("the float32 conversion", CONVERSION_TOLERANCE, "conversion"),
                                    ("ncnn with its default options", tolerance, "parity")):
        worst = {g.role: max(d for _, d in getattr(g, attribute)) for g in graphs}
        if end_to_end is not None and attribute == "parity":
            worst["end to end"] = end_to_end
        if not max(worst.values()) <= bound:
            detail = "; ".join(f"{role}: {diff:.2e}" for role, diff in worst.items())
            raise I2IError(f"{label} differs from PyTorch by {max(worst.values()):.3g} (> {bound:.3g}); "
                           f"no file written ({detail})")
    return end_to_end


def _apps(name: str, scale: int) -> str:
    return (f"realesrgan-ncnn-vulkan / Upscayl: put {name}.param and {name}.bin in a folder named "
            f"models; realesrgan-ncnn-vulkan -m models -n {name} -s {scale} -i IN -o OUT.png; Upscayl: "
            f"that folder as its custom models folder")


def _write(report: NcnnReport, header: dict, preprocess: Preprocess, precision: str) -> None:
    """Copy each graph's pair out of the scratch folder under its final name (atomically), then the
    sidecar; `report`'s paths become the final ones."""
    sidecar_graphs = {}
    for graph in report.graphs:
        stem = report.name if graph.role == "generator" else f"{report.name}.{graph.role}"
        for attribute, suffix in (("param", ".param"), ("weights", ".bin")):
            source, target = getattr(graph, attribute), report.directory / f"{stem}{suffix}"
            atomic_write(target, lambda temporary, source=source: shutil.copyfile(source, temporary))
            setattr(graph, attribute, target)
        sidecar_graphs[graph.role] = {"param": graph.param.name, "bin": graph.weights.name,
                                      "inputs": graph.inputs, "output": graph.output,
                                      "max_diff_vs_torch": [[list(shape), d] for shape, d in graph.parity],
                                      "float32_conversion_max_abs": max(d for _, d in graph.conversion)}
    kind = header.get("conditioning", {}).get("kind")
    sidecar = {
        "format": "i2i-ncnn", "version": 1, "direction": report.direction,
        "multiple_of": preprocess.multiple_of, "scale": preprocess.scale, "min_size": preprocess.min_size,
        "input": "float32 C×H×W RGB in [0, 1], one image (no batch axis); H and W multiples of multiple_of",
        "output": "float32 C×H×W RGB in [0, 1], H·scale × W·scale",
        "code": None if kind is None else (f"float32 vector of {header['conditioning']['code_dim']}: " + (
            "a N(0, I) draw, or the style encoder's output on a reference image" if kind == "style" else
            "the mean of the class encoder's outputs on K images of the target class")),
        "weights": f"{precision} (pnnx fp16={int(precision == 'fp16')})", "graphs": sidecar_graphs,
        "tolerance": report.tolerance, "end_to_end_max_abs": report.end_to_end, "apps": report.apps,
        "parity": "max |ncnn − torch| on [0, 1], ncnn's default options; codes: relative to max(1, |code|)",
        "i2i": header,
    }
    atomic_write(report.sidecar, lambda temporary: temporary.write_text(json.dumps(sidecar, indent=2) + "\n"))
