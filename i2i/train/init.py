"""`i2i train METHOD --init CHECKPOINT`: start from weights that exist — an i2i checkpoint or run, or
one imported with `i2i weights import` (an ESRGAN file, a released CycleGAN generator, …).

The generators are loaded direction by direction (by name, else in order) and must match the
recipe's networks tensor for tensor: the first key or shape that differs is named, with what the recipe
builds. The preprocessing must match too (an imported SR network sees [0, 1] pixels, i2i's own [-1, 1]),
since the same weights on differently scaled inputs are a different model. A run directory also
gives its discriminators (from state.pt), so a GAN stage continues with a trained critic.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from i2i.checkpoint import load_checkpoint, load_state
from i2i.errors import I2IError
from i2i.methods.base import Method


def initialise_from(method: Method, source: str | Path) -> list[str]:
    """Load `source`'s generators (and a run's discriminators) into `method`; returns what was loaded."""
    checkpoint = load_checkpoint(source)
    _check_preprocess(checkpoint.path, checkpoint.preprocess, method)
    exported = method.exported_generators()
    loaded = []
    for direction, stored in _pairing(list(exported), checkpoint.directions, source):
        _load_exactly(exported[direction], checkpoint.tensors(stored), f"--init {checkpoint.path}: {stored}")
        loaded.append(f"{direction} ← {stored}")
    fresh = [direction for direction in exported if not any(item.startswith(f"{direction} ←") for item in loaded)]
    if fresh:  # e.g. a released CycleGAN generator holds one direction: the other starts from its init
        loaded.append(f"{', '.join(fresh)} from the recipe's initialisation")
    state_file = Path(source) / "state.pt"
    if Path(source).is_dir() and state_file.is_file():
        prefix = "discriminators."
        state = {k[len(prefix):]: v for k, v in load_state(state_file)["method"].items() if k.startswith(prefix)}
        _load_exactly(method.discriminators, state, f"--init {state_file}: discriminators")
        loaded.append("discriminators")
    return loaded


def _pairing(wanted: list[str], stored: list[str], source: str | Path) -> list[tuple[str, str]]:
    """(recipe direction, stored direction): by name where names agree, else in order."""
    named = [(direction, direction) for direction in wanted if direction in stored]
    if named:
        return named
    if len(stored) > len(wanted):
        raise I2IError(f"--init {source}: it holds {len(stored)} generators ({', '.join(stored)}); the recipe "
                       f"trains {len(wanted)} ({', '.join(wanted)}) and no direction names agree")
    return list(zip(wanted, stored))


def _check_preprocess(path: Path, stored: object, method: Method) -> None:
    wanted = method.preprocess()
    for name in ("mean", "std", "scale", "channels"):
        have, want = getattr(stored, name), getattr(wanted, name)
        if _plain(have) != _plain(want):
            hint = ("; for weights trained on [0, 1] pixels (ESRGAN, Real-ESRGAN, BasicSR) add "
                    "--set input_range=zero_one" if name in ("mean", "std") and method.recipe.method == "srgan" else "")
            raise I2IError(f"--init {path}: its networks were trained with {name} {have}, the recipe's with "
                           f"{want}{hint}")


def _plain(value: object) -> object:
    return tuple(float(v) for v in value) if isinstance(value, (tuple, list)) else value


def _load_exactly(module: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """`module.load_state_dict(state)`, or an I2IError naming the first tensor that does not fit."""
    own = module.state_dict()
    for key, tensor in own.items():
        if key not in state:
            raise I2IError(f"{what} has no tensor {key} {tuple(tensor.shape)}, which the recipe's "
                           f"{type(module).__name__} needs (a different architecture or size?)")
        if state[key].shape != tensor.shape:
            raise I2IError(f"{what}: {key} has shape {tuple(state[key].shape)}, the recipe's "
                           f"{type(module).__name__} needs {tuple(tensor.shape)}")
    extra = [key for key in state if key not in own]
    if extra:
        raise I2IError(f"{what} has {len(extra)} tensor(s) the recipe's {type(module).__name__} does not, "
                       f"e.g. {extra[0]} (a different architecture or size?)")
    with torch.no_grad():
        module.load_state_dict(state, strict=True)
