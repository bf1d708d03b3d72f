"""A deployed generator behind one call, whichever runtime runs it, and how to pick the runtime.

`Backend.run` maps N×3×H×W float32 in [0, 1] to N×3×(H·scale)×(W·scale) in [0, 1]. The torch backend
(`torch_backend.py`) and the ONNX Runtime backend (`onnx_backend.py`, which never imports torch) both
return one; the pipeline, tiling, `i2i eval` and the trainer's held-out evaluation all run through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.inference.codes import CodeKind, code_kind
from i2i.preprocess import Preprocess


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
    # Normalisation smoothing (`--norm-smoothing`): forget the statistics carried from earlier frames.
    reset_state: Callable[[], None] | None = None

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
        if self.conditioning.get("kind") != CodeKind.STYLE:
            raise I2IError(f"{self.description} has no style prior to sample from")
        run_with_code, dim = self.run_with_code, int(self.conditioning["code_dim"])
        rng = np.random.default_rng(seed)
        return replace(self, run=lambda batch: run_with_code(
            batch, rng.standard_normal((len(batch), dim)).astype(np.float32)))


def needs_code(batch: np.ndarray) -> np.ndarray:
    raise I2IError("this model translates with a style or class code: give --style, --num-styles or --class-images")


def load_backend(model: str | Path, backend: str = "auto", to: str | None = None, device: str = "auto",
                 precision: str = "fp32", local_rank: int = 0, norm_smoothing: float | None = None) -> Backend:
    """`auto` picks onnxruntime for `.onnx` files and torch for checkpoints/run directories.
    `precision` (auto/fp16/bf16 autocast) is for torch; an exported graph runs in float32. The library
    default is fp32 (eval and benchmarks measure the model as trained); `i2i translate` defaults to auto.
    `norm_smoothing` (torch only) smooths normalisation statistics over consecutive inputs."""
    is_onnx = str(model).lower().endswith(".onnx")
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "onnx":
        if not is_onnx:
            raise I2IError(f"--backend onnx needs an exported .onnx MODEL (make one with `i2i export {model} --out …`)")
        if precision not in ("auto", "fp32"):
            raise I2IError(f"--precision {precision} is for --backend torch: an exported ONNX graph runs in float32")
        if norm_smoothing is not None:
            raise I2IError("--norm-smoothing changes the network's normalisation layers: it needs a checkpoint "
                           "and --backend torch (an exported graph's InstanceNorm is fixed)")
        from i2i.inference.onnx_backend import onnx_backend

        return onnx_backend(model, to, device, local_rank)
    if backend == "torch":
        if is_onnx:
            raise I2IError(f"{model} is an ONNX file: use --backend onnx (or auto)")
        from i2i.inference.torch_backend import torch_backend  # imports torch: only for this backend

        return torch_backend(model, to, device, precision, local_rank, norm_smoothing)
    raise I2IError(f"--backend must be auto, torch or onnx, got {backend!r}")


def uses_image_statistics(backend: Backend) -> bool:
    """Whether the deployed network normalises by each input's own statistics (InstanceNorm, or
    BatchNorm run per image), which makes tiled results differ from whole-image ones."""
    header = backend.header
    if code_kind(header) is not None:
        return True  # MUNIT/FUNIT: InstanceNorm in the content encoder, AdaIN/LayerNorm in the decoder
    if header.get("inference", {}).get("batchnorm", "per_image") == "per_image" and _mentions(header, "batch"):
        return True
    if any(g.get("architecture") == "spandrel" and g.get("config", {}).get("tiling") != "exact"
           for g in header.get("generators", {}).values()):
        return True  # windowed attention past the tile, or image-wide averages (SwinIR, HAT, DAT, …)
    return _mentions(header, "instance")


def _mentions(header: dict[str, Any], norm: str) -> bool:
    generators = header.get("generators", {})
    return any(str(g.get("config", {}).get("norm", "")).startswith(norm) for g in generators.values())
