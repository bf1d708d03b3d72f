"""Built-in unpaired demo data set for CycleGAN: "horse2zebra" in miniature.

Domain `plain`: 1-3 flat-coloured shapes on a flat pale background. Domain `striped`: scenes of the
same kind whose shapes carry dark stripes that follow their outline, like a zebra's — band k of a
shape is dark when floor(d / width) is odd, d being the distance to the shape's visible edge.

Why contour stripes: a translation network is (nearly) translation-equivariant, so it cannot place
stripes at an absolute image phase; stripes anchored to the shape's edge are a local function of the
plain image, which makes the ground truth learnable and the held-out error meaningful.

The training split is unpaired (the two domains are drawn from independent random streams); the test
split is paired — the same scene rendered in both domains under the same file name — so translation
error against ground truth can be measured (`i2i eval`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from i2i.data.demo.shapes import (
    SUPERSAMPLE,
    _save_atomic,
    domain_folders,
    random_shape,
    remove_stale_images,
    save_png,
)

DOMAINS: tuple[str, str] = ("plain", "striped")
SHAPE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (225, 90, 50),    # orange
    (60, 110, 220),   # blue
    (60, 180, 80),    # green
    (230, 200, 40),   # yellow
    (190, 70, 190),   # purple
    (200, 150, 100),  # tan (a "horse")
)
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((235, 235, 225), (215, 230, 240), (240, 225, 210))
STRIPE_DARKNESS = 0.15            # a dark band keeps 15% of the shape's colour (zebra-black on colour)
STRIPE_WIDTH = 1 / 16             # band width as a fraction of the image side (2 px at 32 px, 4 at 64)
SPLITS = {"train": 0, "test": 1}


def _scene(rng: np.random.Generator, S: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(label map with 0 = background and i+1 = shape i, background colour, colour index per shape)."""
    labels = np.zeros((S, S), np.int32)
    colours = []
    for i in range(int(rng.integers(1, 4))):
        _, _, mask = random_shape(rng, S, (0.16, 0.32))
        labels[mask] = i + 1
        colours.append(int(rng.integers(len(SHAPE_COLOURS))))
    background = np.array(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], np.float32)
    return labels, background, colours


def _stripes(labels: np.ndarray, size: int) -> np.ndarray:
    """Boolean map of the dark bands: odd bands of each shape's distance-to-visible-edge."""
    S = labels.shape[0]
    width = STRIPE_WIDTH * S
    dark = np.zeros(labels.shape, bool)
    for value in np.unique(labels[labels > 0]):
        mask = (labels == value).astype(np.uint8)
        # Distance to the nearest pixel outside this shape's visible region (image borders count as
        # inside, so a shape cut by the border is striped along its visible outline only).
        distance = cv2.distanceTransform(np.pad(mask, 1, constant_values=1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        dark |= (mask > 0) & (np.floor(distance / width).astype(np.int64) % 2 == 1)
    return dark


def render_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene from `rng` in both domains: (plain, striped) uint8 arrays of shape (size, size, 3)."""
    S = size * SUPERSAMPLE
    labels, background, colours = _scene(rng, S)
    plain = np.broadcast_to(background, (S, S, 3)).copy()
    for i, colour in enumerate(colours):
        plain[labels == i + 1] = SHAPE_COLOURS[colour]
    striped = plain.copy()
    striped[_stripes(labels, size)] *= STRIPE_DARKNESS

    def downsample(image: np.ndarray) -> np.ndarray:  # box filter: antialiased edges and stripes
        return np.asarray(Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), "RGB")
                          .resize((size, size), Image.Resampling.BOX))

    return downsample(plain), downsample(striped)


def make_stripes(out_dir: str | Path, *, seed: int = 0, num_train: int = 400, num_test: int = 50,
                 size: int = 64) -> dict[str, int]:
    """Write `out_dir/{plain,striped}/{train,test}/NNNNN.png` plus `out_dir/README.txt`.

    Train image k of a domain is a pure function of (seed, split, domain, k); test image k of both
    domains is the same scene, a function of (seed, split, k). Returns the number of images per split
    and domain.
    """
    if size < 32:
        raise ValueError(f"size must be >= 32 (stripes are {STRIPE_WIDTH * 64:g} px per 64 px), got {size}")
    out = Path(out_dir)
    counts = domain_folders(out, DOMAINS, num_train, num_test)
    for k in range(num_train):
        for d, domain in enumerate(DOMAINS):
            # Independent scenes per domain: nothing pairs the training images.
            scene = render_scene(np.random.default_rng([seed, SPLITS["train"], d, k]), size)
            save_png(out / domain / "train" / f"{k:05d}.png", scene[d])
    for k in range(num_test):
        scene = render_scene(np.random.default_rng([seed, SPLITS["test"], k]), size)
        for d, domain in enumerate(DOMAINS):
            save_png(out / domain / "test" / f"{k:05d}.png", scene[d])
    for domain in DOMAINS:
        for split, n in counts.items():
            remove_stale_images(out / domain / split, n)
    readme = (
        "i2i demo stripes: unpaired CycleGAN data set, domains `plain` and `striped`.\n"
        "plain: 1-3 flat-coloured shapes (ellipse, rectangle, triangle, star) on a flat pale background.\n"
        f"striped: the same kind of scene; each shape has dark bands ({STRIPE_DARKNESS:.0%} of its colour)\n"
        f"   following its visible outline, each {STRIPE_WIDTH * size:g} px wide.\n"
        "train/: unpaired (independent scenes per domain). test/: paired (same scene, same file name).\n"
        f"Generated by i2i.data.demo.stripes.make_stripes(seed={seed}, size={size}).\n"
        f"Images per domain: train={num_train}, test={num_test}; {size}x{size} RGB PNG.\n"
        "Train: i2i train cyclegan --data DIR --domains plain striped\n"
    )
    _save_atomic(out / "README.txt", readme.encode())
    return counts
