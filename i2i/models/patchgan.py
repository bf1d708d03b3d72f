"""PatchGAN discriminators of pix2pix (Isola et al. 2017, §3.2.2).

`PatchGAN` with n_layers 3 is the paper's 70×70 discriminator: C64-C128-C256-C512 and a 1-channel
conv, all 4×4; it scores every 70×70 patch (a 30×30 map of logits for a 256×256 input). n_layers 1
gives 16×16 patches, 4 gives 142, 5 gives 286, and 0 the 1×1 PixelGAN.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from i2i.nn import ConvNormAct, init_weights, uses_bias


@dataclass
class PatchGANConfig:
    in_channels: int = 6        # pix2pix conditions on the pair: A and B concatenated
    ndf: int = 64               # channels of the first layer; ×2 per layer up to ×8
    n_layers: int = 3           # 3 → 70×70 receptive field; 0 → the 1×1 PixelGAN
    norm: str = "batch"
    spectral_norm: bool = False
    init: str = "normal"
    init_gain: float = 0.02


class PatchGAN(nn.Module):
    """Logits (N, 1, H', W'), one per overlapping patch; no sigmoid (losses take logits)."""

    def __init__(self, config: PatchGANConfig) -> None:
        super().__init__()
        self.config = config
        ndf, norm, sn = config.ndf, config.norm, config.spectral_norm
        if config.n_layers == 0:  # PixelGAN: judges each pixel's colour alone (three 1×1 convolutions)
            self.layers = nn.Sequential(
                ConvNormAct(config.in_channels, ndf, 1, act="lrelu", bias=True, spectral_norm=sn),
                ConvNormAct(ndf, ndf * 2, 1, norm=norm, act="lrelu", spectral_norm=sn),
                ConvNormAct(ndf * 2, 1, 1, bias=uses_bias(norm), spectral_norm=sn),
            )
            init_weights(self, config.init, config.init_gain)
            return
        layers: list[nn.Module] = [
            ConvNormAct(config.in_channels, ndf, 4, stride=2, padding=1, act="lrelu", bias=True, spectral_norm=sn)
        ]
        mult = 1
        for n in range(1, config.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < config.n_layers else 1  # the last hidden layer keeps the resolution
            layers.append(ConvNormAct(ndf * prev, ndf * mult, 4, stride=stride, padding=1, norm=norm,
                                      act="lrelu", spectral_norm=sn))
        layers.append(ConvNormAct(ndf * mult, 1, 4, stride=1, padding=1, bias=True, spectral_norm=sn))
        self.layers = nn.Sequential(*layers)
        init_weights(self, config.init, config.init_gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
