"""Residual block shared by the ResNet (CycleGAN), MUNIT and SRResNet generators."""

from __future__ import annotations

from torch import Tensor, nn

from i2i.nn.conv import ConvNormAct


class ResBlock(nn.Module):
    """x + [conv3×3 → norm → act → (dropout) → conv3×3 → norm](x), no activation after the sum.

    The layout of Johnson et al. 2016 as used by CycleGAN; SRResNet uses it with `norm="batch"`,
    `act="prelu"`, zero padding; MUNIT's content encoder with `norm="instance"`.
    """

    def __init__(
        self,
        channels: int,
        norm: str = "instance",
        act: str = "relu",
        pad_type: str = "reflect",
        dropout: float = 0.0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3, pad_type=pad_type, norm=norm, act=act,
                                 spectral_norm=spectral_norm)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = ConvNormAct(channels, channels, 3, pad_type=pad_type, norm=norm, act="none",
                                 spectral_norm=spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.dropout(self.conv1(x)))
