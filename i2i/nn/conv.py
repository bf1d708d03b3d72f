"""Convolution + normalisation + activation: the brick every generator and discriminator is made of."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from i2i.nn.factory import get_act, get_norm, get_pad, uses_bias


class ConvNormAct(nn.Module):
    """pad → conv → norm → act (post-activation order, as in ResNet/PatchGAN/SRGAN networks).

    Args:
        in_channels, out_channels, kernel_size, stride: as for `nn.Conv2d`.
        padding: pixels of padding on each side; `None` means "same" for odd kernels (kernel // 2).
        pad_type: `reflect`, `replicate` or `zero`.
        norm, act: factory names (see `i2i.nn.factory`).
        bias: `None` picks the reference rule (no bias when the norm has its own shift).
        spectral_norm: wrap the convolution in spectral normalisation (Miyato et al. 2018).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        pad_type: str = "zero",
        norm: str = "none",
        act: str = "none",
        bias: bool | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.pad, conv_padding = get_pad(pad_type, padding)
        conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=conv_padding,
            bias=uses_bias(norm) if bias is None else bias,
        )
        self.conv = _spectral_norm(conv) if spectral_norm else conv
        self.norm = get_norm(norm, out_channels)
        self.act = get_act(act, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(self.pad(x))))
