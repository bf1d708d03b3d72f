"""The optimisers the trainer builds from `recipe.optimizer`, and the one place loss weights apply."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from i2i.errors import I2IError

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(parameters: Any, config: Any, lr: float) -> torch.optim.Optimizer:
    """Adam (β₁, β₂ from the recipe) or RMSprop (PyTorch defaults, as the FUNIT reference)."""
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=config.weight_decay)
    raise I2IError(f"optimizer.name must be one of {', '.join(OPTIMIZERS)}, got {config.name!r}")


def weighted_total(losses: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """Σ weight · loss over the named terms; a term without a weight is an error, not a silent 1."""
    missing = [name for name in losses if name not in weights]
    if missing:
        raise I2IError(f"loss terms {missing} have no weight in recipe.loss_weights ({sorted(weights)})")
    return sum(weights[name] * value for name, value in losses.items())


def gradient_norm(module: torch.nn.Module) -> float:
    """L2 norm of all gradients of `module` (after averaging over processes): a rising norm is an early
    sign of a diverging run."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
