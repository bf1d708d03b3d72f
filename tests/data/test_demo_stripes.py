"""The built-in unpaired `stripes` set (i2i.data.demo.stripes): determinism, paired test split,
unpaired training split, stripes inside the shapes only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from i2i.data.demo.stripes import DOMAINS, STRIPE_DARKNESS, make_stripes, render_scene
from i2i.data.unpaired import find_domain_files, matched_test_pairs


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32)


def test_same_seed_same_bytes_and_layout_i2i_reads(tmp_path):
    make_stripes(tmp_path / "a", seed=3, num_train=4, num_test=2, size=32)
    make_stripes(tmp_path / "b", seed=3, num_train=4, num_test=2, size=32)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    make_stripes(tmp_path / "c", seed=4, num_train=4, num_test=2, size=32)
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    files = find_domain_files(tmp_path / "a", list(DOMAINS), "train")
    assert [len(files[d]) for d in DOMAINS] == [4, 4]
    assert len(matched_test_pairs(tmp_path / "a", list(DOMAINS), "plain", "striped", "test")) == 2


def test_rerun_with_fewer_images_leaves_no_stale_files(tmp_path):
    make_stripes(tmp_path, num_train=5, num_test=3, size=32)
    make_stripes(tmp_path, num_train=2, num_test=1, size=32)
    assert sorted(p.name for p in (tmp_path / "striped" / "train").iterdir()) == ["00000.png", "00001.png"]
    assert [p.name for p in (tmp_path / "plain" / "test").iterdir()] == ["00000.png"]


def test_test_split_is_the_same_scene_with_dark_bands_inside_the_shapes(tmp_path):
    make_stripes(tmp_path, num_train=0, num_test=6, size=64)
    darkened_fractions = []
    for k in range(6):
        plain = _read(tmp_path / "plain" / "test" / f"{k:05d}.png")
        striped = _read(tmp_path / "striped" / "test" / f"{k:05d}.png")
        background = plain[0, 0]
        is_background = np.abs(plain - background).max(-1) < 1
        # Outside the shapes the two renderings are identical; inside, stripes only ever darken.
        assert np.array_equal(plain[is_background], striped[is_background])
        assert (striped <= plain + 1).all()
        shape = ~is_background
        dark = shape & (striped.sum(-1) < 0.5 * plain.sum(-1))
        darkened_fractions.append(dark.sum() / shape.sum())
        # Fully dark band pixels keep STRIPE_DARKNESS of the shape colour.
        ratio = striped[dark].sum(-1) / plain[dark].sum(-1)
        assert np.median(ratio) < STRIPE_DARKNESS + 0.05
    assert 0.2 < np.mean(darkened_fractions) < 0.6      # bands: roughly every other distance ring


def test_outline_band_is_light_and_the_next_band_dark():
    """Bands are rings of the distance to the shape's edge: d < w light, w ≤ d < 2w dark."""
    plain, striped = render_scene(np.random.default_rng(11), 64)
    shape = np.abs(plain.astype(int) - plain[0, 0]).max(-1) > 0
    import cv2
    distance = cv2.distanceTransform(np.pad(shape.astype(np.uint8), 1, constant_values=1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    darker = striped.astype(int).sum(-1) < 0.5 * plain.astype(int).sum(-1)
    width = 64 / 16
    assert darker[shape & (distance < width - 1)].mean() < 0.1
    assert darker[shape & (distance > width + 1) & (distance < 2 * width - 1)].mean() > 0.9


def test_training_split_is_unpaired(tmp_path):
    make_stripes(tmp_path, num_train=8, num_test=0, size=32)
    same_scene = 0
    for k in range(8):
        plain = _read(tmp_path / "plain" / "train" / f"{k:05d}.png")
        striped = _read(tmp_path / "striped" / "train" / f"{k:05d}.png")
        same_background = np.array_equal(plain[0, 0], striped[0, 0])
        same_outline = (np.abs(plain - plain[0, 0]).max(-1) > 0).tolist() == (np.abs(striped - striped[0, 0]).max(-1) > 0).tolist()
        same_scene += same_background and same_outline
    assert same_scene == 0
