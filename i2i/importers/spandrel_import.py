"""Every other architecture the spandrel library detects (SwinIR, HAT, DAT, Swin2SR, OmniSR, SPAN,
RealCUGAN, …) → a `SpandrelNetwork`, which spandrel itself builds from the upstream state dict.

ESRGAN/Real-ESRGAN RRDBNet and SRVGGNetCompact are spandrel architectures too, but `sr.py` maps them
into i2i's own networks (trainable, tiled exactly, exported without spandrel): they are not claimed here.
The networks take RGB in [0, 1] unnormalised, as upstream (a checkpoint's Preprocess: mean 0, std 1,
`multiple_of`/`min_size`/`scale` from the network's config) and run BatchNorm, where they have it, with
its running averages (`inference.batchnorm` "running").
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from torch import Tensor, nn

from i2i.errors import I2IError
from i2i.models.spandrel_network import ONNX_EXPORT, SpandrelNetwork

SPANDREL_VERSION: str = version("spandrel")  # without importing it (it loads all its architectures)

# spandrel ids that another importer owns, and which one.
HANDLED_ELSEWHERE: dict[str, str] = {
    "ESRGAN": "i2i.importers.sr (i2i's RRDBNet)",
    "Compact": "i2i.importers.sr (i2i's SRVGGNet)",
}


def detect_spandrel(state: dict[str, Tensor]) -> str | None:
    """The spandrel architecture id (e.g. "SwinIR") of an upstream state dict, or None when spandrel
    detects nothing or the architecture is ESRGAN/Compact (handled elsewhere)."""
    architecture = _detected(state)
    return None if architecture in HANDLED_ELSEWHERE else architecture


def spandrel_network(state: dict[str, Tensor]) -> tuple[nn.Module, dict[str, Any]]:
    """The `SpandrelNetwork` holding `state`'s weights, in eval mode, and what was found:

        {"family": "spandrel:<id>", "scale": int,
         "sizes": {the upstream constructor's arguments as spandrel inferred them},
         "license": None (spandrel 0.4.2 records no licence per architecture),
         "supports": {"onnx": True | False | None (not tried), "tiling": "exact" | "approximate" | "unknown"}}

    Raises ValueError when spandrel detects nothing, or an architecture another importer owns; I2IError
    when spandrel detects a network i2i cannot run (inpainting, not RGB → RGB, square inputs only)."""
    architecture = _detected(state)
    if architecture is None:
        raise ValueError("spandrel detects no architecture it supports in these tensors")
    if architecture in HANDLED_ELSEWHERE:
        raise ValueError(f"spandrel detects {architecture}, which {HANDLED_ELSEWHERE[architecture]} imports")
    try:
        network = SpandrelNetwork.from_upstream(state)
    except ValueError as error:  # detected, but not a network i2i's pipeline can run
        raise I2IError(f"spandrel detects {architecture} in these weights, but i2i cannot run it: "
                       f"{error}") from None
    # A checkpoint rebuilds the network from the tensors it stores (the network's own state dict): make
    # sure spandrel finds the same network in those as in the file's.
    rebuilt = SpandrelNetwork.from_state_dict(network.state_dict())
    if (rebuilt.config, rebuilt.hyperparameters) != (network.config, network.hyperparameters):
        raise ValueError(f"spandrel detects a different {architecture} in the network's own tensors than in "
                         f"the file's ({rebuilt.hyperparameters} vs {network.hyperparameters})")
    config = network.config
    onnx = ONNX_EXPORT.get(config.architecture)
    info = {
        "family": f"spandrel:{config.architecture}",
        "scale": config.scale,
        "sizes": network.hyperparameters,
        "license": None,
        "supports": {"onnx": None if onnx is None else onnx is True, "tiling": config.tiling},
    }
    return network.eval(), info


def _detected(state: dict[str, Tensor]) -> str | None:
    """The first of spandrel's architectures, in its detection order, whose key and shape test passes:
    the one its loader builds."""
    import spandrel  # here: it imports all its architectures (and torchvision), ~1 s

    state = spandrel.canonicalize_state_dict(state)
    supports = spandrel.MAIN_REGISTRY.architectures("detection")
    return next((str(support.architecture.id) for support in supports if support.detect(state)), None)
