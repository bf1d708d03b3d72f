"""Image quality metrics on float images in [0, 1] (numpy only, so they also run on the ONNX path).

Conventions: `l1` and `psnr` are computed on RGB in [0, 1] (data range 1), per image, then averaged
over images. `sr_scores` follows the super-resolution papers instead (BT.601 luma, `scale` pixels of
border cropped, Gaussian-window SSIM); its result names the convention it used.
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


# --- Super-resolution convention -------------------------------------------------------------------
# SR papers (SRCNN onwards, and BasicSR, the reference code of ESRGAN and most later work) score the
# luma channel Y of ITU-R BT.601 as MATLAB's rgb2ycbcr computes it, after cropping `scale` pixels from
# every border (the border of an upscaled image depends on padding, not on the method), with SSIM as
# in Wang et al.'s ssim_index.m: 11×11 Gaussian window, σ = 1.5, only the 'valid' filter positions.

# MATLAB rgb2ycbcr's Y row for RGB in [0, 1] and Y in [0, 255] (16-235 for RGB in [0, 1]).
_BT601_Y = np.array([65.481, 128.553, 24.966])


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB in [0, 1] (…, H, W, 3) as MATLAB rgb2ycbcr: Y = (16 + 65.481 R + 128.553 G
    + 24.966 B) / 255, so in [16/255, 235/255]; returns float64 of shape (…, H, W)."""
    if image.shape[-1] != 3:
        raise ValueError(f"rgb_to_y needs RGB images (…, H, W, 3), got shape {image.shape}")
    return (16.0 + image.astype(np.float64) @ _BT601_Y) / 255.0


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D sampled Gaussian summing to 1; its outer product is MATLAB fspecial('gaussian', size, sigma)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    window = np.exp(-(x**2) / (2 * sigma**2))
    return window / window.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of (H, W) with `window` on both axes, 'valid' positions only."""
    view = np.lib.stride_tricks.sliding_window_view(image, window.size, axis=0)
    rows = view @ window  # (H - k + 1, W)
    return np.lib.stride_tricks.sliding_window_view(rows, window.size, axis=1) @ window


def _ssim_2d(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    window = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    # Population (1/N-weighted) moments under the window, as ssim_index.m.
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov = _filter_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim(output: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Structural similarity of Wang et al. 2004 (their ssim_index.m, as BasicSR's calculate_ssim).

    11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, averaged over the 'valid' positions only
    (where the window lies inside the image); for (H, W, C) images per channel, then the mean over
    channels. Images must be at least 11×11.
    """
    if output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} differ in shape")
    if output.ndim not in (2, 3) or min(output.shape[:2]) < 11:
        raise ValueError(f"ssim needs (H, W) or (H, W, C) images of at least 11×11, got {output.shape}")
    x, y = output.astype(np.float64), target.astype(np.float64)
    if x.ndim == 2:
        return _ssim_2d(x, y, data_range)
    return float(np.mean([_ssim_2d(x[..., c], y[..., c], data_range) for c in range(x.shape[2])]))


def sr_scores(output: np.ndarray, target: np.ndarray, scale: int, y_channel: bool = True,
              crop_border: int | None = None) -> dict[str, float | str]:
    """PSNR and SSIM of a super-resolved image under the SR papers' convention.

    `output` and `target` are (H, W, 3) or (H, W) float in [0, 1]. With `y_channel` RGB images are
    scored on their BT.601 luma (rgb_to_y); a single-channel image is taken as luma already (BasicSR
    does the same). `crop_border` pixels (default: `scale`) are removed from each side before scoring.
    Returns {"psnr", "ssim", "convention"}, the last a one-line description of what was computed.
    Papers also round the output to 8 bits first; these scores take the images as they are given.
    """
    if output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} differ in shape")
    border = scale if crop_border is None else crop_border
    if border < 0:
        raise ValueError(f"crop_border must be >= 0, got {border}")
    x, y = output.astype(np.float64), target.astype(np.float64)
    if x.ndim == 3 and x.shape[2] == 1:
        x, y = x[..., 0], y[..., 0]
    space = "RGB"
    if x.ndim == 2:
        space = "grey"
    elif y_channel:
        x, y, space = rgb_to_y(x), rgb_to_y(y), "Y (BT.601)"
    if border:
        if min(x.shape[:2]) <= 2 * border:
            raise ValueError(f"image of {x.shape[0]}×{x.shape[1]} px is too small to crop "
                             f"{border} px borders")
        x, y = x[border:-border, border:-border], y[border:-border, border:-border]
    convention = f"{space}, border {border} px cropped, data range 1"
    return {"psnr": psnr(x, y, 1.0), "ssim": ssim(x, y, 1.0), "convention": convention}
