"""Image quality metrics on float images in [0, 1] (numpy only, so they also run on the ONNX path).

Conventions: computed on RGB in [0, 1] (data range 1), per image, then averaged over images.
"""

from __future__ import annotations

import numpy as np


def l1(output: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error per pixel and channel."""
    return float(np.mean(np.abs(output.astype(np.float64) - target.astype(np.float64))))


def psnr(output: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10·log10(range² / MSE); +inf for identical images."""
    mse = float(np.mean((output.astype(np.float64) - target.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)
