"""SRGAN end to end: SR data and its degradation, the two stages, translate (scale, tiles, grey, 16-bit,
alpha), eval against bicubic, export parity, and the SR downloads (local server)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.data.superres import SuperResImages, bicubic_upscale, find_hr_files, held_out_sr_pairs, make_lr
from i2i.errors import I2IError
from i2i.inference.backend import load_backend
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import translate_files
from i2i.inference.tiling import TileSpec, translate_tiled
from i2i.losses.objectives import discriminator_loss, generator_loss
from i2i.methods import SRGAN
from i2i.preprocess import Preprocess
from i2i.train.trainer import Trainer
from tests.conftest import photo
from tests.conftest import tiny_srgan as recipe

runner = CliRunner()
# -- data -------------------------------------------------------------------------------------------
def test_degradation_is_pillow_bicubic_of_the_8bit_hr() -> None:
    hr = photo(0, 40, 48)
    lr = make_lr(hr, 4)
    expected = np.asarray(Image.fromarray(hr).resize((12, 10), Image.Resampling.BICUBIC))
    assert lr.shape == (10, 12, 3) and lr.dtype == np.uint8 and np.array_equal(lr, expected)
    assert bicubic_upscale(lr, 4).shape == (40, 48, 3)
    with pytest.raises(ValueError, match="multiple of the scale"):
        make_lr(hr[:39], 4)


def test_hr_folders_train_test_flat_and_div2k_names(tmp_path: Path, hr_data: Path) -> None:
    assert [p.name for p in find_hr_files(hr_data, "train")] == ["p0.png", "p1.png", "p2.png", "p3.png", "tiny.png"]
    assert len(find_hr_files(hr_data, "test")) == 2
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(photo(1, 16, 16)).save(flat / "a.png")
    assert len(find_hr_files(flat, "train")) == 1
    with pytest.raises(I2IError, match="no HR images for split 'test'"):
        find_hr_files(flat, "test")
    assert len(find_hr_files(flat, "test", whole_folder_ok=True)) == 1
    div2k = tmp_path / "div2k"
    for folder in ("DIV2K_train_HR", "DIV2K_valid_HR"):
        (div2k / folder).mkdir(parents=True)
        Image.fromarray(photo(2, 16, 16)).save(div2k / folder / "0001.png")
    assert find_hr_files(div2k, "train")[0].parent.name == "DIV2K_train_HR"
    assert find_hr_files(div2k, "test")[0].parent.name == "DIV2K_valid_HR"


def test_dataset_crops_skips_small_images_and_is_seeded(hr_data: Path) -> None:
    dataset = SuperResImages(hr_data, "train", Preprocess(size=32, scale=4), augment=True)
    assert len(dataset) == 4 and [p.name for p in dataset.skipped] == ["tiny.png"]
    item = dataset[(1, 123)]
    assert item["HR"].shape == (3, 32, 32) and item["LR"].shape == (3, 8, 8)
    assert torch.equal(item["HR"], dataset[(1, 123)]["HR"])          # same seed, same crop and rotation
    assert not torch.equal(item["HR"], dataset[(1, 124)]["HR"])
    # The LR is the degradation of exactly this HR crop.
    hr = np.round((item["HR"].numpy().transpose(1, 2, 0) * 0.5 + 0.5) * 255).astype(np.uint8)
    lr = np.round((item["LR"].numpy().transpose(1, 2, 0) * 0.5 + 0.5) * 255).astype(np.uint8)
    assert np.array_equal(lr, make_lr(hr, 4))


# -- the method -------------------------------------------------------------------------------------
def test_relativistic_losses_on_known_logits() -> None:
    real, fake = torch.tensor([3.0, 2.0]), torch.tensor([-2.0, -3.0])
    d_real, d_fake = discriminator_loss(real, fake, "ragan")   # ESRGAN's RaGAN
    # real − E[fake] = (5.5, 4.5), target 1: mean softplus(−x); fake − E[real] = (−4.5, −5.5), target 0.
    softplus = torch.nn.functional.softplus
    assert d_real.item() == pytest.approx(softplus(-torch.tensor([5.5, 4.5])).mean().item(), rel=1e-5)
    assert d_fake.item() == pytest.approx(softplus(torch.tensor([-4.5, -5.5])).mean().item(), rel=1e-5)
    # Good for D means bad for G: the generator's loss is large when D separates well.
    assert generator_loss(fake, "ragan", real=real).item() > 4.0
    assert generator_loss(real, "ragan", real=fake).item() < 0.01


def test_lr_schedule_constant_then_tenfold_drop_in_stage_two(hr_data: Path, vgg_file: Path) -> None:
    method = SRGAN(recipe(hr_data, steps=100, switch_at=0.6, perceptual={"weights": str(vgg_file)}))
    assert method.switch_step == 60
    schedule = method.lr_schedule()
    assert [schedule(s) for s in (0, 59, 60, 79, 80, 99)] == [1.0, 1.0, 1.0, 1.0, 0.1, 0.1]
    only_stage1 = SRGAN(recipe(hr_data, steps=100, stage="srresnet"))
    assert only_stage1.switch_step == 100 and only_stage1.lr_schedule()(99) == 1.0


def test_both_stages_switch_mid_run_and_record_it(hr_data: Path, vgg_file: Path, tmp_path: Path) -> None:
    method = SRGAN(recipe(hr_data, steps=4, switch_at=0.5, perceptual={"weights": str(vgg_file)}))
    trainer = Trainer(method, tmp_path / "run")
    assert trainer.fit()
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [r["G/pixel"] != "" for r in rows] == [True, True, False, False]       # stage 1: MSE only
    assert [r["G/content"] != "" for r in rows] == [False, False, True, True]     # stage 2: VGG + GAN
    assert [r["D/disc_real"] != "" for r in rows] == [False, False, True, True]   # D trains in stage 2 only
    checkpoint = load_checkpoint(tmp_path / "run")
    assert checkpoint.header["conditioning"] == {"scale": 4, "stage": "both", "switch_step": 2}
    assert checkpoint.preprocess.scale == 4 and checkpoint.directions == ["LR->HR"]


def test_stage_one_leaves_the_discriminator_untouched(hr_data: Path, tmp_path: Path) -> None:
    method = SRGAN(recipe(hr_data, stage="srresnet"))
    before = {k: v.clone() for k, v in method.discriminators.state_dict().items()}
    console = Console(record=True, width=200)
    Trainer(method, tmp_path / "run", console=console).fit()
    assert "skipped 1 training images smaller than the 32-px crop" in console.export_text()  # tiny.png
    after = method.discriminators.state_dict()
    assert all(torch.equal(before[k], after[k].cpu()) for k in before)


def test_stage_two_starts_from_the_srresnet_checkpoint(hr_data: Path, vgg_file: Path, tmp_path: Path) -> None:
    Trainer(SRGAN(recipe(hr_data, stage="srresnet", steps=2)), tmp_path / "stage1").fit()
    with pytest.raises(I2IError, match="init_from"):
        SRGAN(recipe(hr_data, stage="srgan", perceptual={"weights": str(vgg_file)})).validate()
    method = SRGAN(recipe(hr_data, stage="srgan", init_from=str(tmp_path / "stage1"),
                          perceptual={"weights": str(vgg_file)}))
    method.initialise()
    trained = load_checkpoint(tmp_path / "stage1").generator("LR->HR").state_dict()
    ours = method.generators["generator"].state_dict()
    assert all(torch.equal(trained[k], ours[k]) for k in trained)


def test_missing_vgg_weights_stop_before_training(hr_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("I2I_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    result = runner.invoke(app, ["train", "srgan", "--data", str(hr_data), "--out", str(tmp_path / "run"),
                                 "--steps", "2", "--image-size", "32", "--batch-size", "2"])
    assert result.exit_code == 2
    assert "vgg19-dcbb9e9d.pth" in result.output and "perceptual.weights" in result.output
    assert not (tmp_path / "run").exists()                      # nothing trained, nothing written


# -- translate, eval, export ------------------------------------------------------------------------
@pytest.fixture
def trained_run(hr_data: Path, tmp_path: Path) -> Path:
    result = runner.invoke(app, ["train", "srgan", "--data", str(hr_data), "--scale", "2", "--out",
                                 str(tmp_path / "run"), "--steps", "3", "--image-size", "32", "--batch-size", "2",
                                 "--set", "stage=srresnet", "--set", "srresnet.num_blocks=2",
                                 "--set", "srresnet.channels=16", "--set", "srresnet.norm=none",
                                 "--set", "srresnet.output=linear", "--set", "srresnet.upsample_skip=bicubic"])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def test_translate_scales_and_keeps_grey_16bit_and_alpha(trained_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photo(1, 20, 30)).save(folder / "rgb.png")
    Image.fromarray(photo(2, 20, 30)[:, :, 0]).save(folder / "grey.png")
    rgba = np.dstack([photo(3, 20, 30), np.full((20, 30), 128, np.uint8)])
    Image.fromarray(rgba).save(folder / "alpha.png")
    import cv2
    cv2.imwrite(str(folder / "deep.png"), (photo(4, 20, 30).astype(np.uint16) * 257))
    result = runner.invoke(app, ["translate", str(trained_run), str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert Image.open(out / "rgb.png").size == (60, 40) and Image.open(out / "rgb.png").mode == "RGB"
    assert Image.open(out / "grey.png").mode == "L"
    assert Image.open(out / "alpha.png").mode == "RGBA"
    alpha = np.asarray(Image.open(out / "alpha.png"))[:, :, 3]
    assert alpha.shape == (40, 60) and np.abs(alpha.astype(int) - 128).max() <= 1
    deep = cv2.imread(str(out / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (40, 60, 3)


def test_tiled_translation_matches_whole_for_a_norm_free_network(trained_run: Path, tmp_path: Path) -> None:
    """The SR network here has a receptive-field radius of 8 LR px (2 blocks × 2 convs + head/tail
    3×3 convs + the bicubic skip's 2 px): with pad 12 and feather 8, every blended pixel has ≥ 8 px of
    context, so tiles equal the whole-image result up to float rounding (tolerance: 1 grey level)."""
    backend = load_backend(trained_run)
    image = photo(5, 70, 90).astype(np.float32) / 255.0
    whole = backend.run(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))[0].transpose(1, 2, 0)
    whole = np.round(np.clip(whole, 0, 1) * 255).astype(np.uint8)
    tiled = translate_tiled(backend.run, image, TileSpec(24, 12, 8), scale=2, batch_size=3)
    assert tiled.shape == whole.shape == (140, 180, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    # Too little context is visibly worse: the test can fail.
    rough = translate_tiled(backend.run, image, TileSpec(24, 1, 0), scale=2)
    assert np.abs(rough.astype(int) - whole.astype(int)).max() > 1
    # Through translate_files with --tile: the same output file as without.
    (tmp_path / "big").mkdir()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp_path / "big" / "x.png")
    for name, tile in (("whole", None), ("tiled", TileSpec(24, 12, 8))):
        report = translate_files(backend, collect_jobs([str(tmp_path / "big")], tmp_path / name), tile=tile)
        assert len(report.written) == 1 and not report.failed
    a = np.asarray(Image.open(tmp_path / "whole" / "x.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "tiled" / "x.png")).astype(int)
    assert np.abs(a - b).max() <= 1


def test_eval_reports_y_psnr_ssim_beside_bicubic(trained_run: Path, hr_data: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(trained_run), "--data", str(hr_data), "--json",
                                 str(tmp_path / "sr.json"), "--samples", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert "bicubic (baseline)" in result.output and "Y (BT.601), border 2 px cropped" in result.output
    scores = json.loads((tmp_path / "sr.json").read_text())
    assert scores["count"] == 2 and scores["scale"] == 2
    assert set(scores["scores"]) == {"main_psnr", "main_ssim", "rgb_psnr", "rgb_ssim"}
    # The bicubic baseline is exactly the metric of Pillow's bicubic upscaling of the LR.
    from i2i.metrics.pixel import sr_scores
    lr, hr, _ = held_out_sr_pairs(hr_data, "test", 2)[0]
    bicubic = bicubic_upscale(np.round(lr * 255).astype(np.uint8), 2).astype(np.float32) / 255
    assert scores["per_image"][0]["bicubic_main_psnr"] == pytest.approx(sr_scores(bicubic, hr, 2)["psnr"])
    result = runner.invoke(app, ["eval", str(trained_run), "--data", str(hr_data), "--rgb", "--crop-border", "0"])
    assert "RGB, border 0 px cropped" in result.output


def test_export_parity_at_two_sizes(trained_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(trained_run), "--out", str(tmp_path / "sr.onnx")])
    assert result.exit_code == 0, result.output
    onnx = load_backend(tmp_path / "sr.onnx")
    torch_backend = load_backend(trained_run)
    for shape in ((1, 3, 13, 17), (2, 3, 24, 20)):
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        y = onnx.run(x)
        assert y.shape == (shape[0], 3, shape[2] * 2, shape[3] * 2)
        assert np.abs(y - torch_backend.run(x)).max() < 1e-4


def test_train_refuses_scale_for_other_methods(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(tmp_path), "--scale", "4", "--dry-run"])
    assert result.exit_code == 2 and "--scale is for super-resolution" in result.output
