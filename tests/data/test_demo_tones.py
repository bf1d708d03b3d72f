"""`i2i data demo tones`: real-photo crops (`photo`) and other crops through a fixed colour grade
(`toned`); unpaired training split, paired held-out split from photos training never sees."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.demo.tones import DOMAINS, make_tones, tone


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def test_test_split_is_paired_by_the_grade_and_train_is_not(tmp_path):
    counts = make_tones(tmp_path, num_train=12, num_test=6, size=32)
    assert counts == {"train": 12, "test": 6}
    for k in range(6):
        photo, toned = read(tmp_path / "photo" / "test" / f"{k:05d}.png"), read(tmp_path / "toned" / "test" / f"{k:05d}.png")
        assert photo.shape == (32, 32, 3)
        assert np.abs(tone(photo) - toned).max() <= 0.5 / 255 + 1e-9      # the grade of the same crop
    # training crops are unpaired: toned train k is not the grade of photo train k
    gaps = [np.abs(tone(read(tmp_path / "photo" / "train" / f"{k:05d}.png"))
                   - read(tmp_path / "toned" / "train" / f"{k:05d}.png")).mean() for k in range(12)]
    assert min(gaps) > 0.02


def test_copying_the_input_is_a_weak_baseline_and_the_set_is_reproducible(tmp_path):
    make_tones(tmp_path / "a", num_train=2, num_test=20, size=32)
    make_tones(tmp_path / "b", num_train=2, num_test=20, size=32)
    errors = []
    for k in range(20):
        name = f"{k:05d}.png"
        assert (tmp_path / "a" / "photo" / "test" / name).read_bytes() == (tmp_path / "b" / "photo" / "test" / name).read_bytes()
        errors.append(np.mean((read(tmp_path / "a" / "photo" / "test" / name)
                               - read(tmp_path / "a" / "toned" / "test" / name)) ** 2))
    psnr = 10 * np.log10(1 / np.mean(errors))
    assert 12 < psnr < 24, psnr     # far from the identity, so beating "copy" means something


def test_cli_writes_it_and_a_smaller_rerun_leaves_no_stale_images(tmp_path):
    result = CliRunner().invoke(app, ["data", "demo", "tones", str(tmp_path), "--num-train", "5", "--num-test", "3",
                                      "--size", "32"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["data", "demo", "tones", str(tmp_path), "--num-train", "2", "--num-test", "1",
                                      "--size", "32"])
    assert result.exit_code == 0, result.output
    for domain in DOMAINS:
        assert len(list((tmp_path / domain / "train").glob("*.png"))) == 2
        assert len(list((tmp_path / domain / "test").glob("*.png"))) == 1
    assert "colour grade" in (tmp_path / "README.txt").read_text()
