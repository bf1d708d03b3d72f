"""Shared test builders: tiny real data sets, a tiny recipe per method, a tiny checkpoint. CPU only.

Every test file takes its builders from here (`from tests.conftest import ...` for plain functions;
fixtures by name), so the contract test over every method and the per-method tests train the same
tiny networks on the same tiny data.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from i2i.checkpoint import load_state, make_header, save_checkpoint
from i2i.config import override
from i2i.data.demo.classes import make_classes
from i2i.errors import I2IError
from i2i.images import write_image
from i2i.methods import CycleGANRecipe, FUNITRecipe, MUNITRecipe, Pix2PixRecipe, SRGANRecipe
from i2i.models import UNetConfig, UNetGenerator
from i2i.preprocess import Preprocess

torch.set_num_threads(2)

LOGGING = {"log_every": 1, "sample_every": 2, "checkpoint_every": 2, "num_samples": 2}


# -- data -------------------------------------------------------------------------------------------
def write_pairs(root: Path, split: str, count: int, size: int = 32, seed: int = 0) -> None:
    """Folder layout root/split/{A,B}/xNN.png: A = random blobs, B = a colour transform of A."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        a = rng.random((size, size, 3)).astype(np.float32)
        a = (a > 0.5).astype(np.float32) * 0.8 + 0.1
        b = a[:, :, ::-1] * 0.5 + 0.25
        write_image(root / split / "A" / f"x{index:02d}.png", a)
        write_image(root / split / "B" / f"x{index:02d}.png", b)


def write_domain(folder: Path, count: int, colour: tuple[float, float, float], size: int = 16, seed: int = 0,
                 noise: float = 0.2) -> None:
    """`count` images of one colour plus uniform noise: one unpaired domain."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        image = np.clip(np.array(colour, np.float32) + noise * rng.random((size, size, 3), np.float32), 0, 1)
        write_image(folder / f"x{index:02d}.png", image)


def write_domains(root: Path) -> Path:
    """ROOT/horse/{train,test}, ROOT/zebra/{train,test}; test files share names (paired ground truth)."""
    write_domain(root / "horse" / "train", 5, (0.6, 0.4, 0.2))
    write_domain(root / "zebra" / "train", 3, (0.1, 0.1, 0.1), seed=1)
    write_domain(root / "horse" / "test", 2, (0.6, 0.4, 0.2), seed=2)
    write_domain(root / "zebra" / "test", 2, (0.1, 0.1, 0.1), seed=3)
    return root


def write_styles(root: Path) -> Path:
    """A: grey squares; B: the same in 3 palettes (multimodal). Test names shared."""
    rng = np.random.default_rng(0)
    palettes = [(0.9, 0.2, 0.1), (0.1, 0.2, 0.9), (0.2, 0.8, 0.2)]
    for split, n in (("train", 6), ("test", 2)):
        for i in range(n):
            mask = np.zeros((32, 32, 1), np.float32)
            y, x = rng.integers(4, 16, 2)
            mask[y:y + 12, x:x + 12] = 1
            write_image(root / "A" / split / f"{i}.png", np.broadcast_to(1 - 0.6 * mask, (32, 32, 3)).copy())
            colour = np.array(palettes[i % 3], np.float32)
            write_image(root / "B" / split / f"{i}.png", (mask * colour + (1 - mask) * colour[::-1]).astype(np.float32))
    return root


def write_classes(root: Path) -> Path:
    """5 classes of 4 images at 32 px, 2 of them held out (`unseen/`)."""
    make_classes(root, num_per_class=4, num_classes=5, num_held_out=2, size=32)
    return root


def photo(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth random 'photo' (blurred noise), uint8 RGB."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))


def write_hr_photos(root: Path) -> Path:
    """Super-resolution data: 4 training and 2 test photos of 48×56, and one smaller than a 32-px crop."""
    for split, count in (("train", 4), ("test", 2)):
        (root / split).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(photo(index + 10 * (split == "test"), 48, 56)).save(root / split / f"p{index}.png")
    Image.fromarray(photo(9, 20, 20)).save(root / "train" / "tiny.png")
    return root


@pytest.fixture
def paired_data(tmp_path: Path) -> Path:
    root = tmp_path / "pairs"
    write_pairs(root, "train", 6)
    write_pairs(root, "test", 2, seed=1)
    return root


@pytest.fixture
def domains_data(tmp_path: Path) -> Path:
    return write_domains(tmp_path / "h2z")


@pytest.fixture
def hr_data(tmp_path: Path) -> Path:
    return write_hr_photos(tmp_path / "hr")


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision's VGG19 features in its own format, random values (no internet here)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19_features.pth"
    torch.save(torchvision.models.vgg19(weights=None).features.state_dict(), path)
    return path


# -- tiny recipes, one per method -------------------------------------------------------------------
def _tiny(recipe: object, values: dict[str, object], changes: dict[str, object]) -> object:
    recipe = override(recipe, values)
    return override(recipe, dict(changes)) if changes else recipe


def tiny_recipe(data_root: Path, **changes: object) -> Pix2PixRecipe:
    """pix2pix at 32 px with a 5-level U-Net of 4 base channels: seconds per hundred steps."""
    return _tiny(Pix2PixRecipe(), {
        "steps": 6, "batch_size": 2, "image_size": 32, "device": "cpu",
        "data": {"root": str(data_root), "load_size": 36},
        "generator": {"num_downs": 5, "ngf": 4},
        "discriminator": {"ndf": 4, "n_layers": 2},
        "log": {"log_every": 1, "sample_every": 3, "checkpoint_every": 3, "num_samples": 2},
    }, changes)


def tiny_cyclegan(root: Path, **changes: object) -> CycleGANRecipe:
    return _tiny(CycleGANRecipe(), {
        "steps": 4, "image_size": 16, "device": "cpu",
        "data": {"root": str(root), "domains": ["horse", "zebra"], "load_size": 18},
        "generator": {"ngf": 4, "num_blocks": 1},
        "discriminator": {"ndf": 4, "n_layers": 2},
        "pool_size": 2, "log": LOGGING,
    }, changes)


def tiny_munit(root: Path, **changes: object) -> MUNITRecipe:
    return _tiny(MUNITRecipe(), {
        "steps": 4, "image_size": 16, "batch_size": 2, "device": "cpu",
        "data": {"root": str(root), "load_size": 16},
        "generator": {"dim": 4, "mlp_dim": 8, "content_res_blocks": 1},
        "discriminator": {"dim": 4, "n_layers": 2, "num_scales": 2},
        "log": LOGGING,
    }, changes)


def tiny_funit(root: Path, **changes: object) -> FUNITRecipe:
    return _tiny(FUNITRecipe(), {
        "steps": 4, "image_size": 16, "batch_size": 3, "device": "cpu", "ema_decay": 0.9,
        "data": {"root": str(root), "load_size": 18},
        "generator": {"dim": 4, "mlp_dim": 8, "class_dim": 6, "content_downsample": 2, "content_res_blocks": 1},
        "discriminator": {"dim": 4, "res_blocks": 4},
        "log": LOGGING,
    }, changes)


SMALL_SR = {"srresnet": {"num_blocks": 2, "channels": 16, "norm": "none", "output": "linear",
                         "upsample_skip": "bicubic"},
            "discriminator": {"pool": "avg"}, "perceptual": {"layer": "relu2_2"}}


def tiny_srgan(data: Path, **changes: object) -> SRGANRecipe:
    """SRResNet ×4 with 2 blocks of 16 channels; nested `changes` merge into the defaults above."""
    values = {"steps": 4, "batch_size": 2, "image_size": 32, "scale": 4, "device": "cpu",
              "data": {"root": str(data)}, "log": {"log_every": 1, "sample_every": 100, "checkpoint_every": 100},
              **SMALL_SR}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return override(SRGANRecipe(), values)


# -- a tiny checkpoint ------------------------------------------------------------------------------
def write_tiny_checkpoint(path: Path) -> UNetGenerator:
    """A pix2pix checkpoint of a 5-level, 4-channel U-Net (multiple of 32) with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4))
    net.train()(torch.randn(4, 3, 32, 32))
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, Preprocess(size=32, multiple_of=32),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(path, {"A->B": net}, header)
    return net


# -- offline feature-network weights (VGG19, LPIPS' AlexNet, FID's Inception): one lookup rule -----
def check_weights_lookup(find: Callable[[Path | None], Path], weights: Path, env: str, hub_dir: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`find(path)` resolves the library's cache when nothing is given, the variable `env` over the
    cache, and an explicit path over the variable (`i2i.hub.feature_weights.find_weights_file`'s order)."""
    cached = hub_dir / "checkpoints" / weights.name
    cached.parent.mkdir(parents=True, exist_ok=True)
    if not cached.exists():
        cached.symlink_to(weights)
    assert find(None) == cached
    elsewhere = weights.parent / f"copy-{weights.name}"
    if not elsewhere.exists():
        elsewhere.symlink_to(weights)
    monkeypatch.setenv(env, str(elsewhere))
    assert find(None) == elsewhere
    monkeypatch.setenv(env, str(weights.parent / "not_there.pth"))
    assert find(weights) == weights


def check_missing_weights_message(build: Callable[[], object], file_name: str, url: str, option: str, env: str,
                                  hub_dir: Path) -> None:
    """Without any weights file, one line naming the file, where to download it, and every place
    it may be put (the option, the variable, the cache)."""
    with pytest.raises(I2IError) as caught:
        build()
    message = str(caught.value)
    assert "\n" not in message
    for part in (file_name, url, option, f"{env}=PATH", str(hub_dir / "checkpoints" / file_name)):
        assert part in message, part


def check_given_weights_must_exist(build: Callable[[Path | None], object], missing: Path, option: str, env: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A path that is given (option or variable) but missing is an error naming it and its source."""
    with pytest.raises(I2IError, match=f"{re.escape(missing.name)} .from {re.escape(option)}. does not exist"):
        build(missing)
    monkeypatch.setenv(env, str(missing))
    with pytest.raises(I2IError, match=f"{re.escape(missing.name)} .from \\${env}. does not exist"):
        build(None)


# -- killing a training process at a random moment ------------------------------------------------
def kill_after_progress(process: subprocess.Popen, run: Path, steps: int, rng: random.Random) -> None:
    """SIGKILL `process` once its run has saved `steps` more steps than it started from, at a random
    moment within the next 0.3 s (inside a step or a save). The sleeps are the point: polling the
    state file while the process works, then landing the kill somewhere unplanned."""
    state_file = run / "state.pt"
    reached = load_state(state_file)["step"] if state_file.exists() else 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if load_state(state_file)["step"] >= reached + steps:
                break
        except Exception:  # not written yet, or being replaced: keep polling
            pass
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.3))
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def released_graphs(tmp_path_factory: pytest.TempPathFactory) -> list:
    """The released checkpoints (weights/) exported once per session with benchmarks/runtime_matrix.py's
    cases: each graph with seeded inputs and PyTorch's output on them (export tests and the OpenCV
    example's tests share them)."""
    from benchmarks.runtime_matrix import export_cases

    return export_cases(tmp_path_factory.mktemp("released-onnx"))
