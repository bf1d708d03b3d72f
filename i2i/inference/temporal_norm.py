"""`--norm-smoothing A`: per-frame normalisation statistics smoothed over the frames of a clip.

InstanceNorm (and AdaIN's normalisation of the content) divides each frame's features by that
frame's own mean and standard deviation. Between two frames of a clip those statistics jitter with
the content entering and leaving the frame and with sensor noise, and the whole output's tone
jitters with them: the flicker of frame-by-frame translation. Here each normalisation layer keeps an
exponential moving average of its statistics over the frames seen so far,

    μ̄_t = A·μ̄_{t−1} + (1 − A)·μ_t,    σ̄²_t = A·σ̄²_{t−1} + (1 − A)·σ²_t,

and normalises frame t by (μ̄_t, σ̄²_t). A = 0 is plain per-frame InstanceNorm; A → 1 freezes the
first frame's statistics. Frames must arrive in order (a batch is consecutive frames); `reset()`
starts a new clip. The layers are replaced in a copy of the network, so the model is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from i2i.errors import I2IError
from i2i.nn.adain import AdaIN


class _Carried:
    """The statistics one layer carries from frame to frame."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean: Tensor | None = None
        self.var: Tensor | None = None

    def smooth(self, mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, 1, 1) per-frame statistics → their running averages, frame after frame."""
        means, variances = [], []
        for index in range(mean.shape[0]):
            m, v = mean[index: index + 1], var[index: index + 1]
            if self.mean is not None and self.mean.shape == m.shape:
                m = self.alpha * self.mean + (1.0 - self.alpha) * m
                v = self.alpha * self.var + (1.0 - self.alpha) * v
            self.mean, self.var = m, v
            means.append(m)
            variances.append(v)
        return torch.cat(means), torch.cat(variances)


class SmoothedInstanceNorm(nn.Module):
    """An InstanceNorm2d (affine or not) normalising by smoothed statistics."""

    def __init__(self, norm: nn.InstanceNorm2d, alpha: float) -> None:
        super().__init__()
        self.norm, self.carried = norm, _Carried(alpha)

    def forward(self, x: Tensor) -> Tensor:
        mean, var = self.carried.smooth(*_statistics(x))
        y = (x - mean) / torch.sqrt(var + self.norm.eps)
        if self.norm.affine:
            y = y * self.norm.weight.view(1, -1, 1, 1) + self.norm.bias.view(1, -1, 1, 1)
        return y


class SmoothedAdaIN(nn.Module):
    """AdaIN normalising the content by smoothed statistics before the style's scale and shift."""

    def __init__(self, norm: AdaIN, alpha: float) -> None:
        super().__init__()
        self.num_features, self.eps, self.carried = norm.num_features, norm.eps, _Carried(alpha)

    def forward(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        mean, var = self.carried.smooth(*_statistics(x))
        n, c = x.shape[:2]
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * weight.reshape(n, c, 1, 1) + bias.reshape(n, c, 1, 1)


def _statistics(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-frame, per-channel mean and biased variance over H×W (what InstanceNorm uses), in float32."""
    x = x.float()
    return x.mean((2, 3), keepdim=True), x.var((2, 3), keepdim=True, unbiased=False)


def smoothed_copy(network: nn.Module, alpha: float) -> tuple[nn.Module, Callable[[], None]]:
    """(a copy of `network` whose InstanceNorm and AdaIN layers smooth their statistics, its reset).
    Raises I2IError when the network normalises nothing per image (nothing to smooth)."""
    if not 0.0 <= alpha < 1.0:
        raise I2IError(f"--norm-smoothing must be in [0, 1) (0: per-frame statistics, 0.9: strong), got {alpha}")
    network = copy.deepcopy(network)
    replaced: list[_Carried] = []
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.InstanceNorm2d) and not child.track_running_stats:
                smoothed: nn.Module = SmoothedInstanceNorm(child, alpha)
            elif isinstance(child, AdaIN):
                smoothed = SmoothedAdaIN(child, alpha)
            else:
                continue
            setattr(parent, name, smoothed)
            replaced.append(smoothed.carried)
    if not replaced:
        raise I2IError("--norm-smoothing: this model has no InstanceNorm or AdaIN layer (nothing "
                       "normalises by per-frame statistics, so there is nothing to smooth)")

    def reset() -> None:
        for carried in replaced:
            carried.mean = carried.var = None

    return network, reset
