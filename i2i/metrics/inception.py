"""The network of the distribution metrics: torch-fidelity's FID Inception-v3, its weights file, and
feature extraction over images of any size (pool3 features and the unbiased logits).

The weights are never downloaded and never random: the file is looked up at an explicit path, at
$I2I_INCEPTION_WEIGHTS, then in torch-fidelity's own cache (`torch.hub.get_dir()/checkpoints/`), and
anything else is an I2IError saying where to put it. The estimators on the features (FID, KID, IS,
1-NN) and the pinned PROTOCOL are in `i2i.metrics.fidelity`, which re-exports everything here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from i2i.errors import I2IError
from i2i.hub.feature_weights import hub_cache_file, read_state_dict, require_weights_file

WEIGHTS_ENV = "I2I_INCEPTION_WEIGHTS"
WEIGHTS_OPTION = "--feature-weights"   # the CLI flag the error message points to
WEIGHTS_URL: str = URL_INCEPTION_V3
WEIGHTS_FILE: str = os.path.basename(WEIGHTS_URL)   # weights-inception-2015-12-05-6726825d.pth

FEATURE_LAYER = "2048"             # pool3: global average pool after Mixed_7c, for FID, KID and 1-NN
LOGITS_LAYER = "logits_unbiased"   # pool3 · fc.weightᵀ (no fc bias), 1008 classes, for IS
FEATURE_DIM = 2048
LOGITS_DIM = 1008

ArrayLike = np.ndarray | Tensor


# --- Weights -------------------------------------------------------------------------------------

def torch_fidelity_cache_file() -> Path:
    """Where torch-fidelity keeps the Inception weights once downloaded (torch.hub's checkpoint folder,
    `load_state_dict_from_url`; honours $TORCH_HOME)."""
    return hub_cache_file(WEIGHTS_FILE)


def find_inception_weights(weights: str | os.PathLike[str] | None = None) -> Path:
    """The Inception weights file: `weights`, else $I2I_INCEPTION_WEIGHTS, else torch-fidelity's cache.

    A path that is given (argument or variable) but does not exist is an error rather than a reason
    to look further: the user meant that file.
    """
    return require_weights_file("FID/KID/IS/1-NN need", "torch-fidelity's Inception-v3 weights", weights,
                                WEIGHTS_OPTION, f"{WEIGHTS_OPTION} PATH", WEIGHTS_ENV, torch_fidelity_cache_file(),
                                WEIGHTS_URL, "torch-fidelity")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def to_uint8(images: Tensor) -> Tensor:
    """Float images in [0, 1] → uint8 0..255 as round(255·x) after clamping (half to even, as
    i2i.images.quantise); uint8 input passes through unchanged."""
    if images.dtype == torch.uint8:
        return images
    if images.dtype not in (torch.float32, torch.float64):
        images = images.float()
    return (images.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


class InceptionExtractor(nn.Module):
    """torch-fidelity's FID Inception-v3 on float images: (N, 3, H, W) in [0, 1], any H and W →
    (pool3 features (N, 2048), logits_unbiased (N, 1008)), both float32 on the module's device.

    The weights file is found by find_inception_weights and read offline only: it is first opened with
    `torch.load(weights_only=True)` (a plain tensor dict is all it may contain; torch-fidelity itself
    loads it with weights_only=False), then handed to FeatureExtractorInceptionV3 as
    `feature_extractor_weights_path`, which loads it with a strict load_state_dict and never goes to
    the network when a path is given. `weights_path` and `weights_sha256` name the file for the record.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        path = find_inception_weights(weights)
        read_state_dict(path, "Inception weights", "torch-fidelity's Inception-v3 state dict")
        try:
            network = FeatureExtractorInceptionV3("inception-v3-compat", [FEATURE_LAYER, LOGITS_LAYER],
                                                  feature_extractor_weights_path=str(path))
        except RuntimeError as error:  # load_state_dict: missing/unexpected keys or shape mismatch
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else _first_line(error)
            if len(detail) > 200:
                detail = detail[:200] + "…"
            raise I2IError(f"{path}: not torch-fidelity's Inception-v3 weights ({detail})") from None
        self.network = network.to(device)
        self.weights_path = path
        self.weights_sha256 = _sha256(path)
        super().train(False)

    def train(self, mode: bool = True) -> InceptionExtractor:
        """Always eval: the network has batch norm, and a metric must not depend on the caller's mode."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"the Inception extractor needs RGB images (N, 3, H, W), "
                             f"got {tuple(images.shape)}")
        with torch.no_grad():
            features, logits = self.network(to_uint8(images).to(self.device))
        return features, logits


# --- Feature extraction --------------------------------------------------------------------------

Extractor = Callable[[Tensor], tuple[Tensor, Tensor]]
Images = ArrayLike | Iterable[ArrayLike]


def _as_tensor(images: ArrayLike) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images


def _batches(images: Images, batch_size: int) -> Iterator[Tensor]:
    """Float (n, 3, H, W) batches of at most `batch_size` from an (N, 3, H, W) tensor/array, or from an
    iterable of (3, H, W) images and (n, 3, H, W) batches (consecutive images of one size are batched
    together; sizes may differ between them)."""
    if isinstance(images, (np.ndarray, Tensor)):
        images = [images]
    pending: list[Tensor] = []
    for item in images:
        item = _as_tensor(item)
        if item.ndim == 3:
            if pending and (pending[0].shape != item.shape or len(pending) == batch_size):
                yield torch.stack(pending)
                pending = []
            pending.append(item)
        elif item.ndim == 4:
            if pending:
                yield torch.stack(pending)
                pending = []
            for start in range(0, item.shape[0], batch_size):
                yield item[start:start + batch_size]
        else:
            raise ValueError(f"expected images (3, H, W) or batches (N, 3, H, W), "
                             f"got shape {tuple(item.shape)}")
    if pending:
        yield torch.stack(pending)


def extract_features(images: Images, extractor: Extractor,
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Run `extractor` over `images` in batches: (features (N, 2048), logits (N, 1008)) as float32 numpy.

    `images`: float RGB in [0, 1], an (N, 3, H, W) tensor or array, or an iterable of (3, H, W) images
    and (n, 3, H, W) batches of any sizes. `extractor`: an InceptionExtractor, or any callable mapping a
    float (n, 3, H, W) batch to (features, logits) tensors.
    """
    features, logits = [], []
    for batch in _batches(images, batch_size):
        if batch.shape[1] != 3:
            raise ValueError(f"expected RGB images (N, 3, H, W), got shape {tuple(batch.shape)}")
        with torch.no_grad():
            batch_features, batch_logits = extractor(batch)
        features.append(batch_features.detach().float().cpu().numpy())
        logits.append(batch_logits.detach().float().cpu().numpy())
    if not features:
        raise ValueError("no images to extract features from")
    return np.concatenate(features), np.concatenate(logits)
