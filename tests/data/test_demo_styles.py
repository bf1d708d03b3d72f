"""The built-in multimodal `styles` set (i2i.data.demo.styles): determinism, layout, paired test
split, palettes.csv, palette clusters, colourless outlines, the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.demo.styles import DOMAINS, PALETTE_NAMES, PALETTES, make_styles, render_scene
from i2i.data.unpaired import find_domain_files, matched_test_pairs


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32)


def _palettes(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "palette"]
    return [(row[0], row[1]) for row in rows[1:]]


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    pad = np.pad(mask, r)
    h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= pad[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def test_same_seed_same_bytes_and_layout_i2i_reads(tmp_path):
    make_styles(tmp_path / "a", seed=3, num_train=3, num_test=2, size=32)
    make_styles(tmp_path / "b", seed=3, num_train=3, num_test=2, size=32)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    make_styles(tmp_path / "c", seed=4, num_train=3, num_test=2, size=32)
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    for split, n in (("train", 3), ("test", 2)):
        files = find_domain_files(tmp_path / "a", list(DOMAINS), split)
        assert [len(files[d]) for d in DOMAINS] == [n, n]
    assert len(matched_test_pairs(tmp_path / "a", list(DOMAINS), "outline", "painted", "test")) == 2
    assert "i2i train munit" in (tmp_path / "a" / "README.txt").read_text()


def test_rerun_with_fewer_images_leaves_no_stale_files(tmp_path):
    make_styles(tmp_path, num_train=4, num_test=3, size=32)
    make_styles(tmp_path, num_train=2, num_test=1, size=32)
    assert sorted(p.name for p in (tmp_path / "outline" / "train").iterdir()) == ["00000.png", "00001.png"]
    assert sorted(p.name for p in (tmp_path / "painted" / "test").iterdir()) == ["00000.png", "palettes.csv"]
    assert len(_palettes(tmp_path / "painted" / "train" / "palettes.csv")) == 2


def test_palettes_csv_cycles_in_test_and_names_the_drawn_background(tmp_path):
    make_styles(tmp_path, num_train=12, num_test=10, size=32)
    test = _palettes(tmp_path / "painted" / "test" / "palettes.csv")
    assert test == [(f"{k:05d}.png", PALETTE_NAMES[k % 5]) for k in range(10)]
    train = _palettes(tmp_path / "painted" / "train" / "palettes.csv")
    assert [f for f, _ in train] == [f"{k:05d}.png" for k in range(12)]
    assert len({p for _, p in train}) >= 2        # drawn at random, not one fixed palette
    # Shapes lie fully inside the image, so the corner pixel is the palette's exact background.
    for split, rows in (("train", train), ("test", test)):
        for name, palette in rows:
            corner = _read(tmp_path / "painted" / split / name)[0, 0]
            assert corner.tolist() == list(PALETTES[palette][0]), (split, name, palette)


def test_outline_images_have_no_colour(tmp_path):
    make_styles(tmp_path, num_train=4, num_test=3, size=32)
    for path in sorted((tmp_path / "outline").rglob("*.png")):
        image = _read(path)
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
        assert image.max() == 255 and image.min() < 60    # white paper, dark lines
        assert (image[..., 0] == 255).mean() > 0.6        # mostly paper


def test_test_split_is_the_same_scene_outlined_and_painted(tmp_path):
    make_styles(tmp_path, num_train=0, num_test=5, size=64)
    names = dict(_palettes(tmp_path / "painted" / "test" / "palettes.csv"))

    def agrees(k_outline: int, k_painted: int) -> bool:
        outline = _read(tmp_path / "outline" / "test" / f"{k_outline:05d}.png")
        painted = _read(tmp_path / "painted" / "test" / f"{k_painted:05d}.png")
        background, fill, ink = (np.array(c, np.float32) for c in PALETTES[names[f"{k_painted:05d}.png"]])
        is_fill, is_background = (painted == fill).all(-1), (painted == background).all(-1)
        # Fill and background never touch: a line always lies between them.
        assert not (is_fill & _dilate(is_background, 1)).any()
        # Dark line cores are ink in the painting, within a pixel.
        dark = outline[..., 0] < 128
        nearest_ink = np.linalg.norm(painted - ink, axis=-1) < np.minimum(
            np.linalg.norm(painted - fill, axis=-1), np.linalg.norm(painted - background, axis=-1))
        assert dark.any()
        cores_are_ink = bool((dark <= _dilate(nearest_ink, 1)).all())
        # Any trace of line in the outline image <=> neither pure fill nor pure background in the painting.
        same_lines = bool(((outline[..., 0] < 255) == ~(is_fill | is_background)).all())
        return cores_are_ink and same_lines

    for k in range(5):
        assert agrees(k, k), k
    assert not agrees(0, 1) and not agrees(2, 3)   # other scenes do not line up


def test_painted_mean_colours_cluster_by_palette(tmp_path):
    make_styles(tmp_path, num_train=0, num_test=25, size=32)
    rows = _palettes(tmp_path / "painted" / "test" / "palettes.csv")
    means = np.array([_read(tmp_path / "painted" / "test" / f).reshape(-1, 3).mean(0) for f, _ in rows])
    labels = np.array([PALETTE_NAMES.index(p) for _, p in rows])
    centres = np.array([means[labels == i].mean(0) for i in range(len(PALETTES))])
    distance = np.linalg.norm(means[:, None] - centres[None], axis=-1)
    assert (distance.argmin(1) == labels).all()
    pairwise = np.linalg.norm(means[:, None] - means[None], axis=-1)
    same = (labels[:, None] == labels[None]) & ~np.eye(len(labels), dtype=bool)
    different = labels[:, None] != labels[None]
    assert pairwise[same].mean() * 3 < pairwise[different].mean()


def test_render_scene_palette_is_style_only():
    """The same rng state gives the same outline whatever the palette; palettes change the painting."""
    outline_a, painted_a = render_scene(np.random.default_rng(5), 32, 0)
    outline_b, painted_b = render_scene(np.random.default_rng(5), 32, 3)
    assert np.array_equal(outline_a, outline_b)
    assert np.abs(painted_a.astype(int) - painted_b.astype(int)).mean() > 50


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 31}, "size must be >= 32"),
    ({"num_train": -1}, "must be >= 0"),
    ({"num_test": -2}, "must be >= 0"),
])
def test_invalid_arguments_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_styles(tmp_path, **{"num_train": 1, "num_test": 1, "size": 32, **kwargs})


def test_cli_writes_styles(tmp_path):
    result = CliRunner().invoke(app, ["data", "demo", "styles", str(tmp_path / "s"), "--num-train", "2",
                                      "--num-test", "1", "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "wrote styles to" in result.output and "train 2 images per domain" in result.output
    assert len(list((tmp_path / "s" / "painted" / "train").glob("*.png"))) == 2
    bad = CliRunner().invoke(app, ["data", "demo", "styles", str(tmp_path / "t"), "--size", "16"])
    assert bad.exit_code == 2 and "size must be >= 32" in bad.output
