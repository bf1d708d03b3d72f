"""A generator as it is deployed: [0, 1] RGB in, [0, 1] RGB out, inference-mode layers.

`translate` (torch backend), `export` (the ONNX graph) and the trainer's sample grids all run this
module, so what a user sees in samples is what translate writes and what the ONNX file computes.

A generator of a grey domain beside RGB images (an imported MUNIT trained with `input_dim_a: 1`) sees
the BT.601 luma of its RGB input, and its 1-channel output is replicated to RGB, here, so that the ONNX
graph keeps the contract: float32 NCHW RGB in [0, 1] in and out.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from i2i.nn.convert import batchnorm_to_instancenorm
from i2i.preprocess import Preprocess

BATCHNORM_MODES = ("per_image", "running")
LUMA = (0.299, 0.587, 0.114)   # ITU-R BT.601 R, G, B weights, as `i2i.images.luma`


class InferenceModel(nn.Module):
    """x ∈ [0, 1]^(N×C×H×W), H and W multiples of `preprocess.multiple_of` → y ∈ [0, 1].

    Normalisation is folded in: the generator sees (x − mean)/std and its tanh output is mapped back
    with y·std + mean, then clamped. Dropout is off (eval mode): the output is deterministic.

    With RGB images (`preprocess.channels` 3) and a generator whose `config.in_channels` is 1, the
    generator sees the luma of x instead; with `config.out_channels` 1, its output is replicated to
    the three channels, and its code encoder (which reads images of the output domain) sees luma too.
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
        config = getattr(generator, "config", None)
        in_channels = getattr(config, "in_channels", channels)
        self.grey_source = channels == 3 and in_channels == 1
        self.grey_target = channels == 3 and getattr(config, "out_channels", in_channels) == 1
        uniform = len(set(preprocess.mean)) == 1 and len(set(preprocess.std)) == 1
        if (self.grey_source or self.grey_target) and not uniform:
            raise ValueError(f"a grey generator beside RGB images needs one mean and std for every channel, "
                             f"got mean {preprocess.mean} and std {preprocess.std}")
        self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(1, channels, 1, 1))

    def forward(self, image: Tensor, *codes: Tensor) -> Tensor:
        """`codes`: the style (MUNIT) or class (FUNIT) code, (N, D) or (1, D), for generators that take one."""
        output = self.generator(self._normalise(image, self.grey_source), *codes)
        if self.grey_target:
            output = output.repeat(1, 3, 1, 1)                    # (N, 1, H, W) → (N, 3, H, W)
        return (output * self.std + self.mean).clamp(0.0, 1.0)

    def encode(self, image: Tensor) -> Tensor:
        """Style (MUNIT) or class (FUNIT) code (N, D) of each image in [0, 1], for generators with
        a `code_encoder`; FUNIT's K-shot code is the mean over the K images."""
        encoder = getattr(self.generator, "code_encoder", None)
        if encoder is None:
            raise TypeError(f"{type(self.generator).__name__} has no style or class encoder")
        return encoder(self._normalise(image, self.grey_target))

    def _normalise(self, image: Tensor, grey: bool) -> Tensor:
        """(x − mean)/std, of the luma of x when the network takes a grey image (mean and std are then
        the same for every channel, and the luma weights sum to 1)."""
        if not grey:
            return (image - self.mean) / self.std
        luma = image[:, 0:1] * LUMA[0] + image[:, 1:2] * LUMA[1] + image[:, 2:3] * LUMA[2]
        return (luma - self.mean[:, :1]) / self.std[:, :1]


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
