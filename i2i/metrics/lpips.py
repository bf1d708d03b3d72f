"""LPIPS, the learned perceptual image patch similarity of Zhang et al. 2018, for `i2i eval`.

The distance is the `lpips` package's own (v0.1, the "lin" variant: ImageNet features of each layer,
unit-normalised over channels, squared differences weighted by the linear layers the authors
calibrated on human judgments, averaged over space and summed over layers). Net "alex" (the
package's recommended forward metric) is the default, "vgg" the alternative.

Weights, offline. The linear layers ship inside the package (`lpips/weights/v0.1/<net>.pth`); the
backbone is torchvision's ImageNet AlexNet / VGG16, which the package would download at construction.
Here it never downloads and never keeps random weights: the model is built with a random backbone
(`pnet_rand=True`: the package then calls torchvision with `pretrained=False`, i.e. no download) and
the packaged linear layers (`pretrained=True`), then every backbone parameter is overwritten from
torchvision's own weights file, looked up, in this order, at an explicit path, at
$I2I_LPIPS_BACKBONE_WEIGHTS, then in torchvision's cache (`torch.hub.get_dir()/checkpoints/`);
anything else is an I2IError saying where to put it.

Inputs are RGB float images in [0, 1], mapped to the package's [-1, 1] as 2x - 1, at their own size
(no resize; the two images of a pair must have the same size).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import lpips
import lpips.pretrained_networks
import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import AlexNet_Weights, VGG16_Weights

from i2i.errors import I2IError
from i2i.hub.feature_weights import hub_cache_file, read_state_dict, require_weights_file

WEIGHTS_ENV = "I2I_LPIPS_BACKBONE_WEIGHTS"
WEIGHTS_OPTION = "--feature-weights"   # the CLI flag the error message points to
LPIPS_VERSION = "0.1"                  # the package's current weights (v0.0 had a normalisation bug)
LPIPS_PACKAGE_VERSION: str = importlib.metadata.version("lpips")

# net → (torchvision's weights URL, network name). The files are torchvision's own
# (alexnet-owt-7be5be79.pth, vgg16-397923af.pth), so a copy already in its cache is found, and a file
# fetched by hand is the one the lpips package would have had torchvision download.
BACKBONES: dict[str, tuple[str, str]] = {
    "alex": (AlexNet_Weights.IMAGENET1K_V1.url, "AlexNet"),
    "vgg": (VGG16_Weights.IMAGENET1K_V1.url, "VGG16"),
}

# The package's backbone classes, as lpips.LPIPS picks them for each net.
_PACKAGE_BACKBONES: dict[str, type[nn.Module]] = {
    "alex": lpips.pretrained_networks.alexnet,
    "vgg": lpips.pretrained_networks.vgg16,
}

# Smallest height/width the backbone takes: below it a feature map of the deepest layer is empty.
MIN_SIZE: dict[str, int] = {"alex": 31, "vgg": 16}

_INPUT_CONVERSION = "RGB float in [0, 1] mapped to the package's [-1, 1] as 2x - 1"

# What the eval JSON records next to the numbers (the default net; `LPIPSMetric.protocol` has the
# net and weights file actually used).
PROTOCOL: dict[str, object] = {
    "metric": "LPIPS (Zhang et al. 2018), lin variant",
    "package": "lpips",
    "package_version": LPIPS_PACKAGE_VERSION,
    "version": LPIPS_VERSION,
    "net": "alex",
    "backbone_weights": os.path.basename(BACKBONES["alex"][0]),
    "input": _INPUT_CONVERSION,
    "resize": "none: each pair at its own size (equal within a pair), distance averaged over space",
    "diversity": "mean LPIPS over all unordered pairs of the outputs for one input",
}

ImageBatch = np.ndarray | Tensor


def torchvision_cache_file(net: str = "alex") -> Path:
    """Where torchvision keeps the backbone weights of `net` once downloaded (honours $TORCH_HOME)."""
    return hub_cache_file(os.path.basename(_backbone(net)[0]))


def _backbone(net: str) -> tuple[str, str]:
    if net not in BACKBONES:
        raise ValueError(f"unknown LPIPS net {net!r}; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[net]


def find_backbone_weights(net: str = "alex", weights: str | os.PathLike[str] | None = None) -> Path:
    """The backbone weights file: `weights`, else $I2I_LPIPS_BACKBONE_WEIGHTS, else torchvision's cache.

    A path that is given (argument or variable) but does not exist is an error rather than a reason
    to look further: the user meant that file.
    """
    url, network = _backbone(net)
    return require_weights_file(f"LPIPS (net {net}) needs", f"torchvision's ImageNet {network} weights", weights,
                                WEIGHTS_OPTION, f"{WEIGHTS_OPTION} PATH", WEIGHTS_ENV, torchvision_cache_file(net),
                                url, "torchvision")


@contextlib.contextmanager
def _quiet_torchvision() -> Iterator[None]:
    """pnet_rand=True makes the package call torchvision's alexnet/vgg16(pretrained=False): a random
    backbone and no download, with torchvision's deprecation warnings for `pretrained`, silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
        yield


def read_backbone_file(path: Path, net: str = "alex") -> dict[str, Tensor]:
    """The tensors of the lpips backbone (`LPIPS.net`) of `net`, read from torchvision's file at `path`.

    Returns them under the package's names (`slice2.3.weight`): its slices keep torchvision's module
    indices, so `slice2.3.weight` is torchvision's `features.3.weight` and the map is by index. Accepts
    torchvision's full state dict (keys `features.N.weight`, `classifier.*` ignored) and a
    features-only one (keys `N.weight`). Raises I2IError naming the file if it cannot be read or lacks
    a tensor of the right shape. Checked against the package's own backbone built on the meta device
    (no memory, no initialisation), so a wrong file fails before the real model is built.
    """
    network = _backbone(net)[1]
    state = read_state_dict(path, f"{network} weights", f"a state dict of torchvision's {network}")
    with _quiet_torchvision(), torch.device("meta"):
        layout = _PACKAGE_BACKBONES[net](pretrained=False).state_dict()
    prefix = "features." if any(str(key).startswith("features.") for key in state) else ""
    tensors: dict[str, Tensor] = {}
    for name, expected in layout.items():
        _slice, index, kind = name.split(".")   # e.g. slice2.3.weight
        key = f"{prefix}{index}.{kind}"
        tensor = state.get(key)
        if not isinstance(tensor, Tensor):
            raise I2IError(f"{path}: not a torchvision {network} state dict (no tensor {key!r}; expected "
                           f"torchvision's keys 'features.N.weight' or features-only keys 'N.weight')")
        if tensor.shape != expected.shape:
            raise I2IError(f"{path}: not a torchvision {network} state dict ({key!r} has shape "
                           f"{tuple(tensor.shape)}, {network} needs {tuple(expected.shape)})")
        tensors[name] = tensor
    return tensors


def _check_linear_layers(model: lpips.LPIPS, net: str) -> None:
    """The package loads its linear layers with strict=False: make sure they really are its file's."""
    path = Path(lpips.__file__).parent / "weights" / f"v{LPIPS_VERSION}" / f"{net}.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    for index, layer in enumerate(model.lins):
        key = f"lin{index}.model.1.weight"
        weight = layer.model[-1].weight
        if key not in state or not torch.equal(state[key].to(weight.device), weight):
            raise I2IError(f"{path}: the lpips package's linear layers for net {net} did not load "
                           f"({key!r}); reinstall lpips {LPIPS_PACKAGE_VERSION}")


def _to_batch(images: ImageBatch, name: str) -> Tensor:
    """(H, W, 3) / (N, H, W, 3) numpy or (3, H, W) / (N, 3, H, W) tensor in [0, 1] → float (N, 3, H, W)."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(f"LPIPS needs numpy RGB images (H, W, 3) or (N, H, W, 3), {name} has shape "
                             f"{images.shape}")
        if not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"LPIPS needs float images in [0, 1], {name} has dtype {images.dtype}")
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        batch = batch.permute(2, 0, 1)[None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)
    elif isinstance(images, Tensor):
        if images.ndim not in (3, 4) or images.shape[-3] != 3:
            raise ValueError(f"LPIPS needs RGB tensors (3, H, W) or (N, 3, H, W), {name} has shape "
                             f"{tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"LPIPS needs float images in [0, 1], {name} has dtype {images.dtype}")
        batch = (images[None] if images.ndim == 3 else images).detach().float()
    else:
        raise TypeError(f"LPIPS needs numpy arrays or torch tensors, {name} is a {type(images).__name__}")
    if batch.numel() and not (bool(torch.isfinite(batch).all())
                              and -1e-3 <= float(batch.min()) and float(batch.max()) <= 1 + 1e-3):
        raise ValueError(f"LPIPS needs images in [0, 1], {name} has values in "
                         f"[{float(batch.min()):.4g}, {float(batch.max()):.4g}]")
    return batch


class LPIPSMetric:
    """LPIPS distance between image pairs, with the ImageNet backbone from a local file.

    `net` is "alex" (default) or "vgg"; `weights` the backbone file (see find_backbone_weights);
    `device` where the network runs. Frozen, eval mode, no gradients.
    """

    def __init__(self, net: str = "alex", weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        _backbone(net)
        self.net = net
        self.weights_path = find_backbone_weights(net, weights)
        self.device = torch.device(device)
        backbone = read_backbone_file(self.weights_path, net)   # a wrong file fails before the build
        with _quiet_torchvision():
            model = lpips.LPIPS(net=net, version=LPIPS_VERSION, pretrained=True, pnet_rand=True,
                                verbose=False)
        model.net.load_state_dict(backbone, strict=True)   # every backbone tensor, none left random
        _check_linear_layers(model, net)
        model.requires_grad_(False)
        self.model: lpips.LPIPS = model.eval().to(self.device)

    @property
    def protocol(self) -> dict[str, object]:
        """PROTOCOL for this instance's net and backbone file."""
        return {**PROTOCOL, "net": self.net, "backbone_weights": self.weights_path.name}

    def _prepare(self, images: ImageBatch, name: str) -> Tensor:
        batch = _to_batch(images, name)
        if min(batch.shape[-2:]) < MIN_SIZE[self.net]:
            raise ValueError(f"LPIPS (net {self.net}) needs images of at least {MIN_SIZE[self.net]}×"
                             f"{MIN_SIZE[self.net]}, {name} is {batch.shape[-2]}×{batch.shape[-1]}")
        return batch.to(self.device) * 2 - 1   # the package's range

    def __call__(self, a: ImageBatch, b: ImageBatch) -> np.ndarray:
        """LPIPS between a[i] and b[i] for each i: float64 array of shape (N,) ((1,) for one pair).

        a, b: float RGB in [0, 1], numpy (H, W, 3) / (N, H, W, 3) or tensors (3, H, W) / (N, 3, H, W),
        both of the same shape (any H, W of at least MIN_SIZE[net]).
        """
        x, y = self._prepare(a, "a"), self._prepare(b, "b")
        if x.shape != y.shape:
            raise ValueError(f"LPIPS compares images of equal shape, got {tuple(x.shape)} and "
                             f"{tuple(y.shape)} (N, 3, H, W)")
        with torch.inference_mode():
            distances = self.model(x, y)   # (N, 1, 1, 1)
        return distances.reshape(-1).double().cpu().numpy()

    def _features(self, x: Tensor) -> list[Tensor]:
        """The package's forward up to the unit-normalised features of each layer ([-1, 1] input)."""
        outputs = self.model.net(self.model.scaling_layer(x))
        return [lpips.normalize_tensor(output) for output in outputs]

    def mean_pairwise_lpips(self, images: Sequence[np.ndarray] | Sequence[Tensor] | ImageBatch) -> float:
        """Diversity of several outputs for one input: mean LPIPS over all K(K-1)/2 unordered pairs.

        `images`: K ≥ 2 images of one size, as a list of (H, W, 3) arrays / (3, H, W) tensors or one
        (K, H, W, 3) array / (K, 3, H, W) tensor, in [0, 1]. Each image's features are computed once
        (the same operations as the package's forward, which is symmetric in its two inputs).
        """
        if isinstance(images, (np.ndarray, Tensor)):
            batch = self._prepare(images, "images")
        else:
            batches = [self._prepare(image, f"images[{i}]") for i, image in enumerate(images)]
            shapes = {tuple(item.shape[1:]) for item in batches}
            if len(shapes) > 1:
                raise ValueError(f"mean pairwise LPIPS compares images of one size, got shapes "
                                 f"{sorted(shapes)} (3, H, W)")
            batch = torch.cat(batches) if batches else torch.empty(0, 3, 0, 0)
        count = batch.shape[0]
        if count < 2:
            raise ValueError(f"mean pairwise LPIPS needs at least 2 images, got {count}")
        total = 0.0
        with torch.inference_mode():
            features = [self._features(batch[i:i + 1]) for i in range(count)]
            for i in range(count - 1):
                others = [torch.cat([features[j][layer] for j in range(i + 1, count)])
                          for layer in range(self.model.L)]
                distance: Tensor | int = 0
                for layer in range(self.model.L):
                    difference = (features[i][layer] - others[layer]) ** 2
                    distance = distance + lpips.spatial_average(self.model.lins[layer](difference))
                assert isinstance(distance, Tensor)
                total += float(distance.double().sum())
        return total / (count * (count - 1) / 2)
