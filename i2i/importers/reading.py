"""Reading a foreign weights file as tensors only, whatever its container.

.pth/.pt/.ckpt/.bin go through `torch.load(weights_only=True)` (no pickled code runs: a file that needs
it is refused, never unpickled); .safetensors is read as it is. Nested dicts (MUNIT's {'a', 'b'},
FUNIT's {'gen', 'gen_test'}, BasicSR's {'params_ema', 'params'}) are kept for the importers, which
`flatten` them to dotted keys; DataParallel `module.` levels are dropped there.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from i2i.errors import I2IError


def read_weights_file(path: Path) -> dict[str, Any]:
    """The file's (possibly nested) dict of tensors, or one I2IError naming the file and what is wrong."""
    if not path.is_file():
        raise I2IError(f"{path} does not exist")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message here advises weights_only=False, which is exactly what we must not do.
        raise I2IError(f"{path}: not a PyTorch state dict of plain tensors (not a PyTorch file, or one "
                       f"holding pickled objects, which i2i never loads)") from None
    except Exception as error:  # truncated archives, zip errors, …: their first line says which
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise I2IError(f"{path}: not a readable PyTorch state dict ({reason.removeprefix(f'{path}: ')})") from None
    if not isinstance(state, dict):
        raise I2IError(f"{path}: not a readable PyTorch state dict (expected a state_dict (a dict of tensors), "
                       f"got {type(state).__name__})")
    return state


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            if "i2i" in (handle.metadata() or {}):
                raise I2IError(f"{path} is already an i2i checkpoint: translate, export or fine-tune it as it is")
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise I2IError(f"{path}: not a readable safetensors file ({error})") from None


def flatten(state: dict[str, Any], prefix: str = "", strict: bool = False) -> dict[str, Tensor]:
    """Nested dicts of tensors → one dict with dotted keys; `module.` levels (DataParallel) dropped.
    Non-tensor entries (epoch counters, optimiser hyper-parameters) are left out, or with `strict` a
    ValueError naming the first."""
    flat: dict[str, Tensor] = {}
    for key, value in state.items():
        name = ".".join(part for part in f"{prefix}{key}".split(".") if part != "module")
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}.", strict))
        elif isinstance(value, Tensor):
            flat[name] = value
        elif strict:
            raise ValueError(f"expected a state_dict (a dict of tensors), but {name} is a {type(value).__name__}")
    return flat
