"""Adversarial objectives. Discriminators output raw scores (logits); no sigmoid inside networks.

Each objective gives the discriminator's two terms (on real and on fake samples) and the generator's
term, as in the papers; every term is a mean over all patches and samples:
- `vanilla`: Goodfellow et al. 2014 with the non-saturating generator loss −log σ(D(G(z))), computed
  with BCE-with-logits (the pix2pix reference's `vanilla`).
- `minimax`: Goodfellow et al. 2014 as written, the saturating generator loss log(1 − σ(D(G(z)))) =
  −softplus(D(G(z))); discriminator as `vanilla`.
- `lsgan`: least squares, targets 1/0 (Mao et al. 2017; CycleGAN's choice).
- `hinge`: Lim & Ye 2017 / Miyato et al. 2018; generator −E[D(G(z))].
- `wgan`: Arjovsky et al. 2017, D: −E[D(x)] + E[D(G(z))], G: −E[D(G(z))]; needs a Lipschitz
  constraint: `regularisers.clip_weights` (WGAN) or `regularisers.gradient_penalty` (WGAN-GP).
- `ragan`: relativistic average GAN, BCE form (Jolicoeur-Martineau 2018; ESRGAN, Wang et al. 2018).
- `ralsgan`: relativistic average LSGAN (Jolicoeur-Martineau 2018).

Relativistic conventions (ESRGAN's, = `srgan.relativistic_*`): the "average" is the mean of the
other side's scores over the whole batch (all patches); the discriminator's two terms are not halved
(their sum is the paper's L_D); the generator's loss is the mean of its two symmetric terms (ESRGAN
code / the RaGAN reference code), i.e. half the paper's L_G. The generator loss needs the real scores
(`real=`); detach them if the discriminator should not receive gradients from the generator step.

One-sided label smoothing (Salimans et al. 2016): `one_sided_label_smoothing=s` makes the target of
the real term 1 − s (vanilla, minimax, lsgan, ragan; ralsgan's +1 margin); fake targets are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_OBJECTIVES = ("vanilla", "minimax", "lsgan", "hinge", "wgan", "ragan", "ralsgan")
RELATIVISTIC_OBJECTIVES = ("ragan", "ralsgan")
SMOOTHABLE_OBJECTIVES = ("vanilla", "minimax", "lsgan", "ragan", "ralsgan")


def _check(objective: str) -> None:
    if objective not in GAN_OBJECTIVES:
        raise ValueError(f"unknown GAN objective {objective!r}; choose one of: {', '.join(GAN_OBJECTIVES)}")


def _bce(scores: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))


def discriminator_loss(real: Tensor, fake: Tensor, objective: str, *,
                       one_sided_label_smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
    """(loss on real scores, loss on fake scores), each a mean over all patches and samples.

    For the relativistic objectives each term depends on both score tensors (the other side's mean)."""
    _check(objective)
    s = float(one_sided_label_smoothing)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"one_sided_label_smoothing must be in [0, 1), got {s}")
    if s > 0 and objective not in SMOOTHABLE_OBJECTIVES:
        raise ValueError(f"one-sided label smoothing has no meaning for the {objective!r} objective; "
                         f"it applies to: {', '.join(SMOOTHABLE_OBJECTIVES)}")
    target = 1.0 - s
    if objective in ("vanilla", "minimax"):
        return _bce(real, target), _bce(fake, 0.0)
    if objective == "lsgan":
        return F.mse_loss(real, torch.full_like(real, target)), F.mse_loss(fake, torch.zeros_like(fake))
    if objective == "hinge":
        return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()
    if objective == "wgan":
        return -real.mean(), fake.mean()
    real_rel, fake_rel = real - fake.mean(), fake - real.mean()
    if objective == "ragan":
        return _bce(real_rel, target), _bce(fake_rel, 0.0)
    return (real_rel - target).pow(2).mean(), (fake_rel + 1.0).pow(2).mean()     # ralsgan


def generator_loss(fake: Tensor, objective: str, real: Tensor | None = None) -> Tensor:
    """The generator's adversarial loss on the discriminator's scores of its fakes (and, for the
    relativistic objectives, of the real images: `real` is required there and ignored otherwise)."""
    _check(objective)
    if objective == "vanilla":
        return _bce(fake, 1.0)                          # −log σ(D(G(x)))
    if objective == "minimax":
        return -F.softplus(fake).mean()                 # log(1 − σ(D(G(x)))), saturating
    if objective == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    if objective in ("hinge", "wgan"):
        return -fake.mean()
    if real is None:
        raise ValueError(f"the relativistic objective {objective!r} needs the discriminator's scores of "
                         "the real images: generator_loss(fake, objective, real=real_scores)")
    real_rel, fake_rel = real - fake.mean(), fake - real.mean()
    if objective == "ragan":
        return 0.5 * (_bce(real_rel, 0.0) + _bce(fake_rel, 1.0))
    return 0.5 * ((real_rel + 1.0).pow(2).mean() + (fake_rel - 1.0).pow(2).mean())   # ralsgan
