"""A generator as it is deployed: [0, 1] RGB in, [0, 1] RGB out, inference-mode layers.

`translate` (torch backend), `export` (the ONNX graph) and the trainer's sample grids all run this
module, so what a user sees in samples is what translate writes and what the ONNX file computes.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from i2i.nn.convert import batchnorm_to_instancenorm
from i2i.preprocess import Preprocess

BATCHNORM_MODES = ("per_image", "running")


class InferenceModel(nn.Module):
    """x ∈ [0, 1]^(N×C×H×W), H and W multiples of `preprocess.multiple_of` → y ∈ [0, 1].

    Normalisation is folded in: the generator sees (x − mean)/std and its tanh output is mapped back
    with y·std + mean, then clamped. Dropout is off (eval mode): the output is deterministic.
    """

    def __init__(self, generator: nn.Module, preprocess: Preprocess, batchnorm: str = "per_image") -> None:
        super().__init__()
        if batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"unknown batchnorm inference mode {batchnorm!r}; choose one of {BATCHNORM_MODES}")
        generator = copy.deepcopy(generator).eval()
        if batchnorm == "per_image":
            batchnorm_to_instancenorm(generator)
        for parameter in generator.parameters():
            parameter.requires_grad_(False)
        self.generator = generator
        channels = preprocess.channels
        self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(1, channels, 1, 1))

    def forward(self, image: Tensor) -> Tensor:
        normalised = (image - self.mean) / self.std
        output = self.generator(normalised)
        return (output * self.std + self.mean).clamp(0.0, 1.0)
