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

    def forward(self, image: Tensor, *codes: Tensor) -> Tensor:
        """`codes`: the style (MUNIT) or class (FUNIT) code, (N, D) or (1, D), for generators that take one."""
        normalised = (image - self.mean) / self.std
        output = self.generator(normalised, *codes)
        return (output * self.std + self.mean).clamp(0.0, 1.0)

    def encode(self, image: Tensor) -> Tensor:
        """Style (MUNIT) or class (FUNIT) code (N, D) of each image in [0, 1], for generators with
        a `code_encoder`; FUNIT's K-shot code is the mean over the K images."""
        encoder = getattr(self.generator, "code_encoder", None)
        if encoder is None:
            raise TypeError(f"{type(self.generator).__name__} has no style or class encoder")
        return encoder((image - self.mean) / self.std)


class CodeEncoderModel(nn.Module):
    """The encoder graph exported beside a conditioned generator: images in [0, 1] → codes.

    `average=False` (MUNIT style encoder): (N, D), one code per image. `average=True` (FUNIT class
    encoder): (1, D), the mean code of the K images given — the paper's K-shot class code.
    """

    def __init__(self, model: InferenceModel, average: bool) -> None:
        super().__init__()
        self.model = model
        self.average = average

    def forward(self, images: Tensor) -> Tensor:
        codes = self.model.encode(images)
        return codes.mean(0, keepdim=True) if self.average else codes
