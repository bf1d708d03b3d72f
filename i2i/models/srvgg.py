"""SRVGGNetCompact, Real-ESRGAN's small VGG-style super-resolution network (xinntao/Real-ESRGAN,
`realesr-general-x4v3`, `realesr-animevideov3`).

3×3 conv + PReLU; `num_convs` × (3×3 conv + PReLU), all at the input resolution; 3×3 conv to
out_channels · scale² channels; PixelShuffle(scale); plus the input upsampled ×scale by nearest
neighbour, so the network learns only the residual. No normalisation, no convolution at the output
resolution: cheap enough for video. 64 channels with 32 convolutions is `realesr-general-x4v3`
(1,213,296 parameters), with 16 (the default) `realesr-animevideov3` (621,424).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.nn import ConvNormAct

ACTIVATIONS = ("prelu", "relu")   # Real-ESRGAN's released models all use PReLU (one slope per channel)


@dataclass
class SRVGGNetConfig:
    in_channels: int = 3
    out_channels: int = 3           # = in_channels: the nearest-upsampled input is added to the output
    scale: int = 4                  # output side / input side, any integer ≥ 1 (one PixelShuffle)
    channels: int = 64              # num_feat: width of every convolution but the last
    num_convs: int = 16             # num_conv: the convolutions after the first one
    act: str = "prelu"              # prelu (Real-ESRGAN) or relu

    @property
    def multiple_of(self) -> int:
        return 1  # no downsampling: any input size works

    @property
    def min_size(self) -> int:
        return 1  # no normalisation layers


class SRVGGNet(nn.Module):
    """(N, in_channels, H, W) → (N, out_channels, scale·H, scale·W), linear output (unbounded: the
    caller clamps, as `InferenceModel` does). Inputs in [0, 1] for Real-ESRGAN's weights."""

    def __init__(self, config: SRVGGNetConfig) -> None:
        super().__init__()
        if config.scale < 1:
            raise ValueError(f"SRVGGNet scale must be >= 1, got {config.scale}")
        if config.num_convs < 0:
            raise ValueError(f"SRVGGNet num_convs must be >= 0, got {config.num_convs}")
        if config.act not in ACTIVATIONS:
            raise ValueError(f"unknown SRVGGNet act {config.act!r}; choose one of: {', '.join(ACTIVATIONS)}")
        if config.in_channels != config.out_channels:
            raise ValueError(f"SRVGGNet adds the upsampled input to its output: in_channels "
                             f"({config.in_channels}) must equal out_channels ({config.out_channels})")
        self.config = config
        ch, act = config.channels, config.act
        self.head = ConvNormAct(config.in_channels, ch, 3, act=act)
        self.body = nn.Sequential(*[ConvNormAct(ch, ch, 3, act=act) for _ in range(config.num_convs)])
        self.tail = ConvNormAct(ch, config.out_channels * config.scale ** 2, 3)
        self.shuffle = nn.PixelShuffle(config.scale)
        # Initialisation: PyTorch's defaults, as Real-ESRGAN trains it.

    def forward(self, x: Tensor) -> Tensor:
        residual = self.shuffle(self.tail(self.body(self.head(x))))      # (N, out_channels, sH, sW)
        base = F.interpolate(x, scale_factor=self.config.scale, mode="nearest")
        return residual + base
