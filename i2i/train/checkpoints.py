"""Saving a run: the self-describing inference checkpoint beside the exact resume state, written so
that a failure (disk full, quota, a kill) always leaves the previous pair readable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from i2i.checkpoint import save_checkpoint, save_state
from i2i.errors import I2IError


class SaveError(I2IError):
    """A checkpoint or resume state could not be written; the previous ones are intact."""


def save_step(run_dir: Path, step: int, exported: dict[str, nn.Module], header: dict[str, Any],
              state: dict[str, Any], keep: int) -> Path:
    """checkpoints/step_N.safetensors + state.pt; keeps the newest `keep` step checkpoints (0: all)."""
    path = run_dir / "checkpoints" / f"step_{step:07d}.safetensors"
    try:
        save_checkpoint(path, exported, header)
        try:
            save_state(run_dir / "state.pt", state)
        except OSError:
            path.unlink(missing_ok=True)  # a checkpoint without its resume state would not match state.pt
            raise
    except OSError as error:  # disk full, quota, permissions: the atomic writes left the old files whole
        previous = sorted(p for p in (run_dir / "checkpoints").glob("step_*.safetensors") if p != path)
        kept = f"the previous checkpoint {previous[-1]} and its state.pt are kept" if previous else \
            "no earlier checkpoint exists"
        raise SaveError(f"could not save step {step} in {run_dir} ({error.strerror or error}); {kept}") from None
    if keep > 0:
        for old in sorted((run_dir / "checkpoints").glob("step_*.safetensors"))[:-keep]:
            old.unlink()
    return path


def save_best(run_dir: Path, exported: dict[str, nn.Module], header: dict[str, Any]) -> str | None:
    """checkpoints/best.safetensors; returns why it could not be written (the previous one is kept)."""
    try:
        save_checkpoint(run_dir / "checkpoints" / "best.safetensors", exported, header)
    except OSError as error:
        return f"could not write the best checkpoint ({error.strerror or error}); the previous one is kept"
    return None
