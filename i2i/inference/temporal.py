"""How much a translated clip flickers, measured frame by frame as it is written.

Translating a clip frame by frame makes each output depend only on its own frame; a generator that
normalises by per-frame statistics (InstanceNorm) or amplifies noise changes its output between
frames more than the input changes. Two numbers, both on frames scaled to at most 256 px:

- **change ratio** = Σ_t mean|O_t − O_{t−1}| / Σ_t mean|I_t − I_{t−1}|: 1 means the output moves as
  much as the input; flicker pushes it above.
- **warped error** (the temporal error of video-translation papers, e.g. Lai et al. 2018):
  mean|O_t − W(O_{t−1})|, W the optical flow of the *input* frames (Farnebäck, OpenCV) warping the
  previous output onto the current one; printed beside the input's own warped error, which is what
  flow and occlusions alone leave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_SIDE = 256


@dataclass
class Flicker:
    frames: int
    change_ratio: float
    warped_error: float          # the output's, in [0, 1] units
    input_warped_error: float    # the input's: what the flow leaves unexplained anyway

    def describe(self) -> str:
        return (f"flicker: change ratio {self.change_ratio:.3f} (output vs input frame-to-frame change), "
                f"warped error {self.warped_error:.4f} (input {self.input_warped_error:.4f})")


def _grey_small(rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    import cv2

    image = rgb.astype(np.float32) / (65535.0 if rgb.dtype == np.uint16 else 255.0 if rgb.dtype == np.uint8 else 1.0)
    grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
    if size is None:
        height, width = grey.shape
        factor = min(1.0, _SIDE / max(height, width))
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
    return cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)


class FlickerMeter:
    """Feed (input frame, output frame) in order; `result()` gives the clip's numbers."""

    def __init__(self, flow: bool = True) -> None:
        self.flow = flow
        self.size: tuple[int, int] | None = None
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.input_change = self.output_change = 0.0
        self.warped = self.input_warped = 0.0
        self.pairs = 0

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        source_small = _grey_small(source, self.size)
        self.size = source_small.shape
        output_small = _grey_small(output, self.size)
        if self.previous is not None:
            last_source, last_output = self.previous
            self.input_change += float(np.abs(source_small - last_source).mean())
            self.output_change += float(np.abs(output_small - last_output).mean())
            if self.flow:
                warp = _flow_warp(last_source, source_small)
                self.warped += float(np.abs(output_small - warp(last_output)).mean())
                self.input_warped += float(np.abs(source_small - warp(last_source)).mean())
            self.pairs += 1
        self.previous = (source_small, output_small)

    def result(self) -> Flicker | None:
        if self.pairs == 0:
            return None
        ratio = self.output_change / self.input_change if self.input_change > 0 else float("inf")
        return Flicker(self.pairs + 1, ratio, self.warped / self.pairs, self.input_warped / self.pairs)


def _flow_warp(previous: np.ndarray, current: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function warping images aligned with `previous` onto `current`, by the dense flow from
    current to previous (so each current pixel samples where it came from)."""
    import cv2

    to_8bit = [np.clip(image * 255.0, 0, 255).astype(np.uint8) for image in (current, previous)]
    flow = cv2.calcOpticalFlowFarneback(*to_8bit, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    height, width = current.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    return lambda image: cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
