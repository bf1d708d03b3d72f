"""A network of an architecture that spandrel detects (SwinIR, HAT, DAT, Swin2SR, OmniSR, SPAN, RealCUGAN, …).

i2i does not re-implement these: spandrel (pinned in pyproject.toml) recognises the architecture and its
hyper-parameters from the tensors alone and builds its upstream module, which `SpandrelNetwork` wraps
under the prefix `net.`: the state dict is the upstream one, key for key. So a checkpoint stores
architecture "spandrel" with a `SpandrelConfig` that *describes* the network, and loading rebuilds it
from the stored tensors (`SpandrelNetwork.from_state_dict`), never from the config alone.

The tables below are what i2i knows beyond spandrel's detection, checked on tiny random models with
spandrel 0.4.2, torch 2.14 and onnxscript 0.7 (tests/importers/test_spandrel_import.py):
`WINDOW` (the multiple a network pads its input to inside its own forward), `TILING` (whether tiled
translation equals whole-image translation) and `ONNX_EXPORT` (whether `torch.onnx.export(dynamo=True)`
at opset 18 gives a graph with dynamic height and width that matches PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

PREFIX = "net."  # the upstream keys live under this prefix in the network's (and the checkpoint's) state dict

# The multiple some networks pad their input to inside forward (and crop back), from their hyper-parameters.
# i2i pads to it itself (`multiple_of`), with reflection as SwinIR/HAT/Swin2SR do: their output is the
# same, and the exported graph has no size-dependent padding (the exporter would freeze it at the trace size).
WINDOW: dict[str, Callable[[dict[str, Any]], int]] = {
    "SwinIR": lambda hyper: hyper["window_size"],
    "Swin2SR": lambda hyper: hyper["window_size"],
    "HAT": lambda hyper: hyper["window_size"],
    "OmniSR": lambda hyper: hyper["window_size"],                # OmniSR pads with zeros, i2i reflects
    "RealCUGAN": lambda hyper: 4 if hyper["scale"] == 3 else 2,  # even sides (×3: multiples of 4)
}

# "exact": convolutions only, so an output pixel depends on a bounded neighbourhood and tiles with enough
# context (`TileSpec.pad`) reproduce the whole-image result. The others look beyond any tile's context.
TILING: dict[str, str] = {
    "SPAN": "exact",
    "SwinIR": "approximate",     # shifted-window attention: its reach grows by a window per block,
    "Swin2SR": "approximate",    # far beyond a tile's context
    "HAT": "approximate",        # window attention, and channel attention averaged over the whole image
    "DAT": "approximate",        # window attention, and channel attention averaged over the whole image
    "OmniSR": "approximate",     # window and image-wide grid attention, channel attention over the image
    "RealCUGAN": "approximate",  # squeeze-excitation blocks average over the whole image
}

# True: exports with dynamic batch, height and width and passes the parity check. A string: why it does
# not (export refuses it up front, before the exporter runs). Unlisted architectures are tried.
_FROZEN_BATCH = ("computes its batch size as int(windows / (H·W / window²)), a float that torch.export "
                 "freezes at the trace batch: the graph would be silently wrong for any other batch size")
ONNX_EXPORT: dict[str, bool | str] = {
    "OmniSR": True,
    "RealCUGAN": True,
    "SwinIR": f"its window_reverse {_FROZEN_BATCH}",
    "Swin2SR": f"its window_reverse {_FROZEN_BATCH}",
    "HAT": f"its window_reverse {_FROZEN_BATCH}",
    "DAT": f"its windows2img {_FROZEN_BATCH}",
    "SPAN": "its forward re-fuses its convolution weights in place on every call (Conv3XC.update_params), "
            "which crashes torch.onnx.export (dynamo) with a segmentation fault",
}


@dataclass
class SpandrelConfig:
    """What a checkpoint records of a spandrel network: enough to check and deploy it, not to build it
    (that takes its tensors)."""

    architecture: str                   # spandrel's id of the architecture: "SwinIR", "HAT", "SPAN", …
    scale: int = 1                      # output side / input side
    in_channels: int = 3
    out_channels: int = 3
    size_multiple: int = 1              # spandrel's size_requirements.multiple_of
    size_minimum: int = 0               # spandrel's size_requirements.minimum (input sides at least this)
    window: int = 1                     # the multiple the network pads to inside its forward (`WINDOW`)
    tiling: str = "unknown"             # i2i's verdict on tiled translation: exact, approximate or unknown
    spandrel_tiling: str = "supported"  # spandrel's advice (ModelTiling): supported, discouraged or internal
    half: bool = True                   # spandrel's supports_half: fp16 is known to work
    bfloat16: bool = True               # spandrel's supports_bfloat16
    spandrel_version: str = ""          # the spandrel that detected the network

    @property
    def multiple_of(self) -> int:
        return math.lcm(self.size_multiple, self.window)

    @property
    def min_size(self) -> int:
        return max(self.size_minimum, 1)


class SpandrelNetwork(nn.Module):
    """(N, 3, H, W) in [0, 1] → (N, 3, scale·H, scale·W), as the upstream network computes it (unclamped:
    `InferenceModel` clamps). H and W must be multiples of `config.multiple_of` and at least
    `config.min_size`: i2i's pipeline pads to them; this module never pads behind its back."""

    def __init__(self, config: SpandrelConfig, net: nn.Module | None = None,
                 call: Callable[[nn.Module, Tensor], Tensor] | None = None) -> None:
        super().__init__()
        if net is None or call is None:
            raise ValueError("a spandrel network is built from its tensors (SpandrelNetwork.from_state_dict),"
                             " not from a config alone")
        self.config = config
        self.net = net
        self.call = call  # spandrel's call of this architecture (some take extra inputs or return a tuple)

    @classmethod
    def from_upstream(cls, state: dict[str, Tensor]) -> SpandrelNetwork:
        """Detect and build the network from upstream keys (as in the project's own .pth files).
        Raises ValueError if spandrel detects nothing, or a network i2i cannot run (inpainting, not RGB→RGB,
        square inputs only)."""
        import spandrel  # here, not at the top: it imports all its architectures (and torchvision), ~1 s

        try:
            # A copy: some loaders add keys to the dict they are given (RealCUGAN's "pro" marker).
            descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state))
        except spandrel.UnsupportedModelError:
            raise ValueError("spandrel detects no architecture it supports in these tensors") from None
        architecture = descriptor.architecture.id
        channels = (descriptor.input_channels, descriptor.output_channels)
        if descriptor.purpose == "Inpainting":  # a MaskedImageModelDescriptor: it takes an image and a mask
            raise ValueError(f"{architecture} is an inpainting model taking a mask; i2i translates images")
        if channels != (3, 3):
            raise ValueError(f"this {architecture} maps {channels[0]} to {channels[1]} channels; i2i "
                             f"translates RGB images (3 to 3)")
        sizes = descriptor.size_requirements
        if sizes.square:
            raise ValueError(f"{architecture} needs square inputs, which i2i's padding does not make")
        hyper = getattr(descriptor.model, "hyperparameters", {})
        config = SpandrelConfig(
            architecture=architecture, scale=descriptor.scale, in_channels=3, out_channels=3,
            size_multiple=sizes.multiple_of, size_minimum=sizes.minimum,
            window=WINDOW[architecture](hyper) if architecture in WINDOW else 1,
            tiling=TILING.get(architecture, "unknown"), spandrel_tiling=descriptor.tiling.name.lower(),
            half=descriptor.supports_half, bfloat16=descriptor.supports_bfloat16,
            spandrel_version=spandrel.__version__)
        # Private in spandrel 0.4.2 (pinned): the architecture's own call, without __call__'s padding and
        # inference-mode wrapper, which would hide wrong sizes and get in the exporter's way.
        call = descriptor._call_fn
        return cls(config, descriptor.model.eval(), call)

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> SpandrelNetwork:
        """Rebuild from this module's own state dict (upstream keys under `net.`, as checkpoints store it)."""
        foreign = [key for key in state if not key.startswith(PREFIX)]
        if foreign:
            raise ValueError(f"spandrel network tensors must all be under {PREFIX!r}; found {foreign[0]!r}")
        return cls.from_upstream({key[len(PREFIX):]: value for key, value in state.items()})

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The upstream constructor's arguments as spandrel inferred them, JSON-safe."""
        return _json_safe(getattr(self.net, "hyperparameters", {}))

    @property
    def onnx_problem(self) -> str | None:
        """Why this architecture is known not to export to ONNX, or None."""
        verdict = ONNX_EXPORT.get(self.config.architecture)
        return verdict if isinstance(verdict, str) else None

    def forward(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        multiple, minimum = self.config.multiple_of, self.config.min_size
        if height % multiple or width % multiple or height < minimum or width < minimum:
            raise ValueError(f"{self.config.architecture} needs sides that are multiples of {multiple} and "
                             f"at least {minimum}, got {height}×{width} (i2i's pipeline pads to them)")
        return self.call(self.net, image)  # (N, 3, scale·H, scale·W)


def _json_safe(value: Any) -> Any:
    """Hyper-parameters as JSON values: classes (norm/activation layers) by name, tuples as lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, type):
        return value.__name__
    return repr(value)
