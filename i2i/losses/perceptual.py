"""VGG19 content ("perceptual") loss of SRGAN (Ledig et al. 2017) and ESRGAN (Wang et al. 2018).

SRGAN's VGG loss l_VGG/5.4 compares the feature maps φ5,4 of a VGG19 pretrained on ImageNet (the
output of the ReLU after the 4th convolution of the 5th block, before the 5th max-pool) of the
super-resolved and the real image with a squared error (Ledig et al. 2017, Eq. 5). ESRGAN (sec. 3.3)
takes the features *before* that activation (`conv5_4`): after it they are sparse, and the paper
reports more consistent brightness and textures without it; its reference code (BasicSR) compares them
with an L1 distance.

The VGG19 weights are torchvision's `VGG19_Weights.IMAGENET1K_V1` file. This module never downloads
and never falls back to random weights (a loss on random features trains silently towards nonsense):
the file is looked up, in this order, at an explicit path, at $I2I_VGG19_WEIGHTS, then in torchvision's
own cache (`torch.hub.get_dir()/checkpoints/`), and anything else is an I2IError saying where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import VGG19_Weights

from i2i.errors import I2IError
from i2i.hub.feature_weights import hub_cache_file, read_state_dict, require_weights_file

WEIGHTS_ENV = "I2I_VGG19_WEIGHTS"
WEIGHTS_OPTION = "perceptual.weights"   # the config key the CLI error message points to

# torchvision's own file (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth), so a copy already in
# its cache is found, and a file fetched by hand is the one torchvision would have downloaded.
WEIGHTS_URL: str = VGG19_Weights.IMAGENET1K_V1.url

# torchvision's preprocessing for its ImageNet classifiers: RGB in [0, 1], then these mean/std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# VGG19 is configuration E of Simonyan & Zisserman 2015 (Table 1): 3×3 convolutions of these widths
# (each followed by a ReLU), "M" a 2×2 max-pool. It is the layout of torchvision's `vgg19().features`
# (no batch norm), so module index N here is `features.N` in torchvision's state dict.
VGG19_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                       512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    """convB_K / reluB_K (K-th convolution of block B and its ReLU) and poolB → index in `features`."""
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 0
    for item in VGG19_LAYOUT:
        if item == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 0
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


VGG19_LAYERS: dict[str, int] = _layer_names()   # e.g. relu5_4 → 35, conv5_4 → 34, relu2_2 → 8


def _build_features(last: int) -> nn.Sequential:
    """torchvision's vgg19 `features` up to and including module index `last` (same indices)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
        if len(layers) > last:
            break
    return nn.Sequential(*layers[:last + 1])


def torchvision_cache_file() -> Path:
    """Where torchvision keeps VGG19_Weights.IMAGENET1K_V1 once downloaded (honours $TORCH_HOME)."""
    return hub_cache_file(os.path.basename(WEIGHTS_URL))


def find_vgg19_weights(weights: str | os.PathLike[str] | None = None) -> Path:
    """The VGG19 weights file: `weights`, else $I2I_VGG19_WEIGHTS, else torchvision's cache file.

    A path that is given (argument or variable) but does not exist is an error rather than a reason
    to look further: the user meant that file.
    """
    return require_weights_file("the perceptual loss needs", "the ImageNet VGG19 weights", weights, WEIGHTS_OPTION,
                                f"--set {WEIGHTS_OPTION}=PATH", WEIGHTS_ENV, torchvision_cache_file(), WEIGHTS_URL,
                                "torchvision")


def load_vgg19_features(path: Path, features: nn.Sequential) -> None:
    """Copy the weights of `features` (a prefix of vgg19 `features`) from the file at `path`.

    Accepts torchvision's full vgg19 state dict (keys `features.N.weight`, `classifier.*` ignored) and a
    features-only one (keys `N.weight`). Raises I2IError naming the file if it cannot be read or lacks a
    tensor of the right shape.
    """
    state = read_state_dict(path, "VGG19 weights", "a VGG19 state dict")
    prefix = "features." if any(str(key).startswith("features.") for key in state) else ""
    for index, layer in enumerate(features):
        if not isinstance(layer, nn.Conv2d):
            continue
        for name in ("weight", "bias"):
            key = f"{prefix}{index}.{name}"
            tensor = state.get(key)
            expected = getattr(layer, name)
            if not isinstance(tensor, Tensor):
                raise I2IError(f"{path}: not a VGG19 state dict (no tensor {key!r}; expected torchvision's "
                               f"vgg19 keys 'features.N.weight' or features-only keys 'N.weight')")
            if tensor.shape != expected.shape:
                raise I2IError(f"{path}: not a VGG19 state dict ({key!r} has shape {tuple(tensor.shape)}, "
                               f"VGG19 needs {tuple(expected.shape)})")
            with torch.no_grad():
                expected.copy_(tensor)


class VGGFeatures(nn.Module):
    """Frozen ImageNet VGG19 feature extractor, truncated after the layer `layer` (see VGG19_LAYERS).

    Input: images in [-1, 1] (the networks' range), shape (N, 3, H, W); they are mapped to [0, 1] and
    normalised with the ImageNet mean/std inside, as torchvision's weights expect. Output: the feature
    maps of `layer`, e.g. (N, 512, H/16, W/16) for relu5_4 / conv5_4. The parameters never require
    gradients and the module stays in eval mode (VGG19 has no dropout or norm in `features`, but a
    frozen loss network should not depend on the caller's train()/eval()).
    """

    def __init__(self, layer: str = "relu5_4", weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if layer not in VGG19_LAYERS:
            raise ValueError(f"unknown VGG19 layer {layer!r}; choose one of: {', '.join(VGG19_LAYERS)}")
        self.layer = layer
        self.weights_path = find_vgg19_weights(weights)
        # Built without initialising (meta, then uninitialised memory): every parameter is then
        # overwritten from the file or the constructor raises, so no random weight can survive.
        with torch.device("meta"):
            features = _build_features(VGG19_LAYERS[layer])
        self.features = features.to_empty(device="cpu")
        load_vgg19_features(self.weights_path, self.features)
        self.features.requires_grad_(False)
        # Not persistent: constants, so they stay out of any state dict the loss ends up in.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        super().train(False)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always eval: a frozen loss network keeps one behaviour whatever its owner's mode."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"VGG19 needs RGB images (N, 3, H, W), got shape {tuple(images.shape)}")
        x = (images + 1.0) / 2.0
        return self.features((x - self.mean) / self.std)


PERCEPTUAL_CRITERIA = ("mse", "l1")


class PerceptualLoss(nn.Module):
    """Distance between VGG19 features of output and target: criterion(s·φ(output), s·φ(target)).

    `criterion` is "mse" (SRGAN) or "l1" (ESRGAN), a mean over all feature elements (N·C·H·W), i.e.
    Eq. 5 of SRGAN averaged over channels as well. `feature_scale` s multiplies the features before the
    distance, so the MSE scales by s² and the L1 by s. SRGAN "rescale[s] the feature maps by a factor of
    1/12.75 ... to obtain VGG losses of a scale comparable to the MSE loss" (≈ 0.006 = 1/12.75² on the
    squared error): the defaults (relu5_4, mse, 1/12.75) are that l_VGG/5.4. ESRGAN is layer="conv5_4",
    criterion="l1", feature_scale=1. The factor was tuned for the SRGAN authors' VGG and input
    convention; with torchvision's weights the absolute size of the loss differs, so the factor keeps
    the paper's formula, and the weight of this term against the others still needs checking.

    The target's features are computed without gradients: the gradient flows to `output` only.
    """

    def __init__(self, layer: str = "relu5_4", criterion: str = "mse", feature_scale: float = 1 / 12.75,
                 weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if criterion not in PERCEPTUAL_CRITERIA:
            raise ValueError(f"unknown perceptual criterion {criterion!r}; choose one of: "
                             f"{', '.join(PERCEPTUAL_CRITERIA)}")
        self.criterion = criterion
        self.feature_scale = float(feature_scale)
        self.vgg = VGGFeatures(layer, weights)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if output.shape != target.shape:
            raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape")
        fake = self.vgg(output) * self.feature_scale
        with torch.no_grad():
            real = self.vgg(target) * self.feature_scale
        if self.criterion == "mse":
            return F.mse_loss(fake, real)
        return F.l1_loss(fake, real)
