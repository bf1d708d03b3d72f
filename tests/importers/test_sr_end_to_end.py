"""The SR files users bring, used as a user would: `i2i weights import FILE` (source detected) →
`translate` (whole, tiled, --outscale) → `export` → `eval` → `train srgan --init` (fine-tune)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from tests.importers.test_sr_import import msrresnet_reference, msrresnet_state, rrdb_state, srvgg_state, upstream

runner = CliRunner()

CASES = {  # name → (state dict in the upstream layout, how the file wraps it, scale, upstream forward)
    "RealESRGAN_x4plus.pth": (lambda: rrdb_state("basicsr"), "params_ema", 4, None),
    "RealESRGAN_x2plus.pth": (lambda: rrdb_state("basicsr", unshuffle=2), "params_ema", 2, None),
    "RRDB_ESRGAN_x4.pth": (lambda: rrdb_state("old"), None, 4, None),
    "RRDB_new_layout_x4.pth": (lambda: rrdb_state("new"), None, 4, None),
    "realesr-general-x4v3.pth": (lambda: srvgg_state(), "params", 4, None),
    "MSRResNet_x4.pth": (lambda: msrresnet_state(), "params", 4, "msrresnet"),
}


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    small = np.random.default_rng(seed).integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sr_files")
    for name, (make, wrap, _, _) in CASES.items():
        state = make()
        torch.save({wrap: state} if wrap else state, folder / name)
    return folder


def _expected(name: str, state: dict, pixels: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = msrresnet_reference(state, x, 4) if CASES[name][3] == "msrresnet" else upstream(state)(x)
    return np.round(y.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(int)


@pytest.mark.parametrize("name", list(CASES))
def test_import_translate_tile_export(files, tmp_path, name):
    out = tmp_path / "model.safetensors"
    result = runner.invoke(app, ["weights", "import", str(files / name), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scale = CASES[name][2]
    assert "(sr: srgan," in result.output and f"scale {scale}" in result.output
    header = load_checkpoint(out).header
    assert header["trained"]["importer"] == "sr" and len(header["trained"]["sha256"]) == 64
    assert header["preprocess"]["mean"] == [0.0, 0.0, 0.0] and header["preprocess"]["scale"] == scale

    pixels = _photo(34, 46)   # even: the ×2 network pads to 2 itself, and so does upstream's caller
    Image.fromarray(pixels).save(tmp_path / "in.png")
    state = CASES[name][0]()
    expected = _expected(name, state, pixels)
    for flags, folder in (([], "whole"), (["--tile", "16", "--tile-pad", "16"], "tiled")):
        result = runner.invoke(app, ["translate", str(out), str(tmp_path / "in.png"), "--out",
                                     str(tmp_path / folder), *flags])
        assert result.exit_code == 0, result.output
        got = np.asarray(Image.open(tmp_path / folder / "in.png")).astype(int)
        assert got.shape == (34 * scale, 46 * scale, 3)
        assert np.abs(got - expected).max() <= 1, (folder, np.abs(got - expected).max())

    result = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "model.onnx")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["translate", str(tmp_path / "model.onnx"), str(tmp_path / "in.png"), "--out",
                                 str(tmp_path / "onnx")])
    assert result.exit_code == 0, result.output
    got = np.asarray(Image.open(tmp_path / "onnx" / "in.png")).astype(int)
    assert np.abs(got - expected).max() <= 1


def test_eval_and_fine_tune_an_imported_rrdb(files, tmp_path, hr_data):
    model = tmp_path / "x4plus.safetensors"
    assert runner.invoke(app, ["weights", "import", str(files / "RealESRGAN_x4plus.pth"), "--out",
                               str(model)]).exit_code == 0

    def held_out_psnr(checkpoint) -> float:
        report = tmp_path / "scores.json"
        result = runner.invoke(app, ["eval", str(checkpoint), "--data", str(hr_data), "--json", str(report)])
        assert result.exit_code == 0, result.output
        return json.loads(report.read_text())["scores"]["main_psnr"]

    before = held_out_psnr(model)
    run = tmp_path / "run"
    sizes = ["--set", "architecture=rrdbnet", "--set", "rrdbnet.channels=8", "--set", "rrdbnet.num_blocks=2",
             "--set", "rrdbnet.growth=32"]
    result = runner.invoke(app, ["train", "srgan", "--data", str(hr_data), "--out", str(run), "--init", str(model),
                                 "--steps", "30", "--batch-size", "2", "--image-size", "32", "--device", "cpu",
                                 "--set", "stage=srresnet", "--set", "input_range=zero_one",
                                 "--set", "pixel_criterion=l1", "--set", "optimizer.lr_g=1e-3", *sizes])
    assert result.exit_code == 0, result.output
    after = held_out_psnr(run)
    print(f"held-out Y PSNR of the imported RRDB: {before:.2f} dB before, {after:.2f} dB after 30 steps")
    assert after > before + 0.5, (before, after)

    # The wrong sizes are named by their first tensor.
    wrong = runner.invoke(app, ["train", "srgan", "--data", str(hr_data), "--out", str(tmp_path / "w"),
                                "--init", str(model), "--steps", "1", "--image-size", "32", "--device", "cpu",
                                "--set", "stage=srresnet", "--set", "input_range=zero_one",
                                "--set", "architecture=rrdbnet"])
    assert wrong.exit_code == 2 and "head.conv.weight has shape (8, 3, 3, 3), the recipe's RRDBNet needs " \
                                   "(64, 3, 3, 3)" in " ".join(wrong.output.split())
