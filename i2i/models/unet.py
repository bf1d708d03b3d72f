"""U-Net generator of pix2pix (Isola et al. 2017, §3.2.1 and appendix 6.1.1).

Encoder C64-C128-C256-C512-C512-C512-C512-C512 (4×4 stride-2 convolutions, LeakyReLU 0.2),
decoder mirroring it with 4×4 transposed convolutions (ReLU), and a skip connection from every
encoder level to the decoder level of the same resolution. `num_downs = 8` is the reference
`unet_256` (a 256×256 input reaches 1×1), `7` is `unet_128`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from i2i.nn import get_norm, init_weights, uses_bias


@dataclass
class UNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    num_downs: int = 8          # stride-2 levels; input sides must be multiples of 2**num_downs
    ngf: int = 64               # channels of the first encoder level; deeper levels ×2 up to ×8
    norm: str = "batch"         # batch (paper) or instance
    dropout: float = 0.5        # in the decoder levels at ngf×8 next to the innermost (0 disables)
    init: str = "normal"        # weight init scheme and its gain (N(0, 0.02) in the paper)
    init_gain: float = 0.02

    @property
    def multiple_of(self) -> int:
        return 2 ** self.num_downs

    @property
    def min_size(self) -> int:
        return self.multiple_of  # one block: the innermost level is 1×1 and has no norm


class UNetDown(nn.Module):
    """conv4×4 stride 2 → norm. The LeakyReLU before it is applied by the generator, whose skip
    connection carries the activated map."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        self.norm = get_norm(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class UNetUp(nn.Module):
    """ReLU → transposed conv4×4 stride 2 → norm → dropout."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, bias: bool, dropout: float) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        self.norm = get_norm(norm, out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.norm(self.conv(self.act(x))))


class UNetGenerator(nn.Module):
    """pix2pix U-Net. Input and output in [-1, 1] (tanh), shape (N, C, H, W), H and W multiples of
    `config.multiple_of`."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        if config.num_downs < 5:
            raise ValueError(f"UNet num_downs must be >= 5 (the paper's outer four levels + innermost), "
                             f"got {config.num_downs}")
        self.config = config
        n, ngf, norm = config.num_downs, config.ngf, config.norm
        bias = uses_bias(norm)
        channels = [ngf * min(2**level, 8) for level in range(n)]  # encoder output channels per level

        # Encoder: the outermost level has no norm; the innermost (1×1 at full depth) has none either.
        self.encoder = nn.ModuleList([nn.Conv2d(config.in_channels, channels[0], 4, stride=2, padding=1, bias=bias)])
        for level in range(1, n):
            innermost = level == n - 1
            self.encoder.append(UNetDown(channels[level - 1], channels[level], "none" if innermost else norm, bias))
        self.encoder_act = nn.LeakyReLU(0.2)

        # Decoder, indexed by the level it undoes: decoder[level] maps level's features back to
        # level - 1's resolution. Every level but the innermost receives [skip, upsampled] concatenated.
        # Dropout sits in the ngf×8 levels between the fourth and the innermost — the reference
        # implementation's placement (three blocks for unet_256, two for unet_128).
        self.decoder = nn.ModuleList([nn.Identity()])  # placeholder so indices match levels; replaced below
        for level in range(1, n):
            in_ch = channels[level] if level == n - 1 else 2 * channels[level]
            dropout = config.dropout if 4 <= level <= n - 2 else 0.0
            self.decoder.append(UNetUp(in_ch, channels[level - 1], norm, bias, dropout))
        self.decoder[0] = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels[0], config.out_channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        init_weights(self, config.init, config.init_gain)

    def forward(self, x: Tensor) -> Tensor:
        h = self.encoder[0](x)                       # (N, ngf, H/2, W/2)
        skips = []
        for down in self.encoder[1:]:
            h = self.encoder_act(h)
            skips.append(h)                          # the reference's skips carry the activated map
            h = down(h)                              # innermost: (N, ngf·8, H/2^n, W/2^n)
        for level in range(len(self.encoder) - 1, 0, -1):
            h = self.decoder[level](h)
            h = torch.cat([skips[level - 1], h], dim=1)
        return self.decoder[0](h)                    # (N, out_channels, H, W) in [-1, 1]
