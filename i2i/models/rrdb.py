"""RRDBNet, the generator of ESRGAN (Wang et al. 2018, §3.1).

3×3 conv; B residual-in-residual dense blocks (RRDB: three residual dense blocks of five 3×3
convolutions with growth 32 and LeakyReLU 0.2, each and the RRDB itself scaled by β = 0.2 before
their skip); 3×3 trunk conv plus a long skip; log2(scale) × (nearest ×2, 3×3 conv, LeakyReLU); 3×3
HR conv + LeakyReLU; 3×3 conv. No BN. B = 23, 64 channels, growth 32 is the official RRDB_ESRGAN_x4
(16,697,987 parameters). Weights: kaiming normal, × 0.1 in the dense blocks (the paper's smaller
initialisation).

Real-ESRGAN's ×2 and ×1 networks (BasicSR's RRDBNet with scale 2 or 1) first pixel-unshuffle the input
by `unshuffle` = 2 or 4 (in_channels × 4 or × 16 at the head, H and W divided by it) and then still
upsample ×4, so the output is scale = 4 / unshuffle times the input and H, W must be multiples of
`unshuffle`. With the default unshuffle 1 the network is ESRGAN's exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from i2i.nn import ConvNormAct, NearestUpConv, init_weights

SCALES = (1, 2, 4, 8)
UNSHUFFLES = (1, 2, 4)
UPSAMPLINGS = (2, 4, 8)     # scale × unshuffle: one nearest ×2 stage per factor 2


@dataclass
class RRDBNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 4              # output side / input side: 1, 2, 4 or 8 (1 only with an unshuffle)
    channels: int = 64          # nf: width of the trunk
    growth: int = 32            # gc: channels each dense-block convolution adds
    num_blocks: int = 23        # RRDBs (23 in ESRGAN)
    residual_scale: float = 0.2  # β: the dense blocks' and RRDBs' residuals are scaled by it
    init_scale: float = 0.1     # kaiming-normal weights × this in the dense blocks (the official init)
    # Pixel-unshuffle of the input before the head: 1 (ESRGAN), 2 (Real-ESRGAN ×2) or 4 (×1). The
    # trunk then runs at 1/unshuffle of the input side and log2(scale · unshuffle) ×2 stages follow.
    unshuffle: int = 1

    @property
    def multiple_of(self) -> int:
        return self.unshuffle  # the unshuffle folds unshuffle × unshuffle pixels into channels

    @property
    def min_size(self) -> int:
        return 1  # no normalisation layers


class ResidualDenseBlock(nn.Module):
    """x + β · conv5([x, x1, x2, x3, x4]), where x_k = lrelu(conv_k([x, x1, …, x_{k−1}]))."""

    def __init__(self, channels: int, growth: int, residual_scale: float) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.convs = nn.ModuleList([ConvNormAct(channels + k * growth, growth, 3, act="lrelu")
                                    for k in range(4)])
        self.fuse = ConvNormAct(channels + 4 * growth, channels, 3)  # linear: the residual may be negative

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in self.convs:
            features.append(conv(torch.cat(features, 1)))
        return x + self.residual_scale * self.fuse(torch.cat(features, 1))


class RRDB(nn.Module):
    """Residual in residual dense block: x + β · RDB(RDB(RDB(x)))."""

    def __init__(self, channels: int, growth: int, residual_scale: float) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.blocks = nn.Sequential(*[ResidualDenseBlock(channels, growth, residual_scale) for _ in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.residual_scale * self.blocks(x)


class RRDBNet(nn.Module):
    """(N, in_channels, H, W) → (N, out_channels, scale·H, scale·W), linear output as in ESRGAN
    (unbounded: the caller clamps, as `InferenceModel` does). H and W multiples of `unshuffle`."""

    def __init__(self, config: RRDBNetConfig) -> None:
        super().__init__()
        if config.scale not in SCALES:
            raise ValueError(f"RRDBNet scale must be one of {SCALES}, got {config.scale}")
        if config.unshuffle not in UNSHUFFLES:
            raise ValueError(f"RRDBNet unshuffle must be one of {UNSHUFFLES}, got {config.unshuffle}")
        upsampling = config.scale * config.unshuffle
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"RRDBNet scale × unshuffle must be one of {UPSAMPLINGS} (×2 stages after the "
                             f"unshuffle), got scale {config.scale} × unshuffle {config.unshuffle}")
        if config.num_blocks < 0:
            raise ValueError(f"RRDBNet num_blocks must be >= 0, got {config.num_blocks}")
        self.config = config
        ch = config.channels
        self.unshuffle = nn.PixelUnshuffle(config.unshuffle) if config.unshuffle > 1 else nn.Identity()
        self.head = ConvNormAct(config.in_channels * config.unshuffle ** 2, ch, 3)
        self.blocks = nn.Sequential(*[RRDB(ch, config.growth, config.residual_scale)
                                      for _ in range(config.num_blocks)])
        self.trunk = ConvNormAct(ch, ch, 3)  # then the long skip from the head (in forward)
        self.upsample = nn.Sequential(*[NearestUpConv(ch, ch, 3, act="lrelu", pad_type="zero")
                                        for _ in range(int(math.log2(upsampling)))])
        self.hr = ConvNormAct(ch, ch, 3, act="lrelu")
        self.tail = ConvNormAct(ch, config.out_channels, 3)
        init_weights(self, "kaiming")
        # ESRGAN's smaller initialisation: the dense blocks' residuals start small, so the deep trunk
        # starts near the identity (the official code scales only these convolutions).
        for layer in self.blocks.modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.data.mul_(config.init_scale)

    def forward(self, x: Tensor) -> Tensor:
        # u = unshuffle (1 unless Real-ESRGAN ×2/×1): (N, in_channels·u², H/u, W/u)
        features = self.head(self.unshuffle(x))                   # (N, ch, H/u, W/u)
        h = features + self.trunk(self.blocks(features))          # (N, ch, H/u, W/u)
        return self.tail(self.hr(self.upsample(h)))               # (N, out_channels, sH, sW)
