"""Where and in which precision the networks run: one device rule and one precision table for
training, translation, evaluation and export.

torch is imported inside the functions, so the ONNX path (which checks only the names) stays torch-free.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from i2i.errors import I2IError

if TYPE_CHECKING:
    import torch

DEVICES = "auto, cpu, cuda or cuda:N"
# Precision name → the dtype autocast runs in (None: plain float32). `auto` is fp16 on CUDA, fp32 on CPU.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_device(device: str, local_rank: int = 0) -> str:
    """auto → cuda if PyTorch sees a GPU, else cpu; a bare `cuda` is this process's GPU (torchrun's
    LOCAL_RANK), `cuda:N` that GPU. A GPU asked for but absent is an error, never a silent CPU run."""
    import torch

    if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        raise I2IError(f"--device must be {DEVICES}, got {device!r}")
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


def check_precision(precision: str, device: str, choices: tuple[str, ...] = PRECISIONS,
                    flag: str = "--precision") -> str:
    """The precision `auto` stands for on `device`, after refusing what the device cannot run. `flag`
    is how the user spelt the setting (`--precision` for translate, `precision=` in a recipe)."""
    def spelt(value: str) -> str:
        return f"{flag}{value}" if flag.endswith("=") else f"{flag} {value}"

    if precision not in choices:
        raise I2IError(f"{flag.rstrip('=')} must be one of {', '.join(choices)}, got {precision!r}")
    on_cuda = device.startswith("cuda")
    if precision == "auto":
        precision = "fp16" if on_cuda else "fp32"
    if precision == "fp16" and not on_cuda:
        raise I2IError(f"{spelt('fp16')} needs a CUDA GPU (PyTorch autocasts to bf16 on the CPU); "
                       f"use {spelt('bf16')} or fp32 here")
    return precision


def autocast_dtype(precision: str, device: str, choices: tuple[str, ...] = PRECISIONS,
                   flag: str = "--precision") -> torch.dtype | None:
    """The dtype to autocast to on `device` (None for float32)."""
    import torch

    precision = check_precision(precision, device, choices, flag)
    if precision == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise I2IError(f"{flag.rstrip('=')} bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; "
                       f"use fp16")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
