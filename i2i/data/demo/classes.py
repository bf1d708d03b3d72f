"""Built-in demo data set for FUNIT: many appearance classes over the same kind of shapes.

A class is (background colour, fill colour, texture): every image of class c shows 1-3 random shapes
filled with c's colour and texture on c's background. FUNIT learns to translate the content (the
shapes) of an image of one class into the appearance of another class given only a few images of
it, and is judged on classes it never saw in training; so the last `num_held_out` classes are
written under `unseen/`, apart from the training classes under `train/`.

Class colours: class i has hue (i / n + a seed-dependent offset) around the wheel, backgrounds
alternately light and dark; background and fill share the hue. Sharing the hue keeps each class's
image mean colours on a short line (background → fill, the shapes' area varies) that no other
class's line comes near, so the class of an image — and of a translation — can be read off its
mean colour. Textures (flat, stripes, dots, checks) shade the fill and cycle independently of the
lightness, so neither colour alone nor texture alone names a class.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.data.demo.shapes import SUPERSAMPLE, _save_atomic, random_shape, remove_stale_images, save_png

CLASS_TEXTURES: tuple[str, ...] = ("flat", "stripes", "dots", "checks")
TEXTURE_SHADE = 0.6          # the texture's marks keep 60% of the fill's brightness
TEXTURE_PERIOD = 1 / 8       # stripes, dot grid and checks repeat every size/8 px (8 px at 64)
BRIGHTNESS_JITTER = 0.04     # each image's brightness × U(0.96, 1.04): classes are not one exact colour
SPLITS = {"train": 0, "unseen": 1}
# Shape radius (× side) by number of shapes: fewer shapes are larger, so the shapes' share of the image
# varies less and the image mean colour stays near its class's (the classes are told apart by it).
SHAPE_RADIUS = {1: (0.22, 0.32), 2: (0.17, 0.25), 3: (0.14, 0.21)}


@dataclass(frozen=True)
class ClassSpec:
    name: str                               # folder name: class00, class01, …
    background: tuple[int, int, int]        # RGB
    fill: tuple[int, int, int]              # RGB of the shapes (the texture's marks are a shade of it)
    texture: str                            # one of CLASS_TEXTURES


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def class_specs(num_classes: int, seed: int = 0) -> list[ClassSpec]:
    """The `num_classes` classes of the demo set for `seed` (a pure function of both)."""
    offset = float(np.random.default_rng([seed, 7]).uniform())   # the seed turns the hue wheel
    specs = []
    for i in range(num_classes):
        hue = offset + i / num_classes
        if i % 2 == 0:   # light: pale tint behind a strong colour
            background, fill = _rgb(hue, 0.4, 0.97), _rgb(hue, 0.9, 0.8)
        else:            # dark: deep shade behind a bright colour
            background, fill = _rgb(hue, 0.85, 0.4), _rgb(hue, 0.6, 0.97)
        # i // 2: light and dark classes each run through all textures.
        texture = CLASS_TEXTURES[(i // 2) % len(CLASS_TEXTURES)]
        specs.append(ClassSpec(f"class{i:02d}", background, fill, texture))
    return specs


def _texture_marks(texture: str, rng: np.random.Generator, S: int) -> np.ndarray:
    """Boolean S×S map of the texture's shaded marks (random phase per image)."""
    period = TEXTURE_PERIOD * S
    y, x = np.mgrid[0:S, 0:S].astype(np.float32) + rng.uniform(0, period, 2)[:, None, None].astype(np.float32)
    if texture == "stripes":    # diagonal bands, half a period each
        return ((x + y) / period) % 1.0 < 0.5
    if texture == "dots":       # a dot of radius period/4 at every grid cell's centre
        dx, dy = x % period - period / 2, y % period - period / 2
        return dx * dx + dy * dy <= (period / 4) ** 2
    if texture == "checks":
        return (np.floor(x / period) + np.floor(y / period)) % 2 == 1
    return np.zeros((S, S), bool)


def render_image(rng: np.random.Generator, size: int, spec: ClassSpec) -> np.ndarray:
    """One image of class `spec` from `rng`: uint8 array of shape (size, size, 3)."""
    S = size * SUPERSAMPLE
    inside = np.zeros((S, S), bool)
    count = int(rng.integers(1, 4))
    for _ in range(count):
        inside |= random_shape(rng, S, SHAPE_RADIUS[count])[2]
    fill = np.array(spec.fill, np.float32)
    image = np.broadcast_to(np.array(spec.background, np.float32), (S, S, 3)).copy()
    image[inside] = fill
    image[inside & _texture_marks(spec.texture, rng, S)] = fill * TEXTURE_SHADE
    image *= rng.uniform(1 - BRIGHTNESS_JITTER, 1 + BRIGHTNESS_JITTER)
    small = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), "RGB").resize(
        (size, size), Image.Resampling.BOX)   # box filter: antialiased edges and marks
    return np.asarray(small)


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _remove_stale(split_dir: Path, keep: dict[str, int]) -> None:
    """Delete numbered images a previous run left: beyond the count in kept class folders, all of
    them in class folders no longer in this split (fewer classes, or another held-out count)."""
    if not split_dir.is_dir():
        return
    for folder in split_dir.iterdir():
        if not (folder.is_dir() and re.fullmatch(r"class\d+", folder.name)):
            continue
        count = keep.get(folder.name, 0)
        remove_stale_images(folder, count)
        if count == 0 and not any(folder.iterdir()):
            folder.rmdir()


def make_classes(out_dir: str | Path, *, seed: int = 0, num_per_class: int = 40, num_classes: int = 16,
                 num_held_out: int = 4, size: int = 64) -> dict[str, int]:
    """Write `out_dir/train/classNN/NNNNN.png` (training classes), `out_dir/unseen/classNN/NNNNN.png`
    (the last `num_held_out` classes), `out_dir/classes.csv` and `out_dir/README.txt`.

    Image k of class c is a pure function of (seed, c's split, c, k). Returns the number of images
    per split ("train", "unseen").
    """
    if size < 32:
        raise ValueError(f"size must be >= 32 (textures repeat every size/8 px), got {size}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if not 0 <= num_held_out < num_classes - 1:
        raise ValueError(f"num_held_out must be between 0 and num_classes - 2 = {num_classes - 2} "
                         f"(training needs at least 2 classes), got {num_held_out}")
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be >= 1, got {num_per_class}")
    out = Path(out_dir)
    specs = class_specs(num_classes, seed)
    num_train_classes = num_classes - num_held_out
    split_of = {spec.name: "train" if i < num_train_classes else "unseen" for i, spec in enumerate(specs)}
    for i, spec in enumerate(specs):
        split = split_of[spec.name]
        folder = out / split / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(num_per_class):
            rng = np.random.default_rng([seed, SPLITS[split], i, k])
            save_png(folder / f"{k:05d}.png", render_image(rng, size, spec))
    for split in SPLITS:
        _remove_stale(out / split, {name: num_per_class for name, s in split_of.items() if s == split})
    rows = "".join(f"{s.name},{split_of[s.name]},{_hex(s.background)},{_hex(s.fill)},{s.texture}\n"
                   for s in specs)
    _save_atomic(out / "classes.csv", ("class,split,background,fill,texture\n" + rows).encode())
    example = specs[num_train_classes if num_held_out else 0]
    readme = (
        "i2i demo classes: few-shot (FUNIT) data set of appearance classes over random shapes.\n"
        "A class = background colour + fill colour + fill texture (flat, stripes, dots, checks); each image\n"
        "shows 1-3 random shapes (ellipse, rectangle, triangle, star) in the class's appearance.\n"
        f"train/classNN/: the {num_train_classes} training classes.\n"
        f"unseen/classNN/: the {num_held_out} held-out classes, never seen in training (few-shot targets).\n"
        "classes.csv: every class's colours and texture.\n"
        f"Generated by i2i.data.demo.classes.make_classes(seed={seed}, size={size}).\n"
        f"{num_per_class} images per class; {size}x{size} RGB PNG.\n"
        "Train: i2i train funit --data DIR\n"
        f"Translate into a class from a few of its images: i2i translate RUN content/ --out out/ "
        f"--class-images DIR/{split_of[example.name]}/{example.name}\n"
    )
    _save_atomic(out / "README.txt", readme.encode())
    return {"train": num_train_classes * num_per_class, "unseen": num_held_out * num_per_class}
