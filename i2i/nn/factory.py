"""Name → layer factories for normalisation, activation and padding.

Every block in i2i takes its layer choices as strings resolved here, so a recipe, a checkpoint
header and the code all use the same names. Unknown names fail loudly with the valid choices.
"""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "instance_affine", "layer", "none")
ACTIVATIONS = ("relu", "lrelu", "prelu", "tanh", "sigmoid", "none")
PADDINGS = ("reflect", "replicate", "zero")


def _unknown(kind: str, name: str, choices: tuple[str, ...]) -> ValueError:
    return ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}")


def get_norm(name: str, channels: int) -> nn.Module:
    """A 2-d normalisation layer for `channels` feature maps.

    `instance` is the CycleGAN/pix2pix reference InstanceNorm: no affine parameters and no running
    statistics. `instance_affine` keeps a learned scale and shift per channel. `layer` is MUNIT's
    per-sample LayerNorm over (C, H, W) with a per-channel affine (`i2i.nn.adain.LayerNorm2d`).
    """
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if name == "instance_affine":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if name == "layer":
        from i2i.nn.adain import LayerNorm2d  # MUNIT's decoder; imported here to keep the module graph flat

        return LayerNorm2d(channels)
    if name == "none":
        return nn.Identity()
    raise _unknown("norm", name, NORMS)


def get_act(name: str, channels: int | None = None) -> nn.Module:
    """An activation layer. `lrelu` uses the GAN-standard slope 0.2; `prelu` learns one slope per channel."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "prelu":
        return nn.PReLU(channels or 1)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "none":
        return nn.Identity()
    raise _unknown("activation", name, ACTIVATIONS)


def get_pad(name: str, size: int) -> tuple[nn.Module, int]:
    """A padding layer and the `padding=` value the following convolution must then use.

    Reflect and replicate padding are explicit layers (the convolution pads 0); zero padding is left
    to the convolution itself, which is cheaper and exports to one ONNX node.
    """
    if name == "reflect":
        return (nn.ReflectionPad2d(size) if size else nn.Identity()), 0
    if name == "replicate":
        return (nn.ReplicationPad2d(size) if size else nn.Identity()), 0
    if name == "zero":
        return nn.Identity(), size
    raise _unknown("padding", name, PADDINGS)


def uses_bias(norm: str) -> bool:
    """Whether a convolution followed by `norm` needs its own bias.

    BatchNorm and affine InstanceNorm add a learned shift, so a conv bias before them is redundant
    (the reference implementation drops it, and its parameter counts depend on that).
    """
    return norm not in ("batch", "instance_affine")
