"""Sample grids of fixed held-out inputs (samples/step_*.png and TensorBoard), translated by the
deployed generators exactly as `i2i translate` would."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from i2i.data import build_dataset
from i2i.errors import I2IError
from i2i.inference.deployed import InferenceModel
from i2i.methods.base import Method
from i2i.preprocess import Preprocess


def fixed_samples(method: Method, preprocess: Preprocess) -> dict[str, Tensor]:
    """The first `num_samples` held-out pairs (test, else val, else train), un-augmented, in [0, 1]."""
    for split in ("test", "val", "train"):
        try:
            dataset = build_dataset(method.data_kind, method.recipe.data, preprocess, split, augment=False)
            break
        except I2IError:
            continue
    count = min(method.recipe.log.num_samples, len(dataset))
    items = [dataset[i] for i in range(count)]
    mean = torch.tensor(preprocess.mean).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std).view(1, -1, 1, 1)
    # Images (C, H, W) back to [0, 1]; other tensors (class labels) as they are.
    return {key: torch.stack([item[key] for item in items]) * std + mean if value.ndim == 3
            else torch.stack([item[key] for item in items])
            for key, value in items[0].items() if isinstance(value, Tensor)}


class SampleTranslator:
    """What `Method.sample_columns` gets: `translate(direction, images, *codes)` runs the deployed
    generator (as `i2i translate` would); `translate.encode(direction, images)` its style/class encoder."""

    def __init__(self, deployed: Callable[[str], InferenceModel], device: torch.device) -> None:
        self.deployed, self.device = deployed, device
        self.models: dict[str, InferenceModel] = {}

    def _model(self, direction: str) -> InferenceModel:
        if direction not in self.models:
            self.models[direction] = self.deployed(direction)
        return self.models[direction]

    def __call__(self, direction: str, images: Tensor, *codes: Tensor) -> Tensor:
        return self._model(direction)(images.to(self.device), *(code.to(self.device) for code in codes)).cpu()

    def encode(self, direction: str, images: Tensor) -> Tensor:
        return self._model(direction).encode(images.to(self.device)).cpu()
