"""Shared test fixtures: tiny real data sets and recipes, CPU only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from i2i.config import override
from i2i.images import write_image
from i2i.methods import Pix2PixRecipe

torch.set_num_threads(2)


def write_pairs(root: Path, split: str, count: int, size: int = 32, seed: int = 0) -> None:
    """Folder layout root/split/{A,B}/xNN.png: A = random blobs, B = a colour transform of A."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        a = rng.random((size, size, 3)).astype(np.float32)
        a = (a > 0.5).astype(np.float32) * 0.8 + 0.1
        b = a[:, :, ::-1] * 0.5 + 0.25
        write_image(root / split / "A" / f"x{index:02d}.png", a)
        write_image(root / split / "B" / f"x{index:02d}.png", b)


@pytest.fixture
def paired_data(tmp_path: Path) -> Path:
    root = tmp_path / "pairs"
    write_pairs(root, "train", 6)
    write_pairs(root, "test", 2, seed=1)
    return root


def tiny_recipe(data_root: Path, **changes: object) -> Pix2PixRecipe:
    """pix2pix at 32 px with a 5-level U-Net of 4 base channels: seconds per hundred steps."""
    values = {
        "steps": 6, "batch_size": 2, "image_size": 32, "device": "cpu",
        "data": {"root": str(data_root), "load_size": 36},
        "generator": {"num_downs": 5, "ngf": 4},
        "discriminator": {"ndf": 4, "n_layers": 2},
        "log": {"log_every": 1, "sample_every": 3, "checkpoint_every": 3, "num_samples": 2},
    }
    recipe = override(Pix2PixRecipe(), values)
    return override(recipe, dict(changes)) if changes else recipe
