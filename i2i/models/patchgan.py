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


def feature_sizes(config: PatchGANConfig, size: int) -> list[int]:
    """Side of each layer's output map for a `size`×`size` input (the last one is the logit map)."""
    if config.n_layers == 0:
        return [size] * 3
    sizes = [(size - 2) // 2 + 1]
    for n in range(1, config.n_layers + 1):
        stride = 2 if n < config.n_layers else 1
        sizes.append((sizes[-1] + 2 - 4) // stride + 1)
    sizes.append(sizes[-1] - 1)
    return sizes


def check_input_size(config: PatchGANConfig, size: int) -> None:
    """Raise ValueError if `size` px images are too small for this discriminator: instance and batch
    norm need more than one value per channel, and the logit map must not vanish."""
    sizes = feature_sizes(config, size)
    if min(sizes[1:-1], default=2) < 2 or sizes[-1] < 1:
        raise ValueError(f"image_size {size} is too small for a PatchGAN with n_layers {config.n_layers} "
                         f"(its maps would be {sizes}); lower discriminator.n_layers or raise image_size")


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
