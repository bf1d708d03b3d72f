"""Appearance statistics shared by the MUNIT and FUNIT measurements (not part of the package).

The demo sets (`styles`, `classes`) differ between styles/classes in colour, so an image's appearance
is summarised by its per-channel colour mean and standard deviation (6 numbers in [0, 1]); distances
between those vectors say which palette or class an output looks like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2i.images import read_image, write_image
from i2i.inference.backend import Backend
from i2i.preprocess import from_batch, pad_to_multiple, to_batch


def appearance(image: np.ndarray) -> np.ndarray:
    """(6,): mean and std of R, G, B over the image (HxWx3 in [0, 1])."""
    flat = image.reshape(-1, 3)
    return np.concatenate([flat.mean(0), flat.std(0)])


def read(path: Path) -> np.ndarray:
    return read_image(path)[0]


def translate(backend: Backend, images: list[np.ndarray]) -> list[np.ndarray]:
    """Equal-sized HxWx3 images through a (code-bound) backend, cropped back to their size."""
    height, width = images[0].shape[:2]
    p = backend.preprocess
    batch = to_batch([pad_to_multiple(image, p.multiple_of, p.min_size) for image in images])
    return [out[:height, :width] for out in from_batch(backend.run(batch))]


def nearest(feature: np.ndarray, centroids: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(centroids - feature, axis=1)))


def save_grid(path: Path, rows: list[list[np.ndarray | None]], scale: int = 3) -> None:
    """Rows of equal-sized tiles (None = white), 2 px gaps, nearest-neighbour enlarged ×`scale`."""
    height, width = next(t for row in rows for t in row if t is not None).shape[:2]
    gap = 2
    grid = np.ones((len(rows) * (height + gap) - gap, max(map(len, rows)) * (width + gap) - gap, 3), np.float32)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            if tile is not None:
                grid[r * (height + gap):r * (height + gap) + height, c * (width + gap):c * (width + gap) + width] = tile
    write_image(path, grid.repeat(scale, 0).repeat(scale, 1))
