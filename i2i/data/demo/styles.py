"""Built-in unpaired demo data set for MUNIT: outline drawings → shapes painted in one of 5 styles.

Domain `outline`: dark outlines of 1-3 random shapes on white, greyscale (no colour at all).
Domain `painted`: scenes of the same kind, shapes filled and outlined in ONE of `PALETTES` (background,
fill, outline colours), drawn at random per image.

Why: MUNIT's point is that one input has several right answers. An outline says nothing about colour,
so the palette of its painting is pure "style": a model that learned the task must give different,
each plausible, palettes for different style codes — and a single-answer model (CycleGAN) can only
give one, or their blurry average. The palettes differ strongly in background AND fill, so the
palette of an output can be read off its mean colour (`palettes.csv` lists the true one per image).

The training split is unpaired (independent random streams per domain); the test split is paired —
scene k drawn in both domains under the same file name, palette k mod 5 so that every palette appears —
for scoring the content against ground truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from i2i.data.demo.shapes import (
    SUPERSAMPLE,
    _edges,
    _save_atomic,
    domain_folders,
    random_shape,
    remove_stale_images,
    save_png,
)

DOMAINS: tuple[str, str] = ("outline", "painted")
# name → (background, shape fill, outline) RGB. Every pair differs by >= 100 in some channel of both
# the background and the fill, so image mean colours cluster by palette whatever the shapes' area.
PALETTES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "cream-red": ((245, 235, 205), (205, 35, 35), (70, 15, 15)),
    "navy-yellow": ((20, 30, 110), (250, 220, 30), (245, 245, 245)),
    "green-white": ((25, 110, 45), (245, 245, 245), (10, 35, 15)),
    "pink-blue": ((240, 130, 185), (35, 70, 215), (20, 20, 70)),
    "black-orange": ((12, 12, 12), (240, 110, 10), (250, 225, 185)),
}
PALETTE_NAMES: tuple[str, ...] = tuple(PALETTES)
OUTLINE_INK, OUTLINE_PAPER = 20, 255   # grey levels of the `outline` domain's lines and background
SPLITS = {"train": 0, "test": 1}


def _scene(rng: np.random.Generator, S: int) -> np.ndarray:
    """Label map of 1-3 random shapes at the supersampled side S: 0 = background, i+1 = shape i."""
    labels = np.zeros((S, S), np.int32)
    for i in range(int(rng.integers(1, 4))):
        _, _, mask = random_shape(rng, S, (0.16, 0.32))
        labels[mask] = i + 1
    return labels


def _downsample(image: np.ndarray, size: int) -> np.ndarray:
    """Box filter from the supersampled canvas: antialiased lines and edges."""
    mode = "L" if image.ndim == 2 else "RGB"
    small = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), mode).resize(
        (size, size), Image.Resampling.BOX)
    return np.asarray(small.convert("RGB"))


def render_scene(rng: np.random.Generator, size: int,
                 palette: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One scene from `rng` in both domains: (outline, painted) uint8 arrays of shape (size, size, 3).

    `palette` indexes `PALETTE_NAMES`; None draws it from `rng` after the scene, so the scene itself
    does not depend on whether the palette was given.
    """
    S = size * SUPERSAMPLE
    labels = _scene(rng, S)
    if palette is None:
        palette = int(rng.integers(len(PALETTES)))
    background, fill, ink = (np.array(c, np.float32) for c in PALETTES[PALETTE_NAMES[palette]])
    # Lines ~size/32 px wide (1 px at 32, 2 px at 64): _edges marks both sides of a label change
    # (2 supersampled px) and widens by `radius` each way.
    line = _edges(labels, radius=max(1, round((S / 32 - 2) / 2)))
    # Greyscale rendered as L then expanded, so R = G = B exactly: the outline domain has no colour.
    outline = _downsample(np.where(line, np.float32(OUTLINE_INK), np.float32(OUTLINE_PAPER)), size)
    painted = np.where((labels > 0)[..., None], fill, background)
    painted[line] = ink
    return outline, _downsample(painted, size)


def _palettes_csv(names: list[str]) -> bytes:
    return ("file,palette\n" + "".join(f"{k:05d}.png,{name}\n" for k, name in enumerate(names))).encode()


def make_styles(out_dir: str | Path, *, seed: int = 0, num_train: int = 400, num_test: int = 50,
                size: int = 64) -> dict[str, int]:
    """Write `out_dir/{outline,painted}/{train,test}/NNNNN.png`, `painted/{train,test}/palettes.csv`
    and `out_dir/README.txt`.

    Train image k of a domain is a pure function of (seed, split, domain, k); test image k of both
    domains is the same scene, a function of (seed, split, k), painted with palette k mod 5. Returns
    the number of images per split and domain.
    """
    if size < 32:
        raise ValueError(f"size must be >= 32 (outlines are size/32 px wide), got {size}")
    out = Path(out_dir)
    counts = domain_folders(out, DOMAINS, num_train, num_test)
    train_palettes = []
    for k in range(num_train):
        # Independent scenes per domain: nothing pairs the training images.
        outline = render_scene(np.random.default_rng([seed, SPLITS["train"], 0, k]), size)[0]
        save_png(out / "outline" / "train" / f"{k:05d}.png", outline)
        rng = np.random.default_rng([seed, SPLITS["train"], 1, k])
        palette = int(rng.integers(len(PALETTES)))
        save_png(out / "painted" / "train" / f"{k:05d}.png", render_scene(rng, size, palette)[1])
        train_palettes.append(PALETTE_NAMES[palette])
    test_palettes = []
    for k in range(num_test):
        palette = k % len(PALETTES)   # cycle, so every palette is in the test split equally often
        outline, painted = render_scene(np.random.default_rng([seed, SPLITS["test"], k]), size, palette)
        save_png(out / "outline" / "test" / f"{k:05d}.png", outline)
        save_png(out / "painted" / "test" / f"{k:05d}.png", painted)
        test_palettes.append(PALETTE_NAMES[palette])
    _save_atomic(out / "painted" / "train" / "palettes.csv", _palettes_csv(train_palettes))
    _save_atomic(out / "painted" / "test" / "palettes.csv", _palettes_csv(test_palettes))
    for domain in DOMAINS:
        for split, n in counts.items():
            remove_stale_images(out / domain / split, n)
    palettes = "\n".join(f"   {name}: background {bg}, fill {fill}, outline {ink}"
                         for name, (bg, fill, ink) in PALETTES.items())
    readme = (
        "i2i demo styles: unpaired multimodal (MUNIT) data set, domains `outline` and `painted`.\n"
        "outline: dark greyscale outlines of 1-3 random shapes (ellipse, rectangle, triangle, star)\n"
        "   on white.\n"
        "painted: the same kind of scene, shapes filled and outlined in one of 5 palettes (RGB):\n"
        f"{palettes}\n"
        "An outline image has one right answer per palette: the palette is the style.\n"
        "train/: unpaired (independent scenes per domain). test/: paired (same scene, same file name),\n"
        "   palette = image number mod 5. painted/*/palettes.csv: the palette of every painted image.\n"
        f"Generated by i2i.data.demo.styles.make_styles(seed={seed}, size={size}).\n"
        f"Images per domain: train={num_train}, test={num_test}; {size}x{size} RGB PNG.\n"
        "Train: i2i train munit --data DIR --domains outline painted\n"
    )
    _save_atomic(out / "README.txt", readme.encode())
    return counts
