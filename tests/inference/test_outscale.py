"""`translate --outscale S`: the network's output resized to S × the input with Lanczos (Real-ESRGAN's
flag), alpha and 16 bits kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.images import read_image
from i2i.inference.backend import load_backend
from i2i.inference.pipeline import output_size
from i2i.models import build
from i2i.preprocess import Preprocess, to_batch

runner = CliRunner()


@pytest.fixture
def sr_model(tmp_path):
    torch.manual_seed(0)
    net = build("srresnet", {"scale": 4, "channels": 8, "num_blocks": 1, "norm": "none", "output": "linear",
                             "upsample_skip": "bicubic"}).eval()
    for parameter in net.parameters():  # the zero-initialised last conv would make the output plain bicubic
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    path = tmp_path / "sr.safetensors"
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net}, Preprocess(size=32, scale=4),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(path, {"LR->HR": net}, header)
    return path


def test_output_size_follows_real_esrgan():
    assert output_size(13, 20, 4, None) == (52, 80)
    assert output_size(13, 20, 4, 3.5) == (45, 70)      # int(13 · 3.5) = 45, int(20 · 3.5) = 70
    assert output_size(13, 20, 4, 0.01) == (1, 1)


def test_outscale_resizes_with_lanczos_and_keeps_alpha_and_16_bits(sr_model, tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 65536, (13, 20, 4), dtype=np.uint16)
    source = tmp_path / "in" / "photo.png"
    source.parent.mkdir()
    cv2.imwrite(str(source), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    result = runner.invoke(app, ["translate", str(sr_model), str(source), "--out", str(tmp_path / "out"),
                                 "--outscale", "3.5"])
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(tmp_path / "out" / "photo.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (45, 70, 4) and written.dtype == np.uint16

    # The same by hand: the ×4 network output (float, in [0, 1]), resized with OpenCV's Lanczos.
    rgb, alpha, _ = read_image(source)
    network = load_backend(sr_model, device="cpu").run(to_batch([rgb]))[0].transpose(1, 2, 0)
    expected = np.clip(cv2.resize(network, (70, 45), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    got = cv2.cvtColor(written, cv2.COLOR_BGRA2RGBA).astype(np.float64) / 65535
    assert np.abs(got[..., :3] - expected).max() <= 1 / 65535 + 1e-6
    expected_alpha = np.asarray(Image.fromarray(alpha.astype(np.float32), "F").resize((70, 45), Image.Resampling.BICUBIC))
    assert np.abs(got[..., 3] - np.clip(expected_alpha, 0, 1)).max() <= 1 / 65535 + 1e-6


def test_outscale_with_tiles_matches_whole(sr_model, tmp_path):
    rng = np.random.default_rng(1)
    source = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(source)
    for name, extra in (("whole", []), ("tiled", ["--tile", "16", "--tile-pad", "8"])):
        result = runner.invoke(app, ["translate", str(sr_model), str(source), "--out", str(tmp_path / name),
                                     "--outscale", "2", *extra])
        assert result.exit_code == 0, result.output
    whole = np.asarray(Image.open(tmp_path / "whole" / "big.png")).astype(int)
    tiled = np.asarray(Image.open(tmp_path / "tiled" / "big.png")).astype(int)
    assert whole.shape == tiled.shape == (80, 112, 3)
    assert np.abs(whole - tiled).max() <= 2   # tiles cross-fade; Lanczos of 8-bit vs float input


def test_bad_outscale_is_a_usage_error(sr_model, tmp_path):
    source = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source)
    result = runner.invoke(app, ["translate", str(sr_model), str(source), "--out", str(tmp_path / "o"),
                                 "--outscale", "0"])
    assert result.exit_code == 2 and "--outscale must be positive" in result.output
