"""Differentiable augmentation of the discriminator's inputs: DiffAugment (Zhao et al. 2020) with an
ADA-style probability (Karras et al. 2020).

A discriminator trained on few images memorises them; augmenting only the real images would teach the
generator to produce augmented images. DiffAugment instead applies the same random, *differentiable*
transforms to every image the discriminator sees — real and fake, in the discriminator's step and in
the generator's — so the generator's gradient passes through them and the augmentations do not leak
into its outputs. Operations (the official `DiffAugment_pytorch.py` parameters, on images normalised
to the networks' range):

- `color`: brightness + U(−½, ½); saturation × U(0, 2) around the per-pixel channel mean; contrast
  × U(½, 1½) around the image mean;
- `translation`: an integer shift of up to 1/8 of each side, zero fill (kornia's differentiable warp);
- `cutout`: a zeroed square of half the image side at a random centre.

Each operation is applied to each image with probability `p` (DiffAugment: p = 1); ADA adapts p from
the overfitting heuristic r_t (see `i2i.losses.adversarial`). Inputs with 3·G channels (pix2pix judges the
input and output concatenated) get the same colour change on each 3-channel image of the pair; the
geometric operations move all channels together. Random numbers come from torch's global generator,
whose state the trainer saves, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

from collections.abc import Callable

import kornia
import torch
from torch import Tensor

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _groups(x: Tensor) -> Tensor:
    """(N, C, H, W) → (N, G, c, H, W) with c = 3 where C is a multiple of 3 (RGB images), else C."""
    n, channels, height, width = x.shape
    per = 3 if channels % 3 == 0 else channels
    return x.view(n, channels // per, per, height, width)


def _uniform(n: int, like: Tensor, low: float, high: float) -> Tensor:
    return torch.rand(n, 1, 1, 1, 1, device=like.device, dtype=like.dtype) * (high - low) + low


def color(x: Tensor) -> Tensor:
    n = x.shape[0]
    g = _groups(x)
    g = g + _uniform(n, x, -0.5, 0.5)                                      # brightness
    mean = g.mean(dim=2, keepdim=True)
    g = (g - mean) * _uniform(n, x, 0.0, 2.0) + mean                       # saturation
    mean = g.mean(dim=(2, 3, 4), keepdim=True)
    g = (g - mean) * _uniform(n, x, 0.5, 1.5) + mean                       # contrast
    return g.view_as(x)


def translation(x: Tensor) -> Tensor:
    n, _, height, width = x.shape
    limit = torch.tensor([width, height], device=x.device, dtype=x.dtype) * TRANSLATION_RATIO
    limit = limit.round()
    # Integer shifts in [−limit, limit] per image: the warp then samples exactly at pixel centres.
    shift = torch.floor(torch.rand(n, 2, device=x.device, dtype=x.dtype) * (2 * limit + 1)) - limit
    return kornia.geometry.transform.translate(x, shift, mode="bilinear", padding_mode="zeros", align_corners=True)


def cutout(x: Tensor) -> Tensor:
    n, _, height, width = x.shape
    cut_h, cut_w = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    centre_y = torch.randint(0, height + (1 - cut_h % 2), (n, 1, 1), device=x.device)
    centre_x = torch.randint(0, width + (1 - cut_w % 2), (n, 1, 1), device=x.device)
    # Row/column offsets inside the square; a square reaching over the border is cut by it.
    rows = torch.arange(height, device=x.device).view(1, -1, 1) - centre_y + cut_h // 2
    cols = torch.arange(width, device=x.device).view(1, 1, -1) - centre_x + cut_w // 2
    inside = (rows >= 0) & (rows < cut_h) & (cols >= 0) & (cols < cut_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPERATIONS: dict[str, Callable[[Tensor], Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def check_policy(policy: list[str]) -> None:
    unknown = [name for name in policy if name not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; choose from: {', '.join(OPERATIONS)}")


def diff_augment(x: Tensor, policy: list[str], p: float = 1.0) -> Tensor:
    """Apply each operation of `policy`, in order, to each image with probability `p`."""
    check_policy(policy)
    for name in policy:
        if p <= 0:
            break
        augmented = OPERATIONS[name](x)
        if p >= 1:
            x = augmented
        else:
            chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
            x = torch.where(chosen, augmented, x)
    return x
