"""Discriminator regularisers from the GAN-training literature, as plain functions.

- `r1_penalty`: R1, zero-centred gradient penalty on real data (Mescheder et al. 2018).
- `r1_applies`: StyleGAN2's lazy regularisation (Karras et al. 2020): compute R1 only every
  `interval` discriminator steps and multiply its weight by `interval` on those steps, so the
  expected penalty per step is unchanged:

      if r1_applies(step, interval):
          loss = loss + weight * interval * r1_penalty(scores, real)

- `gradient_penalty`: WGAN-GP (Gulrajani et al. 2017), one-centred penalty on interpolates.
- `instance_noise` / `annealed_sigma`: Gaussian instance noise on the discriminator's inputs
  (Sønderby et al. 2016; Arjovsky & Bottou 2017), annealed linearly to 0.
- `clip_weights`: WGAN weight clipping (Arjovsky et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def r1_penalty(scores: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E‖∇_x D(x)‖² over real x — the sum of squared input gradients per
    image, averaged over the batch (the official `compute_grad2`). `real` must require grad."""
    (gradient,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return gradient.pow(2).flatten(1).sum(1).mean()


def r1_applies(step: int, interval: int) -> bool:
    """Lazy R1 (StyleGAN2): True on steps 0, interval, 2·interval, … ; scale the weight by `interval`."""
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    return step % interval == 0


def _total_score(output: Tensor | list[Tensor] | tuple) -> Tensor:
    """Sum of a discriminator's scores: a tensor, a list of tensors (multi-scale: summed), or a
    (scores, features) tuple (scores taken)."""
    if isinstance(output, tuple):
        output = output[0]
    if isinstance(output, list):
        return sum(o.sum() for o in output)
    return output.sum()


def gradient_penalty(discriminator: Callable[..., Tensor | list[Tensor] | tuple], real: Tensor,
                     fake: Tensor, *args) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ − 1)²], x̂ = ε·real + (1 − ε)·fake with one
    ε ~ U(0, 1) per sample (global RNG), the norm taken per sample over all of C, H, W. Extra `args`
    (e.g. class labels) are passed to the discriminator after x̂. Differentiable w.r.t. D's weights."""
    epsilon = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (epsilon * real.detach() + (1.0 - epsilon) * fake.detach()).requires_grad_(True)
    (gradient,) = torch.autograd.grad(_total_score(discriminator(mixed, *args)), mixed, create_graph=True)
    return (gradient.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def instance_noise(images: Tensor, sigma: float) -> Tensor:
    """images + N(0, σ²) noise (global RNG); σ = 0 returns `images` itself."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return images
    return images + sigma * torch.randn_like(images)


def annealed_sigma(step: int, total_steps: int, start: float) -> float:
    """Instance-noise σ decayed linearly from `start` at step 0 to 0 at `total_steps` (0 afterwards)."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    return start * min(1.0, max(0.0, 1.0 - step / total_steps))


def clip_weights(module: nn.Module, clip: float = 0.01) -> nn.Module:
    """WGAN weight clipping: clamp every parameter of `module` to [−clip, clip] in place."""
    if clip <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.clamp_(-clip, clip)
    return module
