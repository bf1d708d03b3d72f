"""Tests for the built-in paired `shapes` demo set (i2i.data.demo.shapes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.data.demo.shapes import PALETTE, background, make_shapes, render_pair


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    pad = np.pad(mask, r)
    h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= pad[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def _colour_edges(img: np.ndarray, thresh: float = 15.0) -> np.ndarray:
    x = img.astype(float)
    e = np.zeros(img.shape[:2], bool)
    dx = np.abs(x[:, 1:] - x[:, :-1]).max(-1) > thresh
    dy = np.abs(x[1:] - x[:-1]).max(-1) > thresh
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    e[1:] |= dy
    e[:-1] |= dy
    return e


def _pairs(n: int = 24, size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    return [render_pair(np.random.default_rng([123, k]), size) for k in range(n)]


def test_same_seed_is_byte_identical(tmp_path: Path) -> None:
    make_shapes(tmp_path / "a", seed=7, num_train=5, num_test=2)
    make_shapes(tmp_path / "b", seed=7, num_train=5, num_test=2)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa == fb
    assert not any(Path(k).name.startswith(".tmp") for k in fa)  # atomic writes leave no temp files


def test_different_seed_differs(tmp_path: Path) -> None:
    make_shapes(tmp_path / "a", seed=0, num_train=4, num_test=1)
    make_shapes(tmp_path / "b", seed=1, num_train=4, num_test=1)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa.keys() == fb.keys()
    pngs = [k for k in fa if k.endswith(".png")]
    assert all(fa[k] != fb[k] for k in pngs)


def test_counts_sizes_modes_and_readme(tmp_path: Path) -> None:
    counts = make_shapes(tmp_path, seed=3, num_train=6, num_test=3, size=48)
    assert counts == {"train": 6, "test": 3}
    for split, n in counts.items():
        names_a = sorted(p.name for p in (tmp_path / split / "A").iterdir())
        names_b = sorted(p.name for p in (tmp_path / split / "B").iterdir())
        assert names_a == names_b == [f"{k:05d}.png" for k in range(n)]
        for side in ("A", "B"):
            for name in names_a:
                with Image.open(tmp_path / split / side / name) as im:
                    assert (im.format, im.mode, im.size) == ("PNG", "RGB", (48, 48))
    readme = (tmp_path / "README.txt").read_text()
    assert "seed=3" in readme and "train=6" in readme and "test=3" in readme


def test_rerun_with_fewer_images_removes_stale_pairs(tmp_path: Path) -> None:
    make_shapes(tmp_path, num_train=5, num_test=2)
    make_shapes(tmp_path, num_train=3, num_test=1)
    assert len(list((tmp_path / "train" / "A").iterdir())) == 3
    assert len(list((tmp_path / "test" / "B").iterdir())) == 1


def test_train_and_test_share_no_image(tmp_path: Path) -> None:
    make_shapes(tmp_path, seed=0, num_train=60, num_test=15)

    def digests(split: str) -> set[str]:
        return {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / split).rglob("*.png")}

    train, test = digests("train"), digests("test")
    assert len(train) == 120 and len(test) == 30  # no duplicates inside a split either
    assert not train & test


def test_render_pair_arrays() -> None:
    a, b = render_pair(np.random.default_rng(0), 64)
    assert a.shape == b.shape == (64, 64, 3) and a.dtype == b.dtype == np.uint8
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()  # A is grey
    assert a.min() < 60 and a.max() == 255  # dark lines on white
    assert 0.03 < (a[..., 0] < 128).mean() < 0.4  # thin outlines, not fills


def test_a_and_b_share_geometry() -> None:
    near_b, near_a = [], []
    for a, b in _pairs():
        line = a[..., 0] < 128
        # 15 clears the smooth shading and background steps (< 5 per px) but still catches the
        # boundary between two overlapping shapes of the same kind, which differ only in shading.
        edges = _colour_edges(b)
        assert line.any() and edges.any()
        near_b.append(_dilate(edges, 2)[line].mean())  # A's lines lie on B's colour edges...
        near_a.append(_dilate(line, 2)[edges].mean())  # ...and B's colour edges are all outlined in A
    assert min(near_b) > 0.9 and np.mean(near_b) > 0.98
    assert min(near_a) > 0.95


def test_fill_colour_is_palette_times_shading() -> None:
    palette = np.array(list(PALETTE.values()), float)
    bg = background(64, 64)
    used = set()
    for a, b in _pairs():
        # Where A is pure white no line touches the 4x4 source block, so B there is one region only.
        inside = a[..., 0] == 255
        x = b[inside].astype(float)
        is_bg = np.abs(x - bg[inside]).max(-1) <= 3
        fill = x[~is_bg]
        # Best scalar s per (pixel, palette colour): fill ~= s * colour with s in the shading range.
        s = np.clip(fill @ palette.T / (palette**2).sum(1), 0.6, 1.2)
        err = np.abs(fill[:, None, :] - s[..., None] * palette[None]).max(-1)
        assert (err.min(1) <= 3).all(), err.min(1).max()
        used |= set(err.argmin(1).tolist())
        # Fills span a real light-to-dark range inside each image (the shading is visible).
        if len(fill) > 50:
            assert np.ptp(s[np.arange(len(fill)), err.argmin(1)]) > 0.15
    assert used == set(range(len(palette)))  # every kind's colour shows up


@pytest.mark.parametrize("bad", [{"size": 8}, {"num_train": -1}])
def test_rejects_bad_arguments(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ValueError):
        make_shapes(tmp_path, **bad)
