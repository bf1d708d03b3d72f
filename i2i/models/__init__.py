"""Networks only. Checkpoints name an architecture from `ARCHITECTURES` and store its config.
Each file is a Config dataclass + nn.Module built from `i2i.nn` bricks; imports only `nn`."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from torch import nn

from i2i.models.funit import FUNITConfig, FUNITGenerator, MultiTaskDiscriminator, MultiTaskDiscriminatorConfig
from i2i.models.msrresnet import MSRResNet, MSRResNetConfig
from i2i.models.munit import (
    MultiScaleDiscriminator,
    MultiScaleDiscriminatorConfig,
    MUNITConfig,
    MUNITGenerator,
)
from i2i.models.patchgan import PatchGAN, PatchGANConfig, check_input_size
from i2i.models.resnet import ResNetConfig, ResNetGenerator
from i2i.models.rrdb import RRDBNet, RRDBNetConfig
from i2i.models.spandrel_network import SpandrelConfig, SpandrelNetwork
from i2i.models.sr_discriminator import SRDiscriminator, SRDiscriminatorConfig
from i2i.models.srresnet import SRResNet, SRResNetConfig
from i2i.models.srvgg import SRVGGNet, SRVGGNetConfig
from i2i.models.unet import UNetConfig, UNetGenerator

ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "unet": (UNetConfig, UNetGenerator),
    "resnet": (ResNetConfig, ResNetGenerator),
    "patchgan": (PatchGANConfig, PatchGAN),
    "srresnet": (SRResNetConfig, SRResNet),
    "sr_discriminator": (SRDiscriminatorConfig, SRDiscriminator),
    "rrdbnet": (RRDBNetConfig, RRDBNet),
    "srvggnet": (SRVGGNetConfig, SRVGGNet),
    "msrresnet": (MSRResNetConfig, MSRResNet),
    "munit": (MUNITConfig, MUNITGenerator),
    "munit_discriminator": (MultiScaleDiscriminatorConfig, MultiScaleDiscriminator),
    "funit": (FUNITConfig, FUNITGenerator),
    "funit_discriminator": (MultiTaskDiscriminatorConfig, MultiTaskDiscriminator),
    "spandrel": (SpandrelConfig, SpandrelNetwork),  # built from its tensors: see Checkpoint.generator
}


def build(architecture: str, config: dict[str, Any]) -> nn.Module:
    """Build a network from its registry name and a config dict; unknown names or fields raise."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    config_cls, module_cls = ARCHITECTURES[architecture]
    known = {f.name for f in fields(config_cls)}
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"{architecture} config has unknown fields {sorted(unknown)}; known: {sorted(known)}")
    return module_cls(config_cls(**config))


def architecture_name(module: nn.Module) -> str:
    for name, (_, module_cls) in ARCHITECTURES.items():
        if type(module) is module_cls:
            return name
    raise ValueError(f"{type(module).__name__} is not in ARCHITECTURES")


def describe(module: nn.Module) -> dict[str, Any]:
    """{"architecture": name, "config": {...}}: what a checkpoint stores to rebuild `module`."""
    return {"architecture": architecture_name(module), "config": asdict(module.config)}


__all__ = ["ARCHITECTURES", "FUNITConfig", "FUNITGenerator", "MSRResNet", "MSRResNetConfig", "MUNITConfig",
           "MUNITGenerator", "MultiScaleDiscriminator",
           "MultiScaleDiscriminatorConfig", "MultiTaskDiscriminator", "MultiTaskDiscriminatorConfig", "PatchGAN", "PatchGANConfig", "RRDBNet", "RRDBNetConfig", "ResNetConfig",
           "ResNetGenerator", "SRDiscriminator", "SRDiscriminatorConfig", "SRResNet", "SRResNetConfig",
           "SRVGGNet", "SRVGGNetConfig",
           "UNetConfig", "UNetGenerator", "build", "check_input_size", "describe"]
