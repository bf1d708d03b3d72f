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

Memory: the output is assembled one row of cores at a time in a float32 band and quantised row by
row (`tiled_rows` hands the finished rows on, so a writer can stream them); the input is never padded
or converted as a whole: each window is read through reflected indices, and from a `Decoded` file
(Pillow's 8/16-bit storage) converted to float window by window. Peak memory is the input as decoded +
one band + one batch of windows (+ the integer output, for `translate_tiled`), whatever the image size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from i2i.images import ORIENTATION_AXES, Decoded, split_alpha, stored_pixels, unit_float
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


def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Indices into an axis of `size` for positions beyond it mirrored, as np.pad's "reflect" mode
    (repeated when the pad is longer than the axis)."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    index = index % period
    return np.where(index < size, index, period - index)


def _pick(box: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """box[rows][:, cols], as slices (views) where the indices are consecutive."""
    def axis(index: np.ndarray) -> slice | np.ndarray:
        step = int(index[1] - index[0]) if len(index) > 1 else 1
        if step in (1, -1) and np.array_equal(index, index[0] + step * np.arange(len(index))):
            stop = int(index[-1]) + step
            return slice(int(index[0]), stop if stop >= 0 else None, step)
        return index

    row_axis, col_axis = axis(rows), axis(cols)
    if isinstance(row_axis, slice) or isinstance(col_axis, slice):
        return box[row_axis][:, col_axis]
    return box[np.ix_(row_axis, col_axis)]


def decoded_block(decoded: Decoded, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The converted pixels (H×W×C uint8/uint16/float32) of a decoded file at shown `rows` × `cols`
    (index arrays): the stored box they cover is cropped and converted, then oriented."""
    transposed, flip_rows, flip_cols = ORIENTATION_AXES[decoded.orientation]
    stored_rows, stored_cols = (cols, rows) if transposed else (rows, cols)
    height, width = decoded.shape[::-1] if transposed else decoded.shape
    stored_rows = height - 1 - stored_rows if flip_rows else stored_rows
    stored_cols = width - 1 - stored_cols if flip_cols else stored_cols
    top, left = int(stored_rows.min()), int(stored_cols.min())
    bottom, right = int(stored_rows.max()) + 1, int(stored_cols.max()) + 1
    if isinstance(decoded.stored, np.ndarray):
        box = decoded.stored[top:bottom, left:right]
    else:
        box = stored_pixels(decoded.stored.crop((left, top, right, bottom)))[0]
    box = box[:, :, None] if box.ndim == 2 else box
    picked = _pick(box, stored_rows - top, stored_cols - left)
    return picked.transpose(1, 0, 2) if transposed else picked


def _window_reader(image: np.ndarray | Decoded) -> tuple[tuple[int, int], Callable[..., np.ndarray]]:
    """((H, W), read(rows, cols) → float32 RGB window): an array as it is; a decoded file converted
    as `read_image` converts it (÷ 255 or 65535, alpha composited onto white, grey replicated)."""
    if isinstance(image, Decoded):
        return image.shape, lambda rows, cols: split_alpha(unit_float(decoded_block(image, rows, cols)))[0]
    return image.shape[:2], lambda rows, cols: _pick(image, rows, cols)


def translate_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray | Decoded, spec: TileSpec, *,
                    scale: int = 1, multiple_of: int = 1, min_size: int = 1, batch_size: int = 4,
                    dtype: type = np.uint8) -> np.ndarray:
    """Run `run` (N×C×h×w float32 in [0, 1] → N×C×(h·scale)×(w·scale)) over `image` (H×W×C float in
    [0, 1], or a `Decoded` file) tile by tile. Returns the (H·scale)×(W·scale)×C output quantised to
    `dtype` (uint8, uint16; float32: unquantised), assembled band by band so float memory stays bounded."""
    output: np.ndarray | None = None
    filled = 0
    for rows in tiled_rows(run, image, spec, scale=scale, multiple_of=multiple_of, min_size=min_size,
                           batch_size=batch_size, dtype=dtype):
        if output is None:
            output = np.empty((image.shape[0] * scale, *rows.shape[1:]), dtype)
        output[filled:filled + len(rows)] = rows
        filled += len(rows)
    assert output is not None and filled == len(output)
    return output


def tiled_rows(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray | Decoded, spec: TileSpec, *,
               scale: int = 1, multiple_of: int = 1, min_size: int = 1, batch_size: int = 4,
               dtype: type = np.uint8) -> Iterator[np.ndarray]:
    """`translate_tiled`'s output as it is finished: consecutive blocks of rows (top to bottom, each
    rows × W·scale × C in `dtype`), so that a writer can stream them without the whole output."""
    (height, width), read = _window_reader(image)
    spec = _aligned(spec, multiple_of)
    # The image as untiled inference sees it (reflect-padded to the multiple), and each axis shorter
    # than a window reflect-padded to one more (one core: the whole axis), never materialised.
    padded_h, padded_w = padded_size(height, width, multiple_of, 1)
    window = spec.window(multiple_of, min_size)
    axis_h, axis_w = max(padded_h, window), max(padded_w, window)
    row_index = _reflect(_reflect(np.arange(axis_h), padded_h), height)
    col_index = _reflect(_reflect(np.arange(axis_w), padded_w), width)
    rows = _cores(padded_h, spec.tile) if padded_h >= window else [(0, padded_h)]
    cols = _cores(padded_w, spec.tile) if padded_w >= window else [(0, padded_w)]
    maximum = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0  # float: unquantised
    half = spec.feather / 2
    col_windows = [_window_start(core, spec.pad, window, axis_w) for core in cols]
    col_weights = [_weights(cols, j, col_windows[j], window, spec.feather, scale) for j in range(len(cols))]
    carry: tuple[int, np.ndarray] | None = None  # blended rows below the last emitted row, for the next band
    emitted = 0                                  # output rows already handed on
    for i, core in enumerate(rows):
        top = _window_start(core, spec.pad, window, axis_h)
        row_weight = _weights(rows, i, top, window, spec.feather, scale)
        windows = [(row_index[top:top + window], col_index[left:left + window]) for left in col_windows]
        band = _band(run, read, windows, col_windows, row_weight, col_weights, window, padded_w, scale, batch_size)
        # Band rows in output coordinates: [top·scale, (top + window)·scale), clipped to the image.
        band_top, band_rows = top * scale, min(window, padded_h - top) * scale
        band = band[:band_rows]
        if carry is not None:  # add what earlier bands put into rows this band also covers
            overlap_top, overlap = carry
            offset = overlap_top - band_top
            band[offset:offset + overlap.shape[0]] += overlap
        # Rows no later band touches are final: everything above the next core's ramp.
        final = padded_h * scale if i == len(rows) - 1 else int(np.floor((rows[i + 1][0] - half) * scale))
        final = max(final, emitted)
        stop = min(final, height * scale)  # the padding's rows are cut off
        for start in range(emitted, stop, _QUANTISED_ROWS):
            done = np.clip(band[start - band_top:min(start + _QUANTISED_ROWS, stop) - band_top, :width * scale], 0, 1)
            yield _quantised(done, maximum).astype(dtype, copy=False)
        emitted = final
        carry = (final, band[final - band_top:].copy())


def _band(run: Callable[[np.ndarray], np.ndarray], read: Callable[..., np.ndarray],
          windows: list[tuple[np.ndarray, np.ndarray]], col_windows: list[int], row_weight: np.ndarray,
          col_weights: list[np.ndarray], window: int, width: int, scale: int, batch_size: int) -> np.ndarray:
    """One row of windows run and blended into a float32 band (window·scale rows × width·scale)."""
    band: np.ndarray | None = None
    for first in range(0, len(windows), batch_size):
        chunk = [read(rows, cols) for rows, cols in windows[first:first + batch_size]]
        batch = np.ascontiguousarray(np.stack(chunk).transpose(0, 3, 1, 2), dtype=np.float32)
        results = run(batch)
        if band is None:
            band = np.zeros((window * scale, width * scale, results.shape[1]), np.float32)
        for k, result in enumerate(results):
            j = first + k
            left = col_windows[j]
            weight = row_weight[:, None] * col_weights[j][None, :]
            span = slice(left * scale, min(left + window, width) * scale)
            valid = span.stop - span.start
            band[:, span] += result.transpose(1, 2, 0)[:, :valid] * weight[:, :valid, None]
    assert band is not None
    return band


_QUANTISED_ROWS = 64  # finished rows are quantised and handed on this many at a time: small temporaries


def _quantised(values: np.ndarray, maximum: float) -> np.ndarray:
    return np.round(values * maximum) if maximum > 1 else values
