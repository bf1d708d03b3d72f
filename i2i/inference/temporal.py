"""How much a translated clip flickers, measured frame by frame as it is written.

Translating a clip frame by frame makes each output depend only on its own frame; a generator that
normalises by per-frame statistics (InstanceNorm) or amplifies noise changes its output between
frames more than the input changes. Two numbers, both on frames scaled to at most 256 px:

- **change ratio** = Σ_t mean|O_t − O_{t−1}| / Σ_t mean|I_t − I_{t−1}|: 1 means the output moves as
  much as the input; flicker pushes it above.
- **warped error** (the temporal error of video-translation papers, e.g. Lai et al. 2018):
  mean|O_t − W(O_{t−1})|, W the optical flow of the *input* frames (Farnebäck, OpenCV) warping the
  previous output onto the current one; printed beside the input's own warped error, which is what
  flow and occlusions alone leave. Averaged over every 4th pair of frames (the first, fifth, …).
"""

from __future__ import annotations

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


def _grey_small(rgb: np.ndarray, size: tuple[int, int] | None, side: int = _SIDE) -> np.ndarray:
    """BT.601 luma in [0, 1], resized to `size` (H, W), or to at most `side` pixels (area average).
    Resized first, in the frame's own type: a 4K output costs no float copy of itself."""
    import cv2

    if size is None:
        height, width = rgb.shape[:2]
        factor = min(1.0, side / max(height, width))
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
    small = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    scale = 65535.0 if rgb.dtype == np.uint16 else 255.0 if rgb.dtype == np.uint8 else 1.0
    return (small.astype(np.float32) / scale) @ np.array([0.299, 0.587, 0.114], np.float32)


class FlickerMeter:
    """Feed (input frame, output frame) in order; `result()` gives the clip's numbers. The change ratio
    uses every pair of frames; the warped error every `flow_every`-th pair (optical flow costs ~6 ms a
    pair on this 2-core CPU, the rest ~1 ms: measuring must not slow translation down)."""

    def __init__(self, flow_every: int = 4) -> None:
        self.flow_every = flow_every
        self.size: tuple[int, int] | None = None
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.input_change = self.output_change = 0.0
        self.warped = self.input_warped = 0.0
        self.pairs = self.flow_pairs = 0

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        source_small = _grey_small(source, self.size)
        self.size = source_small.shape
        output_small = _grey_small(output, self.size)
        if self.previous is not None:
            last_source, last_output = self.previous
            self.input_change += float(np.abs(source_small - last_source).mean())
            self.output_change += float(np.abs(output_small - last_output).mean())
            if self.flow_every and self.pairs % self.flow_every == 0:
                flow = _flow(last_source, source_small)
                self.warped += float(np.abs(output_small - _remap(last_output, flow)).mean())
                self.input_warped += float(np.abs(source_small - _remap(last_source, flow)).mean())
                self.flow_pairs += 1
            self.pairs += 1
        self.previous = (source_small, output_small)

    def result(self) -> Flicker | None:
        if self.pairs == 0:
            return None
        ratio = self.output_change / self.input_change if self.input_change > 0 else float("inf")
        flow_pairs = max(self.flow_pairs, 1)
        return Flicker(self.pairs + 1, ratio, self.warped / flow_pairs, self.input_warped / flow_pairs)


class TemporalSmoother:
    """`--temporal-smoothing A`: each output frame blended with the previous (smoothed) output warped
    onto it along the input's optical flow,

        O'_t = O_t + A · c_t · (W(O'_{t−1}) − O_t),    c_t = exp(−(|I_t − W(I_{t−1})| / τ)²),

    a simple form of blind video temporal consistency (Bonneel et al. 2015; Lai et al. 2018). The
    confidence c_t falls to 0 where the flow does not explain the input (occlusions, cuts, new
    content), so what moves is not smeared; where it does, the generator's frame-to-frame noise is
    averaged away. Any backend, any model: it works on the outputs. Flow is computed on the input
    scaled to at most 512 px (Farnebäck) and scaled up to the output."""

    def __init__(self, strength: float, tolerance: float = 0.04, side: int = 512) -> None:
        if not 0.0 <= strength < 1.0:
            from i2i.errors import I2IError

            raise I2IError(f"--temporal-smoothing must be in [0, 1) (0: off, 0.8: strong), got {strength}")
        self.strength, self.tolerance, self.side = strength, tolerance, side
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # (small grey input, smoothed output)

    def __call__(self, source: np.ndarray, output: np.ndarray) -> np.ndarray:
        """The smoothed output (float32 in [0, 1]) of `output` (float, uint8 or uint16) for `source`."""
        import cv2

        output = _as_unit_float(output)
        small = _grey_small(source, None, self.side)
        if self.previous is None or self.previous[0].shape != small.shape or self.strength == 0.0:
            self.previous = (small, output)
            return output
        last_small, last_output = self.previous
        flow = _flow(last_small, small)
        warp_small = _remap(last_small, flow)
        confidence = np.exp(-((np.abs(small - warp_small) / self.tolerance) ** 2)).astype(np.float32)
        height, width = output.shape[:2]
        factor = np.array([width / small.shape[1], height / small.shape[0]], np.float32)
        big_flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * factor
        warped = _remap(last_output, big_flow)
        weight = self.strength * cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
        smoothed = output + weight[..., None] * (warped - output)
        self.previous = (small, smoothed)
        return smoothed


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32, copy=False)


def _flow(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Dense flow from `current` to `previous` (each current pixel: where it came from), Farnebäck."""
    import cv2

    to_8bit = [np.clip(image * 255.0, 0, 255).astype(np.uint8) for image in (current, previous)]
    return cv2.calcOpticalFlowFarneback(*to_8bit, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
