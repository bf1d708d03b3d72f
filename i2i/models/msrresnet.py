"""MSRResNet, BasicSR's modified SRResNet (xinntao/BasicSR `MSRResNet`, after Ledig et al. 2017).

SRResNet without batch normalisation, as in EDSR: 3×3 conv + LeakyReLU 0.1; B residual blocks
(3×3 conv, ReLU, 3×3 conv, skip) and no long skip; sub-pixel upsampling (×2 and ×3: one 3×3 conv to
C·scale² channels and PixelShuffle(scale); ×4: two ×2 stages), each followed by LeakyReLU 0.1;
3×3 HR conv + LeakyReLU 0.1; 3×3 conv; plus the input upsampled ×scale bilinearly
(align_corners=False), so the network learns only the residual. B = 16 and 64 channels is BasicSR's
×4 MSRResNet (1,517,571 parameters). Unlike `SRResNet` (9×9 head and tail, a trunk conv, PReLU) its
layers follow BasicSR, so released MSRResNet weights load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from i2i.nn import ConvNormAct, PixelShuffleUp, ResBlock, init_weights
from i2i.nn.interpolation import InterpolateUp

SCALES = (2, 3, 4)
SLOPE = 0.1   # BasicSR's LeakyReLU slope here (the factory's "lrelu" is the GAN-standard 0.2)


@dataclass
class MSRResNetConfig:
    in_channels: int = 3
    out_channels: int = 3       # = in_channels: the bilinearly upsampled input is added to the output
    scale: int = 4              # output side / input side: 2, 3 or 4
    channels: int = 64          # num_feat
    num_blocks: int = 16        # num_block: residual blocks without BN
    init_scale: float = 0.1     # kaiming-normal weights × this, as BasicSR initialises it

    @property
    def multiple_of(self) -> int:
        return 1  # no downsampling: any input size works

    @property
    def min_size(self) -> int:
        return 1  # no normalisation layers


class MSRResNet(nn.Module):
    """(N, in_channels, H, W) → (N, out_channels, scale·H, scale·W), linear output (unbounded: the
    caller clamps, as `InferenceModel` does). Inputs in [0, 1] for BasicSR's weights."""

    def __init__(self, config: MSRResNetConfig) -> None:
        super().__init__()
        if config.scale not in SCALES:
            raise ValueError(f"MSRResNet scale must be one of {SCALES}, got {config.scale}")
        if config.num_blocks < 0:
            raise ValueError(f"MSRResNet num_blocks must be >= 0, got {config.num_blocks}")
        if config.in_channels != config.out_channels:
            raise ValueError(f"MSRResNet adds the upsampled input to its output: in_channels "
                             f"({config.in_channels}) must equal out_channels ({config.out_channels})")
        self.config = config
        ch = config.channels
        self.head = ConvNormAct(config.in_channels, ch, 3)
        self.blocks = nn.Sequential(*[ResBlock(ch, norm="none", act="relu", pad_type="zero")
                                      for _ in range(config.num_blocks)])
        factors = [2, 2] if config.scale == 4 else [config.scale]
        self.upsample = nn.ModuleList([PixelShuffleUp(ch, factor, 3, act="none") for factor in factors])
        self.hr = ConvNormAct(ch, ch, 3)
        self.tail = ConvNormAct(ch, config.out_channels, 3)
        self.base = InterpolateUp(config.in_channels, config.scale, "bilinear")  # F.interpolate's, as a fixed conv
        self.lrelu = nn.LeakyReLU(SLOPE)  # not in place: it is applied to tensors a skip still needs
        init_weights(self, "kaiming")
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.data.mul_(config.init_scale)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.lrelu(self.head(x)))                  # (N, ch, H, W)
        for stage in self.upsample:
            h = self.lrelu(stage(h))                               # ×2 (or ×3) per stage
        residual = self.tail(self.lrelu(self.hr(h)))               # (N, out_channels, sH, sW)
        return residual + self.base(x)
