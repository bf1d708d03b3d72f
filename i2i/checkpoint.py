"""Self-describing checkpoints and the training resume state.

Checkpoint (`*.safetensors`, what translate/export/eval need): the generators' weights keyed by
direction (`A->B.encoder.0.weight`) and one JSON header under the metadata key "i2i":

    {"format": "i2i", "format_version": 1, "i2i_version": ..., "method": "pix2pix",
     "domains": ["A", "B"],
     "generators": {"A->B": {"architecture": "unet", "config": {...}}},
     "preprocess": {"size": 256, "channels": 3, "mean": [...], "std": [...], "multiple_of": 256, ...},
     "inference": {"batchnorm": "per_image"}, "conditioning": {},
     "recipe": {... the fully resolved recipe ...}, "trained": {"steps": N, "finished": bool, ...}}

Loading checks format and version, rebuilds each network strictly from `ARCHITECTURES`, and loads
its weights with `strict=True` (architecture "spandrel": spandrel detects the network in the stored
tensors, which must be what the header names). Nothing is unpickled. The resume state (`state.pt`)
is a plain dict of tensors and numbers, read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from i2i import __version__
from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.models import build, describe
from i2i.models.spandrel_network import SpandrelNetwork
from i2i.preprocess import Preprocess

FORMAT = "i2i"
FORMAT_VERSION = 1
METADATA_KEY = "i2i"


def make_header(method: str, domains: list[str], generators: dict[str, nn.Module], preprocess: Preprocess,
                inference: dict[str, Any], recipe: dict[str, Any], trained: dict[str, Any],
                conditioning: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "i2i_version": __version__,
        "method": method,
        "domains": list(domains),
        "generators": {direction: describe(module) for direction, module in generators.items()},
        "preprocess": preprocess.to_dict(),
        "inference": inference,
        "conditioning": conditioning or {},
        "recipe": recipe,
        "trained": trained,
    }


def save_checkpoint(path: str | Path, generators: dict[str, nn.Module], header: dict[str, Any]) -> None:
    """Write generators + header as one safetensors file, atomically."""
    tensors = {}
    for direction, module in generators.items():
        for key, value in module.state_dict().items():
            tensors[f"{direction}.{key}"] = value.detach().to("cpu").contiguous()
    metadata = {METADATA_KEY: json.dumps(header)}
    atomic_write(Path(path), lambda temporary: save_file(tensors, str(temporary), metadata=metadata))


def resolve_model_path(model: str | Path) -> Path:
    """A run directory → its newest checkpoint; a file → itself. Raises I2IError if there is none."""
    path = Path(model)
    if path.is_dir():
        candidates = sorted((path / "checkpoints").glob("step_*.safetensors"))
        if not candidates:
            raise I2IError(f"run directory {path} has no checkpoints/step_*.safetensors yet")
        return candidates[-1]
    if not path.is_file():
        raise I2IError(f"model {path} does not exist (give a run directory, a .safetensors or an .onnx file)")
    return path


# What other projects' weights files are called: handed to translate/export/eval, they get a pointer
# to `i2i weights import` instead of safetensors' "header too large".
FOREIGN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")


def read_header(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.suffix.lower() in FOREIGN_SUFFIXES:
        raise I2IError(f"{path} is a PyTorch weights file, not an i2i checkpoint: convert it first with "
                       f"`i2i weights import {path} --out {path.with_suffix('.safetensors').name}`")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise I2IError(f"{path}: not a readable safetensors checkpoint ({error})") from None
    if METADATA_KEY not in metadata:
        raise I2IError(f"{path}: safetensors file without an i2i header (import foreign weights with "
                       f"`i2i weights import`)")
    header = json.loads(metadata[METADATA_KEY])
    if header.get("format") != FORMAT:
        raise I2IError(f"{path}: header format is {header.get('format')!r}, expected {FORMAT!r}")
    if header.get("format_version") != FORMAT_VERSION:
        raise I2IError(f"{path}: checkpoint format version {header.get('format_version')} is not supported "
                       f"by i2i {__version__} (reads version {FORMAT_VERSION})")
    return header


@dataclass
class Checkpoint:
    path: Path
    header: dict[str, Any]

    @property
    def directions(self) -> list[str]:
        return list(self.header["generators"])

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess.from_dict(self.header["preprocess"])

    def direction(self, to: str | None = None) -> str:
        """The direction translating into domain `to` (default: the first direction)."""
        if to is None:
            return self.directions[0]
        matches = [d for d in self.directions if d.split("->")[1] == to]
        if not matches:
            targets = ", ".join(d.split("->")[1] for d in self.directions)
            raise I2IError(f"{self.path}: no generator into domain {to!r}; this checkpoint translates into: {targets}")
        return matches[0]

    def tensors(self, direction: str) -> dict[str, torch.Tensor]:
        """The stored weights of `direction`'s generator, keyed as its state dict."""
        prefix = f"{direction}."
        state = {}
        with safe_open(str(self.path), framework="pt") as handle:
            for key in handle.keys():
                if key.startswith(prefix):
                    state[key[len(prefix):]] = handle.get_tensor(key)
        return state

    def generator(self, direction: str) -> nn.Module:
        """The generator for `direction`, built from the header and loaded strictly, in eval mode."""
        spec = self.header["generators"][direction]
        if spec["architecture"] == "spandrel":  # built from its tensors, not a config: _spandrel_generator
            return self._spandrel_generator(spec["config"], self.tensors(direction))
        try:
            module = build(spec["architecture"], spec["config"])
        except ValueError as error:
            raise I2IError(f"{self.path}: {error}") from None
        state = self.tensors(direction)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise I2IError(f"{self.path}: weights do not match the {spec['architecture']} described in the "
                           f"header: {str(error).splitlines()[0]}") from None
        return module.eval()

    def _spandrel_generator(self, config: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
        """Families delegated to spandrel have no constructor a config could call: spandrel detects the
        network from the stored tensors (upstream keys under `net.`), which must hold the architecture
        and scale the header names."""
        try:
            module = SpandrelNetwork.from_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as error:
            reason = str(error.args[0] if error.args else type(error).__name__).splitlines()[0]
            raise I2IError(f"{self.path}: the stored tensors are not the {config.get('architecture')} the "
                           f"header describes ({reason})") from None
        found = (module.config.architecture, module.config.scale)
        named = (config.get("architecture"), config.get("scale"))
        if found != named:
            raise I2IError(f"{self.path}: the header describes a ×{named[1]} {named[0]}, but spandrel detects "
                           f"a ×{found[1]} {found[0]} in the stored tensors")
        # Upstream runs BatchNorm with its running averages; "per_image" would swap it for InstanceNorm.
        batchnorm = self.header.get("inference", {}).get("batchnorm", "per_image")
        if batchnorm != "running" and any(isinstance(layer, nn.BatchNorm2d) for layer in module.modules()):
            raise I2IError(f"{self.path}: this {found[0]} has BatchNorm layers, which run with their running "
                           f"averages upstream; the header has inference.batchnorm {batchnorm!r}, not 'running'")
        return module.eval()


def load_checkpoint(model: str | Path) -> Checkpoint:
    path = resolve_model_path(model)
    return Checkpoint(path, read_header(path))


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    def write(temporary: Path) -> None:
        try:
            torch.save(state, temporary)
        except RuntimeError as error:  # torch's zip writer reports a failed write (full disk, size limit) so
            raise OSError(f"writing {Path(path).name} failed: {error}; the disk may be full or a file-size "
                          f"limit reached") from None

    atomic_write(Path(path), write)


def load_state(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise I2IError(f"no resume state at {path}") from None
    except Exception as error:  # a truncated or foreign file: say which and why
        raise I2IError(f"{path}: cannot read resume state ({error})") from None
