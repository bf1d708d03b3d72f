"""State dicts of the reference pix2pix/CycleGAN implementation (junyanz/pytorch-CycleGAN-and-pix2pix).

The reference builds its U-Net recursively (`model.model.1.model.3.…`, one `model.<i>` level per skip
block), its ResNet generator and its PatchGAN as one `nn.Sequential` each (ResNet blocks as
`model.<i>.conv_block.<j>`). These functions rename those keys to i2i's modules and
infer the network width and depth from the tensors, so a released `latest_net_G.pth` needs no flags.
Loading always goes through `torch.load(weights_only=True)`: no pickled code runs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from i2i.models import PatchGAN, PatchGANConfig, ResNetConfig, ResNetGenerator, UNetConfig, UNetGenerator


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a reference `.pth` safely; strip a DataParallel `module.` prefix."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _is_batchnorm(state: dict[str, Tensor], prefix: str) -> bool:
    return f"{prefix}.running_mean" in state and f"{prefix}.weight" in state


def unet_from_reference(state: dict[str, Tensor]) -> UNetGenerator:
    """Build an i2i `UNetGenerator` holding the weights of a reference `UnetGenerator` state dict."""
    # Walk the nesting: level L's Sequential is at "model." + "model.1." * ... ; the inner block is index 1
    # for the outermost level and index 3 for the others.
    prefixes = ["model.model"]
    while f"{prefixes[-1]}.{1 if len(prefixes) == 1 else 3}.model.1.weight" in state:
        prefixes.append(f"{prefixes[-1]}.{1 if len(prefixes) == 1 else 3}.model")
    num_downs = len(prefixes)
    ngf, in_channels = state["model.model.0.weight"].shape[:2]
    out_channels = state["model.model.3.weight"].shape[1]
    norm = "batch" if _is_batchnorm(state, "model.model.1.model.2") else "instance"
    has_dropout = any(f"{p}.7" in k for p in prefixes for k in state) or num_downs > 5
    config = UNetConfig(in_channels=int(in_channels), out_channels=int(out_channels), num_downs=num_downs,
                        ngf=int(ngf), norm=norm, dropout=0.5 if has_dropout else 0.0)
    generator = UNetGenerator(config)

    mapping: dict[str, str] = {"encoder.0": "model.model.0", "decoder.0.1": "model.model.3"}
    for level in range(1, num_downs):
        p = prefixes[level]
        innermost = level == num_downs - 1
        mapping[f"encoder.{level}.conv"] = f"{p}.1"
        if innermost:
            mapping[f"decoder.{level}.conv"] = f"{p}.3"
            mapping[f"decoder.{level}.norm"] = f"{p}.4"
        else:
            mapping[f"encoder.{level}.norm"] = f"{p}.2"
            mapping[f"decoder.{level}.conv"] = f"{p}.5"
            mapping[f"decoder.{level}.norm"] = f"{p}.6"
    _load_renamed(generator, state, mapping)
    return generator


def resnet_from_reference(state: dict[str, Tensor]) -> ResNetGenerator:
    """Build an i2i `ResNetGenerator` holding the weights of a reference `ResnetGenerator` state dict.

    The reference Sequential is: 0 pad, 1 conv7×7, 2 norm, 3 ReLU; 4/7 downsampling convs (norms at 5/8);
    10 … 10+n−1 residual blocks; 10+n and 13+n transposed convs (norms one after); 16+n pad, 17+n conv7×7,
    18+n tanh. Inside a block: 0 pad, 1 conv, 2 norm, 3 ReLU, [4 dropout,] then pad, conv, norm — so the
    second conv is at 5, or at 6 when the model was trained with dropout.
    """
    blocks = sorted({int(k.split(".")[1]) for k in state if ".conv_block." in k})
    n = len(blocks)
    if blocks != list(range(10, 10 + n)):
        raise KeyError(f"residual blocks expected at model.10 … model.{9 + n}, found at {blocks}")
    ngf, in_channels = state["model.1.weight"].shape[:2]
    head = f"model.{17 + n}"
    if f"{head}.weight" not in state:
        raise KeyError(f"reference state dict lacks {head}.weight (the output conv of a {n}-block ResNet)")
    out_channels = state[f"{head}.weight"].shape[0]
    norm = "batch" if _is_batchnorm(state, "model.2") else "instance"
    first = "model.10.conv_block"
    has_dropout = n > 0 and f"{first}.6.weight" in state and f"{first}.5.weight" not in state
    config = ResNetConfig(in_channels=int(in_channels), out_channels=int(out_channels), ngf=int(ngf),
                          num_blocks=n, norm=norm, dropout=0.5 if has_dropout else 0.0)
    generator = ResNetGenerator(config)

    second = 6 if has_dropout else 5  # index of a block's second conv (dropout shifts it by one)
    mapping = {
        "stem.conv": "model.1", "stem.norm": "model.2",
        "down1.conv": "model.4", "down1.norm": "model.5",
        "down2.conv": "model.7", "down2.norm": "model.8",
        "up1.conv": f"model.{10 + n}", "up1.norm": f"model.{11 + n}",
        "up2.conv": f"model.{13 + n}", "up2.norm": f"model.{14 + n}",
        "head.conv": head,
    }
    for block in range(n):
        p = f"model.{10 + block}.conv_block"
        mapping[f"blocks.{block}.conv1.conv"] = f"{p}.1"
        mapping[f"blocks.{block}.conv1.norm"] = f"{p}.2"
        mapping[f"blocks.{block}.conv2.conv"] = f"{p}.{second}"
        mapping[f"blocks.{block}.conv2.norm"] = f"{p}.{second + 1}"
    _load_renamed(generator, state, mapping)
    return generator


def generator_from_reference(state: dict[str, Tensor]) -> nn.Module:
    """A reference generator state dict → the i2i network it describes: U-Net (pix2pix) or ResNet
    (CycleGAN), told apart by their key layouts. Raises ValueError for anything else."""
    if "model.model.0.weight" in state:
        return unet_from_reference(state)
    if "model.1.weight" in state and any(".conv_block." in k for k in state):
        return resnet_from_reference(state)
    raise ValueError(f"expected the U-Net key model.model.0.weight or the ResNet keys model.1.weight and "
                     f"model.<i>.conv_block.<j>; found {', '.join(list(state)[:3]) or 'no keys'}")


def patchgan_from_reference(state: dict[str, Tensor]) -> PatchGAN:
    """Build an i2i `PatchGAN` from a reference `NLayerDiscriminator` state dict."""
    conv_indices = sorted({int(k.split(".")[1]) for k in state if k.endswith(".weight") and state[k].dim() == 4})
    n_layers = len(conv_indices) - 2
    ndf, in_channels = state[f"model.{conv_indices[0]}.weight"].shape[:2]
    norm_prefix = f"model.{conv_indices[1] + 1}"
    norm = "batch" if _is_batchnorm(state, norm_prefix) else "instance"
    disc = PatchGAN(PatchGANConfig(in_channels=int(in_channels), ndf=int(ndf), n_layers=n_layers, norm=norm))
    mapping = {}
    for i, conv_index in enumerate(conv_indices):
        mapping[f"layers.{i}.conv"] = f"model.{conv_index}"
        if 0 < i < len(conv_indices) - 1:
            mapping[f"layers.{i}.norm"] = f"model.{conv_index + 1}"
    _load_renamed(disc, state, mapping)
    return disc


def _load_renamed(module: torch.nn.Module, state: dict[str, Tensor], mapping: dict[str, str]) -> None:
    """Copy reference tensors into `module` by module-prefix mapping; every i2i tensor must be found,
    and every reference tensor used except InstanceNorm running statistics (which old releases carry
    and the reference loader drops too)."""
    ours = module.state_dict()
    renamed: dict[str, Tensor] = {}
    used: set[str] = set()
    for key in ours:
        head, _, leaf = key.rpartition(".")
        if head not in mapping:
            raise KeyError(f"no reference key mapped for {key}")
        source = f"{mapping[head]}.{leaf}"
        if source not in state:
            raise KeyError(f"reference state dict lacks {source} (needed for {key})")
        renamed[key] = state[source]
        used.add(source)
    leftover = [k for k in state if k not in used and not k.endswith(("running_mean", "running_var",
                                                                       "num_batches_tracked"))]
    if leftover:
        raise KeyError(f"reference tensors not understood: {leftover[:5]}")
    module.load_state_dict(renamed, strict=True)
