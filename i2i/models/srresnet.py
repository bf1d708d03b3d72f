"""SRResNet, the generator of SRGAN (Ledig et al. 2017, §2.2 and figure 4).

k9n64 conv + PReLU; B residual blocks (k3n64 conv, BN, PReLU, k3n64 conv, BN, skip); k3n64 conv + BN
plus a long skip from after the first layer; log2(scale) sub-pixel stages (k3n256 conv, PixelShuffle
×2, PReLU); k9n3 conv. B = 16 is the paper's ×4 network. The discriminator is `SRDiscriminator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from i2i.nn import ConvNormAct, PixelShuffleUp, ResBlock, init_weights
from i2i.nn.interpolation import InterpolateUp

SCALES = (2, 4, 8)
UPSAMPLE_SKIPS = ("none", "bicubic", "bilinear")
OUTPUTS = ("tanh", "linear")


@dataclass
class SRResNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 4              # output side / input side: 2, 4 or 8 (one sub-pixel ×2 stage each)
    channels: int = 64          # width of every layer but the sub-pixel convolutions (×4 before the shuffle)
    num_blocks: int = 16        # residual blocks B (16 in the paper)
    norm: str = "batch"         # batch (paper) or none (the BN-free variant of EDSR/ESRGAN)
    act: str = "prelu"          # PReLU (paper); i2i's PReLU learns one slope per channel
    output: str = "tanh"        # tanh (paper, targets in [-1, 1]) or linear (no activation, no clamp)
    # Not in the paper (BasicSR's MSRResNet adds a bilinear base the same way): output = interpolate(
    # input, scale, mode) + network, with the last convolution zero-initialised, so the model starts at
    # bicubic/bilinear quality and learns only the missing detail. Measured to matter a lot for short
    # CPU training. Needs output "linear": tanh would bend the interpolated base.
    upsample_skip: str = "none"
    init: str = "normal"        # the paper states none: N(0, 0.02) like the other i2i GANs
    init_gain: float = 0.02

    @property
    def multiple_of(self) -> int:
        return 1  # no downsampling: any input size works

    @property
    def min_size(self) -> int:
        # At inference BatchNorm runs per image (as InstanceNorm), which cannot normalise one pixel.
        return 1 if self.norm == "none" else 2


class SRResNet(nn.Module):
    """(N, in_channels, H, W) in [-1, 1] → (N, out_channels, scale·H, scale·W). In [-1, 1] with the
    tanh output; unbounded with the linear one (the caller clamps, as `InferenceModel` does)."""

    def __init__(self, config: SRResNetConfig) -> None:
        super().__init__()
        if config.scale not in SCALES:
            raise ValueError(f"SRResNet scale must be one of {SCALES}, got {config.scale}")
        if config.num_blocks < 0:
            raise ValueError(f"SRResNet num_blocks must be >= 0, got {config.num_blocks}")
        if config.output not in OUTPUTS:
            raise ValueError(f"unknown SRResNet output {config.output!r}; "
                             f"choose one of: {', '.join(OUTPUTS)}")
        if config.upsample_skip not in UPSAMPLE_SKIPS:
            raise ValueError(f"unknown SRResNet upsample_skip {config.upsample_skip!r}; "
                             f"choose one of: {', '.join(UPSAMPLE_SKIPS)}")
        if config.upsample_skip != "none" and config.output != "linear":
            raise ValueError("SRResNet upsample_skip needs output 'linear': tanh(base + residual) would not "
                             "start at the interpolated image")
        if config.upsample_skip != "none" and config.in_channels != config.out_channels:
            raise ValueError("SRResNet upsample_skip needs in_channels == out_channels")
        self.config = config
        ch, norm, act = config.channels, config.norm, config.act
        # k9n64 + PReLU: no norm, so the convolution keeps its bias
        self.head = ConvNormAct(config.in_channels, ch, 9, act=act)
        # B × (k3n64, BN, PReLU, k3n64, BN, +); convolutions before BN drop their bias (i2i's rule)
        self.blocks = nn.Sequential(*[ResBlock(ch, norm=norm, act=act, pad_type="zero")
                                      for _ in range(config.num_blocks)])
        # k3n64 + BN, then the long skip from the head (in forward)
        self.trunk = ConvNormAct(ch, ch, 3, norm=norm)
        # log2(scale) × (k3n256, PixelShuffle ×2, PReLU)
        self.upsample = nn.Sequential(*[PixelShuffleUp(ch, 2, 3, act=act)
                                        for _ in range(int(math.log2(config.scale)))])
        self.tail = ConvNormAct(ch, config.out_channels, 9, act="tanh" if config.output == "tanh" else "none",
                                bias=True)
        init_weights(self, config.init, config.init_gain)
        # F.interpolate's bicubic/bilinear as a fixed convolution: the same numbers, and an ONNX graph
        # without a cubic Resize, which OpenCV's DNN importers refuse.
        self.skip = InterpolateUp(config.in_channels, config.scale, config.upsample_skip) \
            if config.upsample_skip != "none" else None
        if config.upsample_skip != "none":  # the residual starts at exactly zero: output = interpolation
            nn.init.zeros_(self.tail.conv.weight)
            nn.init.zeros_(self.tail.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)                                   # (N, ch, H, W)
        h = features + self.trunk(self.blocks(features))          # (N, ch, H, W)
        out = self.tail(self.upsample(h))                         # (N, out_channels, sH, sW)
        if self.config.upsample_skip != "none":
            # Input and output share the (x − 0.5)/0.5 normalisation, so the base is exact in this space.
            out = out + self.skip(x)
        return out
