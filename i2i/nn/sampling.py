"""Resolution changes: strided-conv downsampling and the three usual upsampling styles.

- `ConvTransposeUp`: transposed convolution (pix2pix, CycleGAN).
- `NearestUpConv`: nearest-neighbour ×2 then a convolution (MUNIT; avoids checkerboard artefacts).
- `PixelShuffleUp`: sub-pixel convolution (SRGAN/ESRGAN).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from i2i.nn.conv import ConvNormAct
from i2i.nn.factory import get_act, get_norm, uses_bias


def Downsample(  # noqa: N802 - a block constructor, named like the class it returns
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    norm: str = "instance",
    act: str = "relu",
    pad_type: str = "zero",
    spectral_norm: bool = False,
) -> ConvNormAct:
    """Halve the resolution with a stride-2 convolution (padding keeps H/2 × W/2 exactly)."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride=2, padding=(kernel_size - 1) // 2,
                       pad_type=pad_type, norm=norm, act=act, spectral_norm=spectral_norm)


class ConvTransposeUp(nn.Module):
    """Double the resolution with a transposed convolution → norm → act.

    kernel 3 uses padding 1 + output_padding 1 (CycleGAN); kernel 4 uses padding 1 (pix2pix).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        norm: str = "instance",
        act: str = "relu",
        bias: bool | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if kernel_size not in (3, 4):
            raise ValueError(f"ConvTransposeUp supports kernel_size 3 or 4, got {kernel_size}")
        conv = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride=2, padding=1,
            output_padding=1 if kernel_size == 3 else 0,
            bias=uses_bias(norm) if bias is None else bias,
        )
        self.conv = _spectral_norm(conv) if spectral_norm else conv
        self.norm = get_norm(norm, out_channels)
        self.act = get_act(act, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class NearestUpConv(nn.Module):
    """Nearest-neighbour ×2 upsampling followed by a same-size ConvNormAct (MUNIT's decoder)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, norm: str = "none",
                 act: str = "relu", pad_type: str = "reflect", spectral_norm: bool = False) -> None:
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = ConvNormAct(in_channels, out_channels, kernel_size, pad_type=pad_type, norm=norm,
                                act=act, spectral_norm=spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.upsample(x))


class PixelShuffleUp(nn.Module):
    """Sub-pixel convolution (Shi et al. 2016): conv to C·r² channels → PixelShuffle(r) → act."""

    def __init__(self, channels: int, factor: int = 2, kernel_size: int = 3, act: str = "prelu") -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor * factor, kernel_size, padding=kernel_size // 2)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = get_act(act, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.shuffle(self.conv(x)))
