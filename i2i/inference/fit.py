"""The network's output fitted to the file written: its padding cropped off, resized to `--outscale`,
and the input's alpha resized to match (translate, the video path and the Python API all use these)."""

from __future__ import annotations

import numpy as np

from i2i.images import resize_plane


def output_size(height: int, width: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """(H, W) of the file written: the network's × scale, or × `outscale` of the input when given
    (Real-ESRGAN's `--outscale`: int(W · S) × int(H · S))."""
    if outscale is None:
        return height * scale, width * scale
    return max(1, int(height * outscale)), max(1, int(width * outscale))


def rescale(output: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The network's output resized to `size` (H, W) with Lanczos (OpenCV's 8×8 kernel, as Real-ESRGAN
    does); float outputs stay in [0, 1], 8/16-bit ones are saturated by OpenCV."""
    if output.shape[:2] == size:
        return output
    import cv2

    resized = cv2.resize(output, (size[1], size[0]), interpolation=cv2.INTER_LANCZOS4)
    return np.clip(resized, 0.0, 1.0) if resized.dtype.kind == "f" else resized


def fit_output(output: np.ndarray, alpha: np.ndarray | None, height: int, width: int, scale: int,
               outscale: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The network's output of a height × width input with its padding cropped off, resized to
    `outscale` when given, and the input's alpha resized to match (what translate and the Python API
    hand back)."""
    size = output_size(height, width, scale, outscale)
    output = rescale(output[: height * scale, : width * scale], size)
    if alpha is not None and alpha.shape[:2] != size:
        alpha = resize_plane(alpha, size[1], size[0])
    return output, alpha
