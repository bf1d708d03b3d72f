"""Tiled inference: translate images far larger than memory allows whole, without seams.

The image is cut into a grid of *cores* of `tile`×`tile` input pixels. Each core is run inside a
*window* that adds `pad` pixels of context on every side (shifted inwards at the image border, so all
windows have one size and batch together). Neighbouring cores are cross-faded over `feather` pixels
centred on their shared edge with linear weights that sum to exactly 1 (a separable partition of
unity), so no pixel is brightened or darkened by the blend.

When is it exact? For a network without image-wide statistics (SRResNet/RRDB in eval mode, any conv
net without InstanceNorm), an output pixel depends only on inputs within the receptive-field radius
R. Every pixel that gets a non-zero weight from a window has at least `pad − feather/2` pixels of
context in it, so once that is ≥ R the tiled result equals the untiled one (up to float rounding);
in practice the effective receptive field is much smaller than R. Networks with InstanceNorm
normalise each window by its own statistics, so tiling them is an approximation (the blend hides
the seams); translate warns about that.

Memory: the output is assembled one row of cores at a time in a float32 band and quantised into the
final integer image row by row, so peak memory is the integer output + one band + one batch of
windows, whatever the image size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from i2i.preprocess import padded_size


@dataclass(frozen=True)
class TileSpec:
    tile: int            # core side in input pixels
    pad: int = 16        # context added on each side of a core
    feather: int = 16    # cross-fade width across core edges (≤ 2·pad)

    def __post_init__(self) -> None:
        if self.tile < 1:
            raise ValueError(f"tile must be >= 1, got {self.tile}")
        if self.pad < 0 or self.feather < 0:
            raise ValueError("tile pad and feather must be >= 0")
        if self.feather > 2 * self.pad:
            raise ValueError(f"feather {self.feather} must be at most 2 × pad ({2 * self.pad}): "
                             f"a window has no pixels beyond its pad to blend with")

    def window(self, multiple_of: int = 1, min_size: int = 1) -> int:
        """Window side: core + 2·pad, rounded up to the network's multiple."""
        return padded_size(self.tile + 2 * self.pad, 1, multiple_of, min_size)[0]


def _cores(length: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def _window_start(core: tuple[int, int], pad: int, window: int, length: int) -> int:
    """Start of the window around `core`: centred on it with `pad` context, shifted inside [0, length)."""
    return int(np.clip(core[0] - pad, 0, max(length - window, 0)))


def _weights(cores: list[tuple[int, int]], index: int, start: int, size: int, feather: int,
             scale: int) -> np.ndarray:
    """1-D blend weights (output resolution) of core `index` over output positions
    [start·scale, (start + size)·scale): 1 inside the core, linear ramps of `feather` input pixels
    centred on edges shared with a neighbouring core, 0 beyond; the image's own border has no ramp."""
    first, last = cores[index]
    x = (np.arange(start * scale, (start + size) * scale) + 0.5) / scale  # output pixel centres, input units
    weight = np.ones_like(x)
    if feather == 0:
        inside = x >= first if index > 0 else np.ones_like(x, bool)
        inside &= x < last if index < len(cores) - 1 else True
        return inside.astype(np.float32)
    if index > 0:
        weight = np.minimum(weight, np.clip(0.5 + (x - first) / feather, 0.0, 1.0))
    if index < len(cores) - 1:
        weight = np.minimum(weight, np.clip(0.5 + (last - x) / feather, 0.0, 1.0))
    return weight.astype(np.float32)


def _aligned(spec: TileSpec, multiple_of: int) -> TileSpec:
    """`spec` with core and context rounded up to whole multiples of `multiple_of`.

    A strided or pixel-unshuffled network is not shift-invariant: a window computes what the whole
    image would only where it starts at a multiple of `multiple_of`. With the image padded to the
    multiple (as untiled inference pads it) and cores and context whole multiples, every window starts
    at one, the border windows too (the padded length being a multiple)."""
    def up(value: int) -> int:
        return -(-value // multiple_of) * multiple_of

    return TileSpec(up(spec.tile), up(spec.pad), spec.feather) if multiple_of > 1 else spec


def translate_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, spec: TileSpec, *,
                    scale: int = 1, multiple_of: int = 1, min_size: int = 1, batch_size: int = 4,
                    dtype: type = np.uint8) -> np.ndarray:
    """Run `run` (N×C×h×w float32 in [0, 1] → N×C×(h·scale)×(w·scale)) over `image` (H×W×C float in
    [0, 1]) tile by tile. Returns the (H·scale)×(W·scale)×C output quantised to `dtype` (uint8, uint16;
    float32: unquantised), assembled band by band so float memory stays bounded."""
    height, width, channels = image.shape
    aligned = _aligned(spec, multiple_of)
    padded_h, padded_w = padded_size(height, width, multiple_of, 1)
    if (padded_h, padded_w) != (height, width) or aligned != spec:
        padded = np.pad(image, ((0, padded_h - height), (0, padded_w - width), (0, 0)), mode="reflect")
        output = translate_tiled(run, padded, aligned, scale=scale, multiple_of=multiple_of, min_size=min_size,
                                 batch_size=batch_size, dtype=dtype)
        return output[:height * scale, :width * scale]  # a view: no second copy of a huge output
    window = spec.window(multiple_of, min_size)
    # Along an axis shorter than a window there is one core (the whole axis) and the window is the
    # axis padded to the multiple (reflect), like untiled inference.
    axis_h, axis_w = max(height, window), max(width, window)
    if (axis_h, axis_w) != (height, width):
        image = np.pad(image, ((0, axis_h - height), (0, axis_w - width), (0, 0)), mode="reflect")
    rows = _cores(height, spec.tile) if height >= window else [(0, height)]
    cols = _cores(width, spec.tile) if width >= window else [(0, width)]
    maximum = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0  # float: unquantised
    output = np.empty((height * scale, width * scale, channels), dtype)
    half = spec.feather / 2
    col_windows = [_window_start(core, spec.pad, window, axis_w) for core in cols]
    col_weights = [_weights(cols, j, col_windows[j], window, spec.feather, scale) for j in range(len(cols))]
    carry: np.ndarray | None = None   # blended rows below the last emitted row, awaiting the next band
    emitted = 0                       # output rows already quantised
    for i, core in enumerate(rows):
        top = _window_start(core, spec.pad, window, axis_h)
        row_weight = _weights(rows, i, top, window, spec.feather, scale)
        band = np.zeros((window * scale, width * scale, channels), np.float32)
        windows = [image[top:top + window, left:left + window] for left in col_windows]
        for first in range(0, len(windows), batch_size):
            chunk = windows[first:first + batch_size]
            batch = np.ascontiguousarray(np.stack(chunk).transpose(0, 3, 1, 2), dtype=np.float32)
            results = run(batch)
            for k, result in enumerate(results):
                j = first + k
                left = col_windows[j]
                weight = row_weight[:, None] * col_weights[j][None, :]
                span = slice(left * scale, min(left + window, width) * scale)
                valid = span.stop - span.start
                band[:, span] += result.transpose(1, 2, 0)[:, :valid] * weight[:, :valid, None]
        # Band rows in output coordinates: [top·scale, (top + window)·scale), clipped to the image.
        band_top, band_rows = top * scale, min(window, height - top) * scale
        band = band[:band_rows]
        if carry is not None:  # add what earlier bands put into rows this band also covers
            overlap_top, overlap = carry
            offset = overlap_top - band_top
            band[offset:offset + overlap.shape[0]] += overlap
        # Rows no later band touches are final: everything above the next core's ramp.
        final = height * scale if i == len(rows) - 1 else int(np.floor((rows[i + 1][0] - half) * scale))
        final = max(final, emitted)
        start = emitted - band_top
        output[emitted:final] = _quantised(np.clip(band[start:final - band_top], 0.0, 1.0), maximum)
        emitted = final
        carry = (final, band[final - band_top:].copy())
    return output


def _quantised(values: np.ndarray, maximum: float) -> np.ndarray:
    return np.round(values * maximum) if maximum > 1 else values
