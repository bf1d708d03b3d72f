"""Weight initialisation schemes of the GAN literature (the reference pix2pix/CycleGAN `init_type`s)."""

from __future__ import annotations

from torch import nn

INIT_SCHEMES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(module: nn.Module, scheme: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise every conv/linear weight of `module` in place and return it.

    - `normal`: N(0, gain) — DCGAN/pix2pix/CycleGAN, gain 0.02.
    - `xavier`: Xavier-normal with `gain`.
    - `kaiming`: Kaiming-normal, fan-in (gain unused).
    - `orthogonal`: orthogonal with `gain`.
    Biases become 0; BatchNorm scales N(1, gain), shifts 0. Spectral-normalised convolutions are
    initialised through their `original` weight.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(INIT_SCHEMES)}")
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            if scheme == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif scheme == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module
