"""Checkpoint or ONNX file → translated image files, batched and streamed.

- Inputs: files, folders (recursive) and glob patterns. Outputs mirror the input tree under OUT with
  the same names; a file is never overwritten unless asked, and two inputs may not map to one output.
- Any size: each image is reflect-padded to the generator's multiple and the output cropped back —
  never resized. Images of equal size are batched together.
- Streaming: a thread pool decodes ahead (bounded), the model runs in the main thread, another pool
  encodes and writes (atomically). Memory holds at most a few batches whatever the number of files.
- Bad files: each is named once, the rest are still written; the caller exits with status 1.
- Resumable and shardable: `skip_existing` leaves finished outputs alone (a kill leaves no partial
  file, only temporaries, which the next run removes); under torchrun each rank takes a disjoint
  slice of the sorted inputs (`Shard`), with no process group.
- The ONNX backend needs numpy + onnxruntime only: this module imports torch only for the torch backend.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from i2i.errors import I2IError
from i2i.images import (IMAGE_EXTENSIONS, WRITABLE_EXTENSIONS, ImageInfo, ImageReadError, is_image_file, read_image,
                        resize_plane, write_image)
from i2i.preprocess import Preprocess, from_batch, pad_to_multiple, to_batch
from i2i.tiling import TileSpec, translate_tiled

if TYPE_CHECKING:
    import torch


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


# What i2i.files.atomic_write names its temporary file for TARGET: ".TARGET.<8 random chars>.i2i-tmp<ext>".
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.i2i-tmp.*")


def remove_stale_temporaries(targets: Iterable[Path]) -> int:
    """Delete the temporary files that a killed run left beside these outputs (never a finished file,
    nor the temporaries of outputs that are not ours, e.g. another rank's); returns how many."""
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(target.name)
    removed = 0
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMPORARY.fullmatch(entry.name)
            if match is not None and match["target"] in names and entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


def check_output_flags(overwrite: bool, skip_existing: bool) -> None:
    if overwrite and skip_existing:
        raise I2IError("--overwrite and --skip-existing exclude each other: replace the existing outputs, "
                       "or keep them and translate only the missing ones")


def prepare_outputs(jobs: list[Job], *, overwrite: bool = False,
                    skip_existing: bool = False) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because their output exists). Without either flag an existing output
    is a usage error, raised before anything is written. Temporaries of a killed run are removed."""
    check_output_flags(overwrite, skip_existing)
    remove_stale_temporaries(job.target for job in jobs)
    missing: list[Job] = []
    existing: list[Job] = []
    for job in jobs:
        (existing if job.target.exists() else missing).append(job)
    if existing and not overwrite and not skip_existing:
        raise I2IError(f"{existing[0].target} already exists ({len(existing)} of {len(jobs)} outputs would be "
                       f"overwritten); pass --overwrite, --skip-existing to resume, or choose another --out")
    return (missing, existing) if skip_existing else (jobs, [])


# -- sharding under torchrun ------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """This process's share of the inputs. Under `torchrun --nproc-per-node N` (which sets RANK,
    WORLD_SIZE and LOCAL_RANK), rank r takes jobs r, r+N, r+2N, … of the list sorted by output path:
    every rank computes the same list, so the slices are disjoint and cover it, with no communication."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0   # which GPU of this machine the rank uses

    @classmethod
    def from_environment(cls) -> Shard:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
        values = {name: os.environ.get(name, "") for name in names}
        if not values["WORLD_SIZE"]:
            return cls()
        try:
            rank, world_size = int(values["RANK"]), int(values["WORLD_SIZE"])
            local_rank = int(values["LOCAL_RANK"] or 0)
        except ValueError:
            raise I2IError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them), got "
                           f"{', '.join(f'{n}={v!r}' for n, v in values.items())}") from None
        if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
            raise I2IError(f"RANK={rank} WORLD_SIZE={world_size} LOCAL_RANK={local_rank}: need 0 <= RANK < WORLD_SIZE")
        return cls(rank, world_size, local_rank)

    def take(self, jobs: list[Job]) -> list[Job]:
        if self.world_size == 1:
            return jobs
        return sorted(jobs, key=lambda job: str(job.target))[self.rank::self.world_size]

    @property
    def label(self) -> str:
        """"rank 1 of 4: " under torchrun, else "": the prefix of this process's summary line."""
        return f"rank {self.rank} of {self.world_size}: " if self.world_size > 1 else ""


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


PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def _torch_device(device: str, local_rank: int) -> str:
    """auto → cuda if PyTorch sees a GPU, else cpu; a bare `cuda` is this rank's GPU (LOCAL_RANK)."""
    import torch

    if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        raise I2IError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise I2IError(f"--device {device} was asked for, but PyTorch sees no CUDA GPU on this machine")
    device = f"cuda:{local_rank}" if device in ("auto", "cuda") else device
    if int(device.split(":")[1]) >= torch.cuda.device_count():
        raise I2IError(f"{device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def _autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The torch dtype to autocast to, or None for float32. auto: fp16 on CUDA, fp32 on the CPU."""
    import torch

    if precision not in PRECISIONS:
        raise I2IError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    on_cuda = device.startswith("cuda")
    if precision == "auto":
        precision = "fp16" if on_cuda else "fp32"
    if precision == "fp16" and not on_cuda:
        raise I2IError("--precision fp16 needs a CUDA GPU (PyTorch autocasts to bf16 on the CPU); "
                       "use --precision bf16 or fp32 here")
    if precision == "bf16" and on_cuda and not torch.cuda.is_bf16_supported():
        raise I2IError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; use fp16")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def torch_backend(model: str | Path, to: str | None = None, device: str = "auto", precision: str = "fp32",
                  local_rank: int = 0) -> Backend:
    """The checkpoint's generator in PyTorch; with fp16/bf16 the forward pass runs under autocast and
    the output is returned as float32 in [0, 1] all the same."""
    import torch

    from i2i.checkpoint import load_checkpoint
    from i2i.inference_model import InferenceModel

    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    device = _torch_device(device, local_rank)
    dtype = _autocast_dtype(precision, device)
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), checkpoint.preprocess, batchnorm).to(device)
    autocast = "" if dtype is None else f", {str(dtype).removeprefix('torch.')} autocast"
    description = f"torch ({device}{autocast}) {checkpoint.path}"

    def call(method: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            output = method(*(torch.from_numpy(array).to(device) for array in arrays)).float()
        if dtype is not None and not bool(torch.isfinite(output).all()):
            raise I2IError(f"the network overflowed under {str(dtype).removeprefix('torch.')} autocast "
                           f"(non-finite outputs); use --precision fp32")
        return output.cpu().numpy()

    if checkpoint.header.get("conditioning", {}).get("kind") in ("style", "class"):
        return Backend(_needs_code, checkpoint.preprocess, direction, description, checkpoint.header,
                       lambda batch, codes: call(network, batch, codes), lambda images: call(network.encode, images))
    return Backend(lambda batch: call(network, batch), checkpoint.preprocess, direction, description,
                   checkpoint.header)


# Execution providers by preference: GPU/NPU ones first (CPU last), CUDA-capable ones for --device cuda.
ONNX_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                  "CoreMLExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider")
_CUDA_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def onnx_providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers to ask for, best first, among those installed. `cpu` is the CPU
    alone; `cuda` needs TensorRT or CUDA (onnxruntime-gpu) and fails loudly without them."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        cuda = [p for p in _CUDA_PROVIDERS if p in available]
        if not cuda:
            raise I2IError(f"--device {device} with --backend onnx needs onnxruntime-gpu (the CUDA execution "
                           f"provider); installed: {', '.join(available)}")
        return cuda + ["CPUExecutionProvider"]
    return [p for p in ONNX_PROVIDERS if p in available] or available


def _onnx_session(path: Path, device: str, local_rank: int) -> Any:
    import onnxruntime

    gpu = int(device.split(":")[1]) if device.startswith("cuda:") else local_rank
    providers = [(p, {"device_id": gpu}) if p in _CUDA_PROVIDERS else p for p in onnx_providers(device)]
    options = onnxruntime.SessionOptions()
    # The memory-pattern planner keeps one arena per input shape it has seen and over-allocates for a
    # tile window (measured: +940 MiB vs +418 MiB for one 544² ResNet-9 window, at the same speed).
    options.enable_mem_pattern = False
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise I2IError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0]})") from None
    if device.startswith("cuda") and session.get_providers()[0] not in _CUDA_PROVIDERS:
        # onnxruntime falls back to the CPU with only a warning when CUDA fails to start
        raise I2IError(f"--device {device}: onnxruntime could not start CUDA for {path} (see its warning above)")
    return session


def onnx_backend(model: str | Path, to: str | None = None, device: str = "auto", local_rank: int = 0) -> Backend:
    path = Path(model)
    if not path.is_file():
        raise I2IError(f"model {path} does not exist")
    session = _onnx_session(path, device, local_rank)
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
        encoder = _onnx_session(encoder_path, device, local_rank)
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


def load_backend(model: str | Path, backend: str = "auto", to: str | None = None, device: str = "auto",
                 precision: str = "fp32", local_rank: int = 0) -> Backend:
    """`auto` picks onnxruntime for `.onnx` files and torch for checkpoints/run directories.
    `precision` (auto/fp16/bf16 autocast) is for torch; an exported graph runs in float32. The library
    default is fp32 (eval and benchmarks measure the model as trained); `i2i translate` defaults to auto."""
    is_onnx = str(model).lower().endswith(".onnx")
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "onnx":
        if not is_onnx:
            raise I2IError(f"--backend onnx needs an exported .onnx MODEL (make one with `i2i export {model} --out …`)")
        if precision not in ("auto", "fp32"):
            raise I2IError(f"--precision {precision} is for --backend torch: an exported ONNX graph runs in float32")
        return onnx_backend(model, to, device, local_rank)
    if backend == "torch":
        if is_onnx:
            raise I2IError(f"{model} is an ONNX file: use --backend onnx (or auto)")
        return torch_backend(model, to, device, precision, local_rank)
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
    skipped: list[Path] = field(default_factory=list)        # outputs that existed (skip_existing)
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
    except Exception as error:  # a Pillow plugin's own exception on a mangled file must not end the whole run
        return _Decoded(job, error=f"{job.source}: cannot decode ({type(error).__name__}: {error})")


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


def lookahead(batch_size: int) -> int:
    """How many images are decoded ahead of the model, and how many outputs may wait to be written:
    at most lookahead + 2·batch_size decoded images are alive at once, whatever the number of files."""
    return max(2 * batch_size, 4)


def translate_files(backend: Backend, jobs: list[Job], *, batch_size: int = 4, overwrite: bool = False,
                    skip_existing: bool = False, workers: int = 2, tile: TileSpec | None = None,
                    on_progress: Callable[[int], None] | None = None) -> Report:
    """Run `backend` over `jobs`, writing each output atomically. Never raises for a bad input file.

    An existing output is an I2IError unless `overwrite` (replace it) or `skip_existing` (leave it,
    listed in `Report.skipped`). With `tile`, images larger than one tile window are translated tile
    by tile (`i2i.tiling`); smaller ones whole, as without it. `on_progress(n)` is called as n more
    images are written or failed."""
    jobs, skipped = prepare_outputs(jobs, overwrite=overwrite, skip_existing=skip_existing)
    report = Report(skipped=[job.target for job in skipped])
    multiple, min_size, scale = backend.preprocess.multiple_of, backend.preprocess.min_size, backend.preprocess.scale
    ahead = lookahead(batch_size)
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
                if len(queue) >= ahead:
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
            while len(writes) > ahead:
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
