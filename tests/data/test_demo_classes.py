"""The built-in few-shot `classes` set (i2i.data.demo.classes): layout, classes.csv, held-out classes,
determinism, stale files, classes told apart by mean colour, textures, validation, the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.demo.classes import (
    CLASS_TEXTURES,
    TEXTURE_SHADE,
    ClassSpec,
    class_specs,
    make_classes,
    render_image,
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32)


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / "classes.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _hex(colour: str) -> list[int]:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def test_layout_classes_csv_and_held_out_classes(tmp_path):
    counts = make_classes(tmp_path, num_per_class=2, num_classes=6, num_held_out=2, size=32)
    assert counts == {"train": 8, "unseen": 4}
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [f"class{i:02d}" for i in range(4)]
    assert sorted(p.name for p in (tmp_path / "unseen").iterdir()) == ["class04", "class05"]
    for folder in [*(tmp_path / "train").iterdir(), *(tmp_path / "unseen").iterdir()]:
        assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png"]
    rows = _rows(tmp_path)
    assert list(rows[0]) == ["class", "split", "background", "fill", "texture"]
    assert [(r["class"], r["split"]) for r in rows] == [(f"class{i:02d}", "train" if i < 4 else "unseen")
                                                       for i in range(6)]
    specs = class_specs(6, 0)
    for row, spec in zip(rows, specs):
        assert _hex(row["background"]) == list(spec.background) and _hex(row["fill"]) == list(spec.fill)
        assert row["texture"] == spec.texture in CLASS_TEXTURES
        # The background colour in the csv is what the images show (corner pixel, ±4% brightness jitter).
        corner = _read(tmp_path / row["split"] / row["class"] / "00000.png")[0, 0]
        assert np.abs(corner - _hex(row["background"])).max() <= 0.05 * 255
    readme = (tmp_path / "README.txt").read_text()
    assert "i2i train funit --data DIR" in readme and "--class-images DIR/unseen/class04" in readme


def test_same_seed_same_bytes_other_seed_other_classes(tmp_path):
    make_classes(tmp_path / "a", seed=1, num_per_class=2, num_classes=3, num_held_out=1, size=32)
    make_classes(tmp_path / "b", seed=1, num_per_class=2, num_classes=3, num_held_out=1, size=32)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    make_classes(tmp_path / "c", seed=2, num_per_class=2, num_classes=3, num_held_out=1, size=32)
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    assert class_specs(8, 1) == class_specs(8, 1) and class_specs(8, 1) != class_specs(8, 2)


def test_rerun_removes_stale_images_and_class_folders(tmp_path):
    make_classes(tmp_path, num_per_class=3, num_classes=6, num_held_out=2, size=32)
    (tmp_path / "train" / "class01" / "notes.txt").write_text("mine")   # not ours: kept
    make_classes(tmp_path, num_per_class=1, num_classes=4, num_held_out=1, size=32)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["class00", "class01", "class02"]
    assert sorted(p.name for p in (tmp_path / "unseen").iterdir()) == ["class03"]
    assert sorted(p.name for p in (tmp_path / "train" / "class01").iterdir()) == ["00000.png", "notes.txt"]
    assert [p.name for p in (tmp_path / "unseen" / "class03").iterdir()] == ["00000.png"]
    assert len(_rows(tmp_path)) == 4


def test_every_image_is_nearest_its_own_class_mean_colour(tmp_path):
    make_classes(tmp_path, num_per_class=6, num_classes=16, num_held_out=4, size=32)
    rows = _rows(tmp_path)
    means = np.array([[_read(p).reshape(-1, 3).mean(0)
                       for p in sorted((tmp_path / r["split"] / r["class"]).glob("*.png"))] for r in rows])
    centres = means.mean(1)                                               # (classes, 3)
    distance = np.linalg.norm(means[:, :, None] - centres[None, None], axis=-1)   # (class, image, centre)
    nearest = distance.argmin(-1)
    assert (nearest == np.arange(len(rows))[:, None]).all()


@pytest.mark.parametrize("texture", CLASS_TEXTURES)
def test_textures_shade_part_of_the_fill(texture):
    spec = ClassSpec("x", (240, 240, 240), (40, 120, 220), texture)
    image = render_image(np.random.default_rng(0), 64, spec).astype(np.float32)
    jitter = image[0, 0, 0] / 240
    fill = np.array(spec.fill) * jitter
    near = lambda colour: np.abs(image - colour).max(-1) < 4  # noqa: E731
    filled, shaded = near(fill).sum(), near(fill * TEXTURE_SHADE).sum()
    assert filled > 50
    if texture == "flat":
        assert shaded == 0
    else:
        assert shaded > 0.1 * filled


def test_classes_spread_over_colour_space_and_textures():
    specs = class_specs(16, 0)
    assert [s.name for s in specs] == [f"class{i:02d}" for i in range(16)]
    assert {s.texture for s in specs} == set(CLASS_TEXTURES)
    backgrounds = np.array([s.background for s in specs], float)
    assert (np.linalg.norm(backgrounds[:, None] - backgrounds[None], axis=-1) + 1e9 * np.eye(16)).min() > 40
    light = backgrounds.mean(1) > 128
    assert 6 <= light.sum() <= 10                                     # light and dark backgrounds


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 16}, "size must be >= 32"),
    ({"num_classes": 1, "num_held_out": 0}, "num_classes must be >= 2"),
    ({"num_classes": 4, "num_held_out": 3}, "at least 2 classes"),
    ({"num_held_out": -1}, "num_held_out must be between 0"),
    ({"num_per_class": 0}, "num_per_class must be >= 1"),
])
def test_invalid_arguments_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_classes(tmp_path, **{"num_per_class": 1, "num_classes": 4, "num_held_out": 1, "size": 32,
                                  **kwargs})
    assert not (tmp_path / "train").exists()                          # nothing written


def test_cli_writes_classes(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "demo", "classes", str(tmp_path / "c"), "--num-train", "2",
                                 "--size", "32", "--num-classes", "5", "--held-out", "2"])
    assert result.exit_code == 0, result.output
    assert "3 training classes, 2 held-out classes, 2 images each" in result.output
    assert sorted(p.name for p in (tmp_path / "c" / "unseen").iterdir()) == ["class03", "class04"]
    assert len(list((tmp_path / "c" / "train" / "class00").glob("*.png"))) == 2
    bad = runner.invoke(app, ["data", "demo", "classes", str(tmp_path / "d"), "--num-classes", "3",
                              "--held-out", "2"])
    assert bad.exit_code == 2 and "at least 2 classes" in bad.output
