"""Bicubic and bilinear upsampling by an integer factor as a fixed convolution and a pixel shuffle.

`InterpolateUp(channels, scale, mode)(x)` equals `F.interpolate(x, scale_factor=scale, mode=mode,
align_corners=False)` (to float rounding, ~1e-6) but is built from the operations every ONNX runtime
has: an edge (replicate) pad, a depthwise 5×5 convolution with s² fixed kernels per channel, one per
output phase, and DepthToSpace. ONNX's cubic `Resize` is what OpenCV's DNN importers (4.x, and 5.x's
classic engine) refuse, and the SR networks' global bicubic skip is the only place i2i uses it.

Why it is exact: at an integer scale s with align_corners=False, output pixel o = i·s + p reads the
source coordinate (o + 0.5)/s − 0.5 = i + t_p, the same fractional offset t_p ∈ (−0.5, 0.5) for every
i of phase p. PyTorch's kernel taps floor(i + t_p) − 1 … + 2 (cubic, A = −0.75) or floor … + 1
(linear) and clamps reads to the image, which is what replicate padding does. So each phase is one
fixed set of ≤ 4 taps within offsets −2 … 2 of i, separable in y and x. (Linear clamps the coordinate
itself at 0, not only the reads; at the left edge both give the first pixel's value, because the
replicated pixel −1 equals pixel 0.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODES = ("bicubic", "bilinear")
_RADIUS = 2          # taps lie within offsets −2 … 2 of the phase's source pixel
_CUBIC_A = -0.75     # PyTorch's (and OpenCV's) bicubic coefficient


def _cubic(distance: float) -> float:
    """Keys' cubic convolution kernel with a = −0.75 at |distance|."""
    x, a = abs(distance), _CUBIC_A
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return 0.0


def phase_taps(scale: int, mode: str) -> torch.Tensor:
    """(scale, 5) weights: row p holds phase p's taps on source offsets −2 … 2 (float64)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    taps = torch.zeros(scale, 2 * _RADIUS + 1, dtype=torch.float64)
    for phase in range(scale):
        coordinate = (phase + 0.5) / scale - 0.5
        base = math.floor(coordinate)
        fraction = coordinate - base
        if mode == "bicubic":
            weights = {base - 1: _cubic(fraction + 1), base: _cubic(fraction),
                       base + 1: _cubic(1 - fraction), base + 2: _cubic(2 - fraction)}
        else:
            weights = {base: 1 - fraction, base + 1: fraction}
        for offset, weight in weights.items():
            taps[phase, offset + _RADIUS] += weight
    return taps


class InterpolateUp(nn.Module):
    """×`scale` bicubic or bilinear upsampling of `channels`-channel images (see the module doc).
    The kernels are a non-persistent buffer: checkpoints do not carry them."""

    def __init__(self, channels: int, scale: int, mode: str = "bicubic") -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        self.channels, self.scale, self.mode = channels, scale, mode
        taps = phase_taps(scale, mode)
        # kernel[py·s + px] = taps[py] ⊗ taps[px]: output channel c·s² + py·s + px is what PixelShuffle
        # places at (c, i·s + py, j·s + px).
        kernels = torch.einsum("ya,xb->yxab", taps, taps).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("kernel", kernels.repeat(channels, 1, 1, 1).float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (_RADIUS,) * 4, mode="replicate")
        phases = F.conv2d(padded, self.kernel.to(x.dtype), groups=self.channels)
        return F.pixel_shuffle(phases, self.scale)

    def extra_repr(self) -> str:
        return f"{self.channels}, scale={self.scale}, mode={self.mode!r}"
