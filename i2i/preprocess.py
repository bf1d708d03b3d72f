"""The image ⇄ tensor contract shared by training, `translate`, `export` and the ONNX graph.

Networks see `(x - mean) / std` (so [0, 1] pixels become [-1, 1] with the GAN-standard 0.5/0.5) and
produce tanh outputs mapped back by `y * std + mean`. Inference never resizes: an image is padded to
the generator's multiple (reflect) and the output cropped back, so every output has its input's size
(times `scale` for super-resolution). numpy only, so the ONNX path needs no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Preprocess:
    size: int = 256                                     # side of the training crops (informational at inference)
    channels: int = 3                                   # RGB
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)           # network input = (pixel - mean) / std
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    multiple_of: int = 1                                # input sides must be multiples of this
    min_size: int = 1                                   # and at least this (a ResNet needs 2 × multiple_of)
    scale: int = 1                                      # output side / input side
    alpha: str = "white"                                # transparent pixels are composited onto white
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocess:
        values = dict(values)
        for key in ("mean", "std"):
            values[key] = tuple(values[key])
        return cls(**values)


def padded_size(height: int, width: int, multiple_of: int, min_size: int = 1) -> tuple[int, int]:
    """The smallest (H, W) ≥ the input (and ≥ `min_size`) that are multiples of `multiple_of`."""
    height, width = max(height, min_size), max(width, min_size)
    return -(-height // multiple_of) * multiple_of, -(-width // multiple_of) * multiple_of


def pad_to_multiple(image: np.ndarray, multiple_of: int, min_size: int = 1) -> np.ndarray:
    """Reflect-pad an HxWxC image at the bottom and right to the network's multiple.

    Reflection (repeated when the pad exceeds the image) continues edges without a seam, which keeps
    the border of the output like its interior; the pad is cropped off after the network runs.
    """
    height, width = image.shape[:2]
    target_h, target_w = padded_size(height, width, multiple_of, min_size)
    if (target_h, target_w) == (height, width):
        return image
    return np.pad(image, ((0, target_h - height), (0, target_w - width), (0, 0)), mode="reflect")


def to_batch(images: list[np.ndarray]) -> np.ndarray:
    """Equal-sized HxWxC float images → N×C×H×W float32 (the ONNX input layout)."""
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)


def from_batch(batch: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(item.transpose(1, 2, 0)) for item in batch]
