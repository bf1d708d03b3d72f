"""Checkpoint or ONNX file → translated image files, batched and streamed.

- Inputs: files, folders (recursive) and glob patterns. Outputs mirror the input tree under OUT with
  the same names; a file is never overwritten unless asked, and two inputs may not map to one output.
- Any size: each image is reflect-padded to the generator's multiple and the output cropped back —
  never resized. Images of equal size are batched together.
- Streaming: a thread pool decodes ahead (bounded), the model runs in the main thread, another pool
  encodes and writes (atomically). Memory holds at most a few batches whatever the number of files.
- Bad files: each is named once, the rest are still written; the caller exits with status 1.
- The ONNX backend needs numpy + onnxruntime only: this module imports torch only for the torch backend.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.images import (IMAGE_EXTENSIONS, WRITABLE_EXTENSIONS, ImageInfo, ImageReadError, is_image_file, read_image,
                        resize_plane, write_image)
from i2i.preprocess import Preprocess, from_batch, pad_to_multiple, to_batch
from i2i.tiling import TileSpec, translate_tiled


# -- inputs and outputs -----------------------------------------------------------------------------
@dataclass
class Job:
    source: Path
    target: Path


def collect_jobs(inputs: Iterable[str], out_dir: str | Path) -> list[Job]:
    """Map every input image to its output path; folders keep their inner tree, globs their
    path below the pattern's fixed prefix, single files their name."""
    out_dir = Path(out_dir)
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
            if not files:
                raise I2IError(f"input folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            jobs += [Job(f, out_dir / f.relative_to(path)) for f in files]
        elif path.is_file():
            jobs.append(Job(path, out_dir / path.name))
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            files = [m for m in matches if m.is_file() and is_image_file(m)]
            if not files:
                raise I2IError(f"pattern {item!r} matches no image files")
            base = Path(item.split("*")[0].split("?")[0].split("[")[0])
            base = base if item.endswith(("/", "\\")) or base.is_dir() else base.parent
            jobs += [Job(f, out_dir / _relative_or_name(f, base)) for f in files]
        else:
            raise I2IError(f"input {item} does not exist")
    for job in jobs:
        if job.target.suffix.lower() not in WRITABLE_EXTENSIONS:
            job.target = job.target.with_suffix(".png")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen and seen[job.target] != job.source:
            raise I2IError(f"{seen[job.target]} and {job.source} would both be written to {job.target}; "
                           f"translate them into different --out folders")
        seen[job.target] = job.source
    unique = {job.target: job for job in jobs}  # the same file given twice is translated once
    return list(unique.values())


def _relative_or_name(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


# -- backends ---------------------------------------------------------------------------------------
@dataclass
class Backend:
    """A deployed generator: N×3×H×W float32 in [0, 1] → N×3×(H·scale)×(W·scale) in [0, 1]."""

    run: Callable[[np.ndarray], np.ndarray]
    preprocess: Preprocess
    direction: str
    description: str
    header: dict[str, Any] = field(default_factory=dict)
    # Conditioned generators (MUNIT style, FUNIT class): the generator with its code, and the encoder
    # of reference images (N×3×H×W in [0, 1] → (N, D)). `run` is set by `with_code`.
    run_with_code: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    encode: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def conditioning(self) -> dict[str, Any]:
        """{"kind": "style" | "class", "code_dim": D, ...} for MUNIT/FUNIT models, else {}."""
        return self.header.get("conditioning", {}) if self.run_with_code is not None else {}

    def with_code(self, code: np.ndarray) -> Backend:
        """This backend translating with one code (1, D) for every image."""
        if self.run_with_code is None:
            raise I2IError(f"{self.description} takes no style or class code")
        run_with_code, code = self.run_with_code, np.asarray(code, np.float32).reshape(1, -1)
        return replace(self, run=lambda batch: run_with_code(batch, np.repeat(code, len(batch), 0)))


    def with_random_codes(self, seed: int = 0) -> Backend:
        """This backend translating every image with its own style drawn from N(0, I) (MUNIT), in a
        sequence fixed by `seed`: how distribution metrics score a multimodal model."""
        if self.conditioning.get("kind") != "style":
            raise I2IError(f"{self.description} has no style prior to sample from")
        run_with_code, dim = self.run_with_code, int(self.conditioning["code_dim"])
        rng = np.random.default_rng(seed)
        return replace(self, run=lambda batch: run_with_code(
            batch, rng.standard_normal((len(batch), dim)).astype(np.float32)))


def _needs_code(batch: np.ndarray) -> np.ndarray:
    raise I2IError("this model translates with a style or class code: give --style, --num-styles or --class-images")


def torch_backend(model: str | Path, to: str | None = None, device: str = "auto") -> Backend:
    import torch

    from i2i.checkpoint import load_checkpoint
    from i2i.inference_model import InferenceModel

    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise I2IError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), checkpoint.preprocess, batchnorm).to(device)

    description = f"torch ({device}) {checkpoint.path}"
    if checkpoint.header.get("conditioning", {}).get("kind") in ("style", "class"):
        def run_with_code(batch: np.ndarray, codes: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return network(torch.from_numpy(batch).to(device), torch.from_numpy(codes).to(device)).float().cpu().numpy()

        def encode(images: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return network.encode(torch.from_numpy(images).to(device)).float().cpu().numpy()

        return Backend(_needs_code, checkpoint.preprocess, direction, description, checkpoint.header,
                       run_with_code, encode)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(batch).to(device)).float().cpu().numpy()

    return Backend(run, checkpoint.preprocess, direction, description, checkpoint.header)


def onnx_providers() -> list[str]:
    """onnxruntime execution providers in order of preference, among those installed."""
    import onnxruntime

    preferred = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider",
                 "DmlExecutionProvider", "CPUExecutionProvider"]
    available = onnxruntime.get_available_providers()
    return [p for p in preferred if p in available] or available


def onnx_backend(model: str | Path, to: str | None = None) -> Backend:
    import onnxruntime

    path = Path(model)
    if not path.is_file():
        raise I2IError(f"model {path} does not exist")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=onnx_providers())
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise I2IError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0]})") from None
    metadata = session.get_modelmeta().custom_metadata_map
    if "i2i" not in metadata:
        raise I2IError(f"{path}: ONNX file without i2i metadata (export it with `i2i export`)")
    header = json.loads(metadata["i2i"])
    direction = metadata.get("i2i.direction", "")
    if to is not None and direction.split("->")[-1] != to:
        raise I2IError(f"{path} translates {direction}, not into {to!r} (export another direction with --to)")
    input_name = session.get_inputs()[0].name
    preprocess = Preprocess.from_dict(header["preprocess"])
    description = f"onnxruntime ({session.get_providers()[0]}) {path}"
    if "i2i.code_encoder" in metadata:  # MUNIT/FUNIT: a code input, and the encoder graph beside the file
        encoder_path = path.parent / metadata["i2i.code_encoder"]
        if not encoder_path.is_file():
            raise I2IError(f"{path} needs its code encoder {encoder_path} (written beside it by `i2i export`)")
        encoder = onnxruntime.InferenceSession(str(encoder_path), providers=onnx_providers())
        code_name = session.get_inputs()[1].name
        encoder_input = encoder.get_inputs()[0].name

        def run_with_code(batch: np.ndarray, codes: np.ndarray) -> np.ndarray:
            return session.run(None, {input_name: batch, code_name: codes})[0]

        def encode(images: np.ndarray) -> np.ndarray:
            # FUNIT's graph averages its K images into one code; call it per image so that both
            # encoders give one code per image here (the K-shot mean is taken by the caller).
            return np.concatenate([encoder.run(None, {encoder_input: image[None]})[0] for image in images])

        return Backend(_needs_code, preprocess, direction, description, header, run_with_code, encode)

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    return Backend(run, preprocess, direction, description, header)


def load_backend(model: str | Path, backend: str = "auto", to: str | None = None, device: str = "auto") -> Backend:
    """`auto` picks onnxruntime for `.onnx` files and torch for checkpoints/run directories."""
    is_onnx = str(model).lower().endswith(".onnx")
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "onnx":
        if not is_onnx:
            raise I2IError(f"--backend onnx needs an exported .onnx MODEL (make one with `i2i export {model} --out …`)")
        return onnx_backend(model, to)
    if backend == "torch":
        if is_onnx:
            raise I2IError(f"{model} is an ONNX file: use --backend onnx (or auto)")
        return torch_backend(model, to, device)
    raise I2IError(f"--backend must be auto, torch or onnx, got {backend!r}")


def uses_image_statistics(backend: Backend) -> bool:
    """Whether the deployed network normalises by each input's own statistics (InstanceNorm, or
    BatchNorm run per image), which makes tiled results differ from whole-image ones."""
    header = backend.header
    if header.get("conditioning", {}).get("kind") in ("style", "class"):
        return True  # MUNIT/FUNIT: InstanceNorm in the content encoder, AdaIN/LayerNorm in the decoder
    if header.get("inference", {}).get("batchnorm", "per_image") == "per_image" and _mentions(header, "batch"):
        return True
    return _mentions(header, "instance")


def _mentions(header: dict[str, Any], norm: str) -> bool:
    generators = header.get("generators", {})
    return any(str(g.get("config", {}).get("norm", "")).startswith(norm) for g in generators.values())


def conditioned_variants(backend: Backend, jobs: list[Job], style: str | Path | None = None,
                         num_styles: int | None = None, seed: int = 0,
                         class_images: str | Path | None = None) -> list[tuple[Backend, list[Job]]]:
    """(backend bound to a code, jobs) per output variant: one for plain generators, a reference style
    or a class; K for `num_styles` random styles, their outputs named NAME_style{k}."""
    from i2i import conditioning

    kind = backend.conditioning.get("kind")
    given = [flag for flag, value in (("--style", style), ("--num-styles", num_styles),
                                      ("--class-images", class_images)) if value is not None]
    if kind is None:
        if given:
            raise I2IError(f"{', '.join(given)}: {backend.description} is not a MUNIT/FUNIT model (it takes no code)")
        return [(backend, jobs)]
    size, dim = backend.preprocess.size, int(backend.conditioning["code_dim"])
    if kind == "class":
        if class_images is None or style is not None or num_styles is not None:
            raise I2IError("a FUNIT model translates into the class shown by --class-images DIR "
                           "(K images of one class); --style and --num-styles are for MUNIT")
        files = conditioning.class_images(class_images)
        return [(backend.with_code(conditioning.class_code(backend.encode, files, size)), jobs)]
    if class_images is not None or (style is not None and num_styles is not None):
        raise I2IError("a MUNIT model takes either --style IMAGE or --num-styles K (--class-images is for FUNIT)")
    if style is not None:
        return [(backend.with_code(conditioning.style_code(backend.encode, style, size)), jobs)]
    codes = conditioning.prior_codes(num_styles or 1, dim, seed)
    if len(codes) == 1:
        return [(backend.with_code(codes), jobs)]
    return [(backend.with_code(code), [Job(job.source, job.target.with_name(f"{job.target.stem}_style{k}"
                                                                          f"{job.target.suffix}")) for job in jobs])
            for k, code in enumerate(codes)]


# -- the pipeline -----------------------------------------------------------------------------------
@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class _Decoded:
    job: Job
    rgb: np.ndarray | None = None
    alpha: np.ndarray | None = None
    info: ImageInfo | None = None
    error: str | None = None


def _decode(job: Job) -> _Decoded:
    try:
        rgb, alpha, info = read_image(job.source)
        return _Decoded(job, rgb, alpha, info)
    except ImageReadError as error:
        return _Decoded(job, error=str(error))
    except MemoryError:
        return _Decoded(job, error=f"{job.source}: too large to decode in memory")


def _batches(decoded: Iterator[_Decoded], batch_size: int, report: Report,
             tiled: Callable[[_Decoded], bool]) -> Iterator[list[_Decoded]]:
    """Group consecutive images of the same size; a size change or a full batch flushes. An image
    that is translated in tiles is a batch of its own (its tiles are batched inside)."""
    pending: list[_Decoded] = []
    for item in decoded:
        if item.error is not None:
            report.failed.append((item.job.source, item.error))
            continue
        if pending and (tiled(item) or item.rgb.shape != pending[0].rgb.shape or len(pending) == batch_size):
            yield pending
            pending = []
        pending.append(item)
        if tiled(item):
            yield pending
            pending = []
    if pending:
        yield pending


def _output_options(item: _Decoded, scale: int, height: int, width: int) -> dict[str, Any]:
    """What the output keeps of its input: alpha (resized with the image), 16 bits, and — for
    super-resolution only — grey (a translation model may colour a grey input: edges → shoes)."""
    info, alpha = item.info, item.alpha
    if alpha is not None and scale != 1:
        alpha = resize_plane(alpha, width * scale, height * scale)
    bits = 16 if info is not None and info.bits >= 16 else 8
    return {"alpha": alpha, "bits": bits, "grayscale": bool(scale > 1 and info is not None and info.grayscale)}


_TOO_LARGE = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc", "failed to allocate")


def _run_whole(backend: Backend, batch: list[_Decoded], multiple: int, min_size: int) -> list[np.ndarray]:
    inputs = to_batch([pad_to_multiple(item.rgb, multiple, min_size) for item in batch])
    try:
        return from_batch(backend.run(inputs))
    except (MemoryError, RuntimeError) as error:  # torch and onnxruntime report allocation failures so
        text = str(error).lower()
        if not isinstance(error, MemoryError) and not any(marker in text for marker in _TOO_LARGE):
            raise
        height, width = batch[0].rgb.shape[:2]
        raise _TooLarge(f"{width}×{height} is too large to translate whole in this memory"
                        f"{f' (batch of {len(batch)})' if len(batch) > 1 else ''}; use --tile 512 "
                        f"(or a smaller tile), or --batch-size 1") from None


class _TooLarge(Exception):
    pass


def translate_files(backend: Backend, jobs: list[Job], *, batch_size: int = 4, overwrite: bool = False,
                    workers: int = 2, tile: TileSpec | None = None,
                    on_progress: Callable[[int], None] | None = None) -> Report:
    """Run `backend` over `jobs`, writing each output atomically. Never raises for a bad input file.

    With `tile`, images larger than one tile window are translated tile by tile (`i2i.tiling`);
    smaller ones whole, as without it."""
    if not overwrite:
        existing = [job.target for job in jobs if job.target.exists()]
        if existing:
            raise I2IError(f"{existing[0]} already exists ({len(existing)} of {len(jobs)} outputs would be "
                           f"overwritten); pass --overwrite or choose another --out")
    report = Report()
    multiple, min_size, scale = backend.preprocess.multiple_of, backend.preprocess.min_size, backend.preprocess.scale
    lookahead = max(2 * batch_size, 4)
    window = tile.window(multiple, min_size) if tile is not None else 0

    def tiled(item: _Decoded) -> bool:
        return tile is not None and max(item.rgb.shape[:2]) > window

    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as decoder, \
            ThreadPoolExecutor(workers, thread_name_prefix="encode") as encoder:
        writes: list[tuple[Job, Future]] = []

        def decoded_stream() -> Iterator[_Decoded]:
            queue: list[Future] = []
            for job in jobs:
                queue.append(decoder.submit(_decode, job))
                if len(queue) >= lookahead:
                    yield queue.pop(0).result()
            for future in queue:
                yield future.result()

        for batch in _batches(decoded_stream(), batch_size, report, tiled):
            height, width = batch[0].rgb.shape[:2]
            try:
                if tiled(batch[0]):
                    item = batch[0]
                    bits = 16 if item.info is not None and item.info.bits >= 16 else 8
                    # One window per forward pass: bounded memory is what tiling is for (an SR network's
                    # activations at the output size dominate: ~1 GB for a 256-px tile at ×4).
                    outputs = [translate_tiled(backend.run, item.rgb, tile, scale=scale, multiple_of=multiple,
                                               min_size=min_size, batch_size=1,
                                               dtype=np.uint16 if bits == 16 else np.uint8)]
                    item.rgb = None  # the input is no longer needed: free it before encoding
                else:
                    outputs = _run_whole(backend, batch, multiple, min_size)
            except _TooLarge as error:
                report.failed += [(item.job.source, f"{item.job.source}: {error}") for item in batch]
                continue
            for item, output in zip(batch, outputs, strict=True):
                output = output[: height * scale, : width * scale]
                options = _output_options(item, scale, height, width)
                writes.append((item.job, encoder.submit(write_image, item.job.target, output, **options)))
            # Bound memory: wait for writes older than a few batches before decoding further.
            while len(writes) > lookahead:
                _finish_write(*writes.pop(0), report, on_progress)
        for job, future in writes:
            _finish_write(job, future, report, on_progress)
    if on_progress is not None and report.failed:
        on_progress(len(report.failed))
    return report


def _finish_write(job: Job, future: Future, report: Report, on_progress: Callable[[int], None] | None) -> None:
    try:
        future.result()
        report.written.append(job.target)
    except OSError as error:
        report.failed.append((job.source, f"{job.target}: cannot write ({error})"))
    if on_progress is not None:
        on_progress(1)
