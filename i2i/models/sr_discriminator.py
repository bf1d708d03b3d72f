"""Discriminator of SRGAN (Ledig et al. 2017, §2.2 and figure 4).

Eight 3×3 convolutions k3n64s1, k3n64s2, k3n128s1, k3n128s2, k3n256s1, k3n256s2, k3n512s1, k3n512s2,
BN after all but the first, LeakyReLU 0.2 after each; then Dense 1024, LeakyReLU 0.2, Dense 1. The
paper's dense layer sees the whole 512×6×6 map of a 96×96 crop (`pool="flatten"`); `pool="avg"`
averages the map to 512×1×1 first, as popular re-implementations do, and accepts any input size.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from i2i.nn import ConvNormAct, get_act, init_weights

POOLS = ("flatten", "avg")
WIDTHS = (1, 1, 2, 2, 4, 4, 8, 8)  # × ndf, one per convolution; stride 2 on the even (1-based) layers


@dataclass
class SRDiscriminatorConfig:
    in_channels: int = 3        # judges the high-resolution image alone (not conditioned on the input)
    ndf: int = 64               # channels of the first convolution; ×2 every two layers up to ×8
    input_size: int = 96        # side of the crops it judges (paper: 96); sizes the flatten-mode dense layer
    pool: str = "flatten"       # flatten (paper, fixed input size) or avg (global average, any size)
    norm: str = "batch"
    spectral_norm: bool = False
    init: str = "normal"
    init_gain: float = 0.02


def final_side(config: SRDiscriminatorConfig) -> int:
    """Side of the last feature map for `input_size` inputs: 4 stride-2 3×3 convs, ceil(s / 2) each."""
    side = config.input_size
    for _ in range(4):
        side = (side - 1) // 2 + 1
    return side


class SRDiscriminator(nn.Module):
    """(N, in_channels, H, W) → logits (N, 1); no sigmoid (losses take logits). In flatten mode H and W
    must equal `config.input_size`."""

    def __init__(self, config: SRDiscriminatorConfig) -> None:
        super().__init__()
        if config.pool not in POOLS:
            raise ValueError(f"unknown SRDiscriminator pool {config.pool!r}; "
                             f"choose one of: {', '.join(POOLS)}")
        if config.input_size < 1:
            raise ValueError(f"SRDiscriminator input_size must be >= 1, got {config.input_size}")
        self.config = config
        sn = config.spectral_norm
        layers: list[nn.Module] = []
        channels = config.in_channels
        for index, mult in enumerate(WIDTHS):
            # BN on all but the first layer; a convolution keeps its bias only without BN (i2i's rule)
            layers.append(ConvNormAct(channels, config.ndf * mult, 3, stride=1 + index % 2,
                                      norm="none" if index == 0 else config.norm, act="lrelu",
                                      spectral_norm=sn))
            channels = config.ndf * mult
        self.features = nn.Sequential(*layers)
        if config.pool == "avg":
            self.pool: nn.Module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            flat = channels
        else:
            self.pool = nn.Flatten()
            flat = channels * final_side(config) ** 2

        def dense(n_in: int, n_out: int) -> nn.Module:
            layer = nn.Linear(n_in, n_out)
            return _spectral_norm(layer) if sn else layer

        self.classifier = nn.Sequential(dense(flat, 1024), get_act("lrelu"), dense(1024, 1))
        init_weights(self, config.init, config.init_gain)

    def forward(self, x: Tensor) -> Tensor:
        size = self.config.input_size
        if self.config.pool == "flatten" and tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"SRDiscriminator with pool 'flatten' was built for {size}×{size} inputs, "
                             f"got {x.shape[-2]}×{x.shape[-1]}; set input_size to the crop size "
                             f"or use pool 'avg'")
        return self.classifier(self.pool(self.features(x)))
