"""Built-in paired demo data set for pix2pix: outline drawings (A) -> shaded coloured shapes (B).

Every choice here serves one goal: the mapping A -> B must be (nearly) a function of A, so a small
U-Net can learn it in minutes on a CPU. Hence the fill colour depends only on the shape kind (which
the outline's geometry reveals), the shading and the background follow fixed rules, and A's lines
are derived from B's visible label map so both images always show the same occlusion.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i2i.files import atomic_write

KINDS: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "star")
# Max channel <= 221 so the brightest shading (x1.15) never clips and hue stays exactly the palette's.
PALETTE: dict[str, tuple[int, int, int]] = {
    "ellipse": (220, 80, 40),     # red-orange
    "rectangle": (45, 95, 215),   # blue
    "triangle": (50, 170, 70),    # green
    "star": (220, 190, 30),       # yellow
}
BG_TOP = (200, 212, 228)          # light blue-grey
BG_BOTTOM = (240, 232, 210)       # pale beige
SHADE_HI, SHADE_LO = 1.15, 0.65   # brightness at a shape's top-left / bottom-right bbox corner
SUPERSAMPLE = 4                   # draw at 4x, box-downsample: antialiased edges in A and B alike
SPLITS = {"train": 0, "test": 1}  # split id enters the seed, so train and test never share a stream


def background(height: int, width: int) -> np.ndarray:
    """Return B's background: the same soft vertical gradient for every image, float32 HxWx3 in 0..255."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    row = (1 - t) * np.array(BG_TOP, np.float32) + t * np.array(BG_BOTTOM, np.float32)
    return np.broadcast_to(row, (height, width, 3)).copy()


def shape_polygon(kind: str, rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Vertices (N x 2) of one randomly proportioned and rotated shape of radius ~r around (cx, cy)."""
    if kind == "ellipse":
        a = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        pts = np.stack([np.cos(a), rng.uniform(0.6, 1.0) * np.sin(a)], 1)
    elif kind == "rectangle":
        h = rng.uniform(0.5, 1.0) * 0.75
        pts = np.array([[-0.75, -h], [0.75, -h], [0.75, h], [-0.75, h]])
    elif kind == "triangle":
        # Jitter the corners a little, but not so much that a triangle could pass for anything else.
        a = np.deg2rad([90, 210, 330]) + rng.uniform(-0.2, 0.2, 3)
        pts = np.stack([np.cos(a), np.sin(a)], 1)
    else:  # 5-point star
        a = np.linspace(0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([rad * np.cos(a), rad * np.sin(a)], 1)
    th = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return pts @ rot.T * r + (cx, cy)


def random_shape(rng: np.random.Generator, S: int, radius: tuple[float, float]) -> tuple[str, np.ndarray, np.ndarray]:
    """(kind, vertices, S×S boolean mask) of one random shape whose radius is `radius` × S, fully inside."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    r = rng.uniform(*radius) * S
    cx, cy = rng.uniform(r, S - r, 2)
    poly = shape_polygon(kind, rng, cx, cy, r)
    img = Image.new("L", (S, S), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in poly], fill=1)
    return kind, poly, np.asarray(img, bool)


def _layout(rng: np.random.Generator, S: int) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Random shapes (drawn in order, later on top); label map 0 = background, i+1 = shape i."""
    # Retry until every shape keeps >= 45% of its area visible: a sliver's kind (and so its colour)
    # cannot be read from the outline, which would make the mapping ambiguous.
    while True:
        labels = np.zeros((S, S), np.int32)
        polys, kinds, areas = [], [], []
        for i in range(int(rng.integers(1, 4))):
            kind, poly, mask = random_shape(rng, S, (0.14, 0.30))
            labels[mask] = i + 1
            polys.append(poly)
            kinds.append(kind)
            areas.append(mask.sum())
        visible = np.bincount(labels.ravel(), minlength=len(kinds) + 1)[1:]
        if all(v >= 0.45 * a for v, a in zip(visible, areas)):
            return labels, polys, kinds


def _edges(labels: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` of a change in the label map (visible boundaries only)."""
    e = np.zeros(labels.shape, bool)
    e[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    e[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    e[1:, :] |= labels[1:, :] != labels[:-1, :]
    e[:-1, :] |= labels[1:, :] != labels[:-1, :]
    out = e.copy()
    pad = np.pad(e, radius)
    H, W = e.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy <= radius * radius:
                out |= pad[radius + dy:radius + dy + H, radius + dx:radius + dx + W]
    return out


def render_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one pair from `rng`: (A, B) as uint8 arrays of shape (size, size, 3).

    A: near-black antialiased outlines (~1.5 px) of the visible shape boundaries on white.
    B: the same shapes filled by kind colour, lit from the top-left, on the fixed gradient.
    """
    S = size * SUPERSAMPLE
    labels, polys, kinds = _layout(rng, S)
    b = background(S, S)
    for i, (poly, kind) in enumerate(zip(polys, kinds)):
        ys, xs = np.nonzero(labels == i + 1)
        (x0, y0), (x1, y1) = poly.min(0), poly.max(0)
        # Position along the full shape's bbox diagonal, so occlusion doesn't change the lighting.
        t = np.clip(((xs - x0) + (ys - y0)) / ((x1 - x0) + (y1 - y0)), 0, 1)
        shade = (SHADE_HI + (SHADE_LO - SHADE_HI) * t).astype(np.float32)
        b[ys, xs] = np.array(PALETTE[kind], np.float32) * shade[:, None]
    line = _edges(labels, radius=max(1, round(2 * size / 64)))
    a = np.where(line, np.uint8(20), np.uint8(255))
    img_a = Image.fromarray(a, "L").resize((size, size), Image.Resampling.BOX).convert("RGB")
    img_b = Image.fromarray(np.clip(b + 0.5, 0, 255).astype(np.uint8), "RGB")
    img_b = img_b.resize((size, size), Image.Resampling.BOX)
    return np.asarray(img_a), np.asarray(img_b)


def _save_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temporary: temporary.write_bytes(data), suffix=path.suffix, durable=False)


def remove_stale_images(folder: Path, count: int) -> None:
    """Delete the numbered images `NNNNN.png` at or beyond `count` in `folder`: a rerun of a demo with
    smaller counts must not leave images of the previous run behind (other files are kept)."""
    for p in folder.iterdir():
        if re.fullmatch(r"\d{5,}\.png", p.name) and int(p.stem) >= count:
            p.unlink()


def domain_folders(out: Path, domains: tuple[str, ...], num_train: int, num_test: int) -> dict[str, int]:
    """Check the counts, create `out/<domain>/{train,test}/` for the unpaired sets, and return
    {split: count}."""
    if num_train < 0 or num_test < 0:
        raise ValueError("num_train and num_test must be >= 0")
    counts = {"train": num_train, "test": num_test}
    for domain in domains:
        for split in counts:
            (out / domain / split).mkdir(parents=True, exist_ok=True)
    return counts


def save_png(path: Path, arr: np.ndarray) -> None:
    """Write an RGB uint8 array as PNG, atomically (demo sets are rewritten in place on reruns)."""
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    _save_atomic(path, buf.getvalue())


def make_shapes(out_dir: str | Path, *, seed: int = 0, num_train: int = 400, num_test: int = 50,
                size: int = 64) -> dict[str, int]:
    """Write the demo set to `out_dir/{train,test}/{A,B}/NNNNN.png` plus `out_dir/README.txt`.

    Image k of a split is a pure function of (seed, split, k), so reruns are byte-identical and
    train/test draw from disjoint random streams. Returns the number of pairs per split.
    """
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    if num_train < 0 or num_test < 0:
        raise ValueError("num_train and num_test must be >= 0")
    out = Path(out_dir)
    counts = {"train": num_train, "test": num_test}
    for split, n in counts.items():
        for side in ("A", "B"):
            (out / split / side).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            rng = np.random.default_rng([seed, SPLITS[split], k])
            a, b = render_pair(rng, size)
            name = f"{k:05d}.png"
            save_png(out / split / "A" / name, a)
            save_png(out / split / "B" / name, b)
        for side in ("A", "B"):
            remove_stale_images(out / split / side, n)
    readme = (
        "i2i demo shapes: paired pix2pix data set (A -> B).\n"
        "A: dark outlines of 1-3 random shapes (ellipse, rectangle, triangle, 5-point star) on white.\n"
        "B: the same shapes filled by kind (ellipse red-orange, rectangle blue, triangle green,\n"
        "   star yellow), lit from the top-left, on a blue-grey to beige vertical gradient.\n"
        f"Generated by i2i.data.demo.shapes.make_shapes(seed={seed}, size={size}).\n"
        f"Pairs: train={num_train}, test={num_test}; {size}x{size} RGB PNG.\n"
    )
    _save_atomic(out / "README.txt", readme.encode())
    return counts
