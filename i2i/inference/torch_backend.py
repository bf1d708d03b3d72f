"""The checkpoint's generator in PyTorch, as a `Backend`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.checkpoint import load_checkpoint
from i2i.errors import I2IError
from i2i.inference.backend import Backend, needs_code
from i2i.inference.codes import code_kind
from i2i.inference.deployed import InferenceModel
from i2i.preprocess import Preprocess
from i2i.runtime import autocast_dtype, resolve_device


def torch_backend(model: str | Path, to: str | None = None, device: str = "auto", precision: str = "fp32",
                  local_rank: int = 0, norm_smoothing: float | None = None) -> Backend:
    """The checkpoint's generator in PyTorch; with fp16/bf16 the forward pass runs under autocast and
    the output is returned as float32 in [0, 1] all the same. With `norm_smoothing` A, its
    InstanceNorm/AdaIN layers normalise by statistics averaged over the inputs seen so far
    (`temporal_norm.py`); `Backend.reset_state` starts over."""
    checkpoint = load_checkpoint(model)
    direction = checkpoint.direction(to)
    device = resolve_device(device, local_rank)
    dtype = autocast_dtype(precision, device)
    batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
    network = InferenceModel(checkpoint.generator(direction), checkpoint.preprocess, batchnorm).to(device)
    autocast = "" if dtype is None else f", {str(dtype).removeprefix('torch.')} autocast"
    reset = None
    if norm_smoothing is not None:
        from i2i.inference.temporal_norm import smoothed_copy

        network, reset = smoothed_copy(network, norm_smoothing)
        autocast += f", norm smoothing {norm_smoothing:g}"
    description = f"torch ({device}{autocast}) {checkpoint.path}"
    backend = module_backend(network, checkpoint.preprocess, direction, description, checkpoint.header, dtype)
    return replace(backend, reset_state=reset)


def module_backend(network: InferenceModel, preprocess: Preprocess, direction: str, description: str,
                   header: dict[str, Any] | None = None, dtype: torch.dtype | None = None) -> Backend:
    """A `Backend` running `network` where its weights are (a checkpoint's, or the trainer's own
    generator for held-out evaluation): numpy in, the forward pass under `inference_mode` (and autocast
    to `dtype`), float32 numpy out."""
    header = header or {}
    device = str(next(network.buffers()).device)

    def call(method: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            output = method(*(torch.from_numpy(array).to(device) for array in arrays)).float()
        if dtype is not None and not bool(torch.isfinite(output).all()):
            raise I2IError(f"the network overflowed under {str(dtype).removeprefix('torch.')} autocast "
                           f"(non-finite outputs); use --precision fp32")
        return output.cpu().numpy()

    if code_kind(header) is not None:
        return Backend(needs_code, preprocess, direction, description, header,
                       lambda batch, codes: call(network, batch, codes), lambda images: call(network.encode, images))
    return Backend(lambda batch: call(network, batch), preprocess, direction, description, header)
