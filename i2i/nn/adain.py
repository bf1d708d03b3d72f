"""Style-conditioned normalisation: AdaIN, the MLP that feeds it, and MUNIT's LayerNorm.

AdaIN (Huang & Belongie 2017) normalises each sample's channels by their own mean and standard
deviation over H×W and applies a scale γ and shift β that come from outside (a style or class
code), not from learned parameters:

    AdaIN(x, γ, β) = γ · (x − μ(x)) / sqrt(σ²(x) + ε) + β

The official MUNIT/FUNIT code computes this with `F.batch_norm(training=True)` on x reshaped to
(1, N·C, H, W) and γ/β assigned as module attributes before each forward. The torch.export-based
ONNX exporter freezes the batch to 1 and gives wrong outputs for that trick (see the anchors doc,
E.2), so here the statistics are explicit and γ/β are arguments. The two are numerically the same
(biased variance, ε inside the square root), so official weights load unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def adaptive_instance_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN of x (N, C, H, W) with per-sample scale `weight` and shift `bias`, each (N, C)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    centred = x - mean
    # The biased variance as a mean of squares rather than `x.var`: torch.onnx writes `var` with its
    # element count taken from the input's shape (Shape ops, which OpenCV's importers refuse).
    variance = (centred * centred).mean(dim=(2, 3), keepdim=True)
    normalised = centred / torch.sqrt(variance + eps)
    return normalised * weight[:, :, None, None] + bias[:, :, None, None]


class AdaIN(nn.Module):
    """AdaIN with no parameters of its own; `forward(x, weight, bias)` as `adaptive_instance_norm`."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps

    def forward(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return adaptive_instance_norm(x, weight, bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class LayerNorm2d(nn.Module):
    """MUNIT's layer norm: each sample normalised over (C, H, W) with the *unbiased* standard
    deviation, ε added to σ (not to σ²), then a per-channel affine γ ~ U(0, 1), β = 0 at init.

    The official module has a fast path for batch 1 that the ONNX exporters bake into the graph
    (wrong or frozen at batch > 1); this one has a single path for every batch size.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:
            self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
            self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        dims = (1, 2, 3)
        mean = x.mean(dim=dims, keepdim=True)
        centred = x - mean
        # The unbiased σ with the element count summed from the tensor (ones), not read from its shape:
        # the exported graph then has no Shape op, which OpenCV's DNN importers refuse on a dynamic input.
        count = (centred * 0 + 1).sum(dim=dims, keepdim=True)
        std = torch.sqrt((centred * centred).sum(dim=dims, keepdim=True) / (count - 1))
        x = centred / (std + self.eps)
        if self.affine:
            x = x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return x

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class StyleMLP(nn.Module):
    """The MLP from a style (MUNIT) or class (FUNIT) code to every AdaIN parameter of a decoder:
    `num_blocks` linear layers, ReLU between them, none after the last (3 blocks, 256 wide in both
    papers). Output (N, out_features), laid out as the decoder's `AdaIN` layers consume it."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, num_blocks: int = 3) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"StyleMLP needs at least 1 block, got {num_blocks}")
        widths = [in_features] + [hidden] * (num_blocks - 1) + [out_features]
        layers: list[nn.Module] = []
        for i in range(num_blocks):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < num_blocks - 1:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, code: Tensor) -> Tensor:
        return self.layers(code.flatten(1))


def split_adain_params(params: Tensor, layers: list[AdaIN]) -> list[tuple[Tensor, Tensor]]:
    """Cut an MLP output (N, Σ 2·C) into (weight, bias) per AdaIN layer, in order.

    Layout per layer, as the official MUNIT/FUNIT `assign_adain_params`: first C values are the
    shift β (their "mean"), the next C the scale γ (their "std"). Keeping it lets official MLP
    weights load without permuting rows.
    """
    expected = sum(2 * layer.num_features for layer in layers)
    if params.shape[1] != expected:
        raise ValueError(f"got {params.shape[1]} AdaIN parameters, the decoder needs {expected}")
    out, start = [], 0
    for layer in layers:
        c = layer.num_features
        bias, weight = params[:, start:start + c], params[:, start + c:start + 2 * c]
        out.append((weight, bias))
        start += 2 * c
    return out
