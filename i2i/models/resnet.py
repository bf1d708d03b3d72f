"""ResNet generator of CycleGAN (Zhu et al. 2017, appendix 7.2), after Johnson et al. 2016.

c7s1-64, d128, d256, R256 × num_blocks, u128, u64, c7s1-3 (the widths for ngf 64):
c7s1-k is a 7×7 stride-1 convolution with k filters, dk a 3×3 stride-2 convolution, Rk a residual
block of two 3×3 convolutions, uk a 3×3 stride-½ (transposed) convolution; every layer but the last
is followed by the norm and a ReLU, the last by tanh. 9 blocks is the paper's 256×256 generator
(`resnet_9blocks`), 6 its 128×128 one (`resnet_6blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from i2i.nn import ConvNormAct, ConvTransposeUp, Downsample, ResBlock, init_weights


@dataclass
class ResNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64               # channels of the first layer; ×2 per downsampling (×4 in the blocks)
    num_blocks: int = 9         # residual blocks at the bottleneck: 9 for 256×256 images, 6 for 128×128
    norm: str = "instance"      # instance (paper) or batch
    dropout: float = 0.0        # between a block's two convolutions (the reference's use_dropout is 0.5)
    pad_type: str = "reflect"   # inside the residual blocks; the 7×7 layers always reflect (as the reference)
    init: str = "normal"        # weight init scheme and its gain (N(0, 0.02) in the reference)
    init_gain: float = 0.02
    # Not in the paper: output = clamp(input + last layer, -1, 1) instead of tanh(last layer). The
    # network then starts near the identity and learns only the change, which matters when the
    # domains differ in few pixels (the stripes demo: a plain copy is a strong baseline).
    global_skip: bool = False

    @property
    def multiple_of(self) -> int:
        return 4  # two stride-2 downsamplings, undone exactly by the two transposed convolutions

    @property
    def min_size(self) -> int:
        return 8  # at 4 px the bottleneck is 1×1: InstanceNorm and reflect padding cannot run there


class ResNetGenerator(nn.Module):
    """CycleGAN ResNet generator. Input and output in [-1, 1] (tanh), shape (N, C, H, W), H and W
    multiples of `config.multiple_of`."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        if config.num_blocks < 0:
            raise ValueError(f"ResNet num_blocks must be >= 0, got {config.num_blocks}")
        if config.global_skip and config.in_channels != config.out_channels:
            raise ValueError("ResNet global_skip needs in_channels == out_channels")
        self.config = config
        ngf, norm = config.ngf, config.norm
        # The convolutions before a norm get a bias only when the norm has no shift of its own
        # (ConvNormAct/ConvTransposeUp apply that rule): the reference's parameter counts rely on it.
        # c7s1-64
        self.stem = ConvNormAct(config.in_channels, ngf, 7, pad_type="reflect", norm=norm, act="relu")
        # d128, d256 (the reference pads these with zeros)
        self.down1 = Downsample(ngf, 2 * ngf, 3, norm=norm, act="relu", pad_type="zero")
        self.down2 = Downsample(2 * ngf, 4 * ngf, 3, norm=norm, act="relu", pad_type="zero")
        # R256 × num_blocks
        self.blocks = nn.Sequential(*[
            ResBlock(4 * ngf, norm=norm, act="relu", pad_type=config.pad_type, dropout=config.dropout)
            for _ in range(config.num_blocks)
        ])
        # u128, u64
        self.up1 = ConvTransposeUp(4 * ngf, 2 * ngf, 3, norm=norm, act="relu")
        self.up2 = ConvTransposeUp(2 * ngf, ngf, 3, norm=norm, act="relu")
        # c7s1-3: no norm, so its convolution keeps a bias
        self.head = ConvNormAct(ngf, config.out_channels, 7, pad_type="reflect",
                                act="none" if config.global_skip else "tanh", bias=True)
        init_weights(self, config.init, config.init_gain)
        if config.global_skip:  # start as the exact identity: the residual's last layer begins at zero
            for layer in self.head.modules():
                if isinstance(layer, nn.Conv2d):
                    nn.init.zeros_(layer.weight)
                    nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)        # (N, ngf, H, W)
        h = self.down1(h)       # (N, 2·ngf, H/2, W/2)
        h = self.down2(h)       # (N, 4·ngf, H/4, W/4)
        h = self.blocks(h)      # (N, 4·ngf, H/4, W/4)
        h = self.up1(h)         # (N, 2·ngf, H/2, W/2)
        h = self.up2(h)         # (N, ngf, H, W)
        if self.config.global_skip:
            return (x + self.head(h)).clamp(-1.0, 1.0)
        return self.head(h)     # (N, out_channels, H, W) in [-1, 1]
