"""Residual blocks: plain (ResNet/CycleGAN, MUNIT encoders, SRResNet), AdaIN-conditioned (MUNIT/FUNIT
decoders) and activation-first (FUNIT discriminator)."""

from __future__ import annotations

from torch import Tensor, nn

from i2i.nn.adain import AdaIN
from i2i.nn.conv import ConvNormAct
from i2i.nn.factory import get_act


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


class AdaINResBlock(nn.Module):
    """x + [conv3×3 → AdaIN → act → conv3×3 → AdaIN](x): the residual block of MUNIT's and FUNIT's
    decoders. Both AdaIN layers take their scale and shift from the caller (a style/class MLP)."""

    def __init__(self, channels: int, act: str = "relu", pad_type: str = "reflect", spectral_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3, pad_type=pad_type, bias=True, spectral_norm=spectral_norm)
        self.norm1 = AdaIN(channels)
        self.act = get_act(act, channels)
        self.conv2 = ConvNormAct(channels, channels, 3, pad_type=pad_type, bias=True, spectral_norm=spectral_norm)
        self.norm2 = AdaIN(channels)

    def forward(self, x: Tensor, params: list[tuple[Tensor, Tensor]]) -> Tensor:
        """`params`: [(weight, bias) of norm1, (weight, bias) of norm2], each (N, channels)."""
        h = self.act(self.norm1(self.conv1(x), *params[0]))
        return x + self.norm2(self.conv2(h), *params[1])


class PreActResBlock(nn.Module):
    """x_s + [act → conv3×3 → act → conv3×3](x), x_s = 1×1 conv (no bias) when the width changes:
    the activation-first block of FUNIT's discriminator (after Mescheder et al. 2018).

    The activation must not work in place: it sees x itself, which the shortcut still needs (the
    official code's in-place LeakyReLU breaks backward on current PyTorch, NVlabs/FUNIT#23).
    """

    def __init__(self, in_channels: int, out_channels: int, pad_type: str = "reflect",
                 spectral_norm: bool = False) -> None:
        super().__init__()
        hidden = min(in_channels, out_channels)
        self.act = nn.LeakyReLU(0.2)
        self.conv1 = ConvNormAct(in_channels, hidden, 3, pad_type=pad_type, bias=True, spectral_norm=spectral_norm)
        self.conv2 = ConvNormAct(hidden, out_channels, 3, pad_type=pad_type, bias=True, spectral_norm=spectral_norm)
        self.shortcut = (ConvNormAct(in_channels, out_channels, 1, bias=False, spectral_norm=spectral_norm)
                         if in_channels != out_channels else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv2(self.act(self.conv1(self.act(x))))
