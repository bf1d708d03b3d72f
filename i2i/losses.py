"""Adversarial objectives. Discriminators output raw scores (logits); no sigmoid inside networks.

Each objective gives the discriminator's two terms (on real and on fake samples) and the generator's
term, as in the papers:
- `vanilla`: Goodfellow et al. 2014 with the non-saturating generator loss −log D(G(z)), computed
  with BCE-with-logits (the pix2pix reference's `vanilla`).
- `lsgan`: least squares, targets 1/0 (Mao et al. 2017; CycleGAN's choice).
- `hinge`: Lim & Ye 2017 / Miyato et al. 2018; generator −E[D(G(z))].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_OBJECTIVES = ("vanilla", "lsgan", "hinge")


def _check(objective: str) -> None:
    if objective not in GAN_OBJECTIVES:
        raise ValueError(f"unknown GAN objective {objective!r}; choose one of: {', '.join(GAN_OBJECTIVES)}")


def discriminator_loss(real: Tensor, fake: Tensor, objective: str) -> tuple[Tensor, Tensor]:
    """(loss on real scores, loss on fake scores), each a mean over all patches and samples."""
    _check(objective)
    if objective == "vanilla":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if objective == "lsgan":
        return F.mse_loss(real, torch.ones_like(real)), F.mse_loss(fake, torch.zeros_like(fake))
    return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()


def generator_loss(fake: Tensor, objective: str) -> Tensor:
    """The generator's adversarial loss on the discriminator's scores of its fakes."""
    _check(objective)
    if objective == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # −log σ(D(G(x)))
    if objective == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    return -fake.mean()
