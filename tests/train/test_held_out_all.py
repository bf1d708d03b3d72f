"""Periodic held-out evaluation for every method: ground truth with the copy-input baseline (CycleGAN,
MUNIT example-guided), the pixel distribution score without it (unpaired CycleGAN, FUNIT's held-out
classes), D(real)/D(fake) on held-out data, the best checkpoint, best vs last, and the two warnings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from i2i.checkpoint import load_checkpoint
from i2i.errors import I2IError
from i2i.images import images_under, read_image, write_image
from i2i.methods import FUNIT, MUNIT, SRGAN, CycleGAN, Pix2Pix
from i2i.metrics.pixel import psnr
from i2i.metrics.pixel_distribution import kid, one_nn_accuracy, pixel_features, pixel_scores, standardise
from i2i.train.trainer import Trainer
from tests.conftest import (
    tiny_cyclegan,
    tiny_funit,
    tiny_munit,
    tiny_recipe,
    tiny_srgan,
    write_classes,
    write_domain,
    write_styles,
)

LOG = {"eval_every": 2, "log_every": 100, "sample_every": 100, "checkpoint_every": 100, "tensorboard": False}


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "eval.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def console() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, width=400), text


def read_all(folder: Path) -> list[np.ndarray]:
    return [read_image(path)[0] for path in images_under(folder)]


def unpaired_domains(root: Path) -> Path:
    """horse → zebra with test file names that differ between the domains: no ground truth."""
    write_domain(root / "horse" / "train", 5, (0.6, 0.4, 0.2))
    write_domain(root / "zebra" / "train", 3, (0.1, 0.1, 0.1), seed=1)
    write_domain(root / "horse" / "test", 4, (0.6, 0.4, 0.2), seed=2)
    rng = np.random.default_rng(3)
    for index in range(4):
        image = np.clip(0.1 + 0.2 * rng.random((16, 16, 3), np.float32), 0, 1)
        write_image(root / "zebra" / "test" / f"y{index}.png", image)
    return root


def test_pixel_distribution_scores_are_torch_fidelitys_estimators_and_tell_sets_apart():
    from i2i.metrics.fidelity import kid_from_features
    from i2i.metrics.fidelity import one_nn_accuracy as fidelity_one_nn

    rng = np.random.default_rng(0)
    def draw(colour, count):
        return [np.clip(np.array(colour, np.float32) + 0.3 * rng.random((16, 16, 3), np.float32), 0, 1)
                for _ in range(count)]
    reds, more_reds, blues = draw((0.6, 0.1, 0.1), 30), draw((0.6, 0.1, 0.1), 24), draw((0.1, 0.1, 0.6), 30)
    real = pixel_features(reds)
    a, b = standardise(real, real), standardise(pixel_features(blues), real)
    assert kid(a, b) == pytest.approx(kid_from_features(a, b, subsets=1, subset_size=30)[0], rel=1e-9)
    c = standardise(pixel_features(more_reds), real)
    assert one_nn_accuracy(a, c) == fidelity_one_nn(a, c)                 # unequal sizes: the same subsample
    same, apart = pixel_scores(reds, more_reds), pixel_scores(reds, blues)
    assert abs(same["pixel_kid"]) < 0.01 * apart["pixel_kid"]
    assert 0.3 <= same["pixel_1nn"] <= 0.7 and apart["pixel_1nn"] == 1.0


def test_cyclegan_with_ground_truth_is_scored_against_it_beside_copying_the_input(domains_data, tmp_path):
    from typer.testing import CliRunner

    from i2i.cli import app

    run = tmp_path / "run"
    Trainer(CycleGAN(tiny_cyclegan(domains_data, steps=4, log=LOG)), run, console=console()[0]).fit()
    table = rows(run)
    assert [int(r["step"]) for r in table] == [2, 4]
    assert {"psnr", "ssim", "l1", "copy_psnr", "copy_ssim", "copy_l1", "d_real", "d_fake", "d_gap"} <= set(table[0])
    # The baseline is the held-out input itself scored against its ground truth.
    copies = [psnr(s, t) for s, t in zip(read_all(domains_data / "horse" / "test"),
                                         read_all(domains_data / "zebra" / "test"), strict=True)]
    assert float(table[0]["copy_psnr"]) == pytest.approx(np.mean(copies), abs=1e-4)
    for row in table:
        assert float(row["d_gap"]) == pytest.approx(float(row["d_real"]) - float(row["d_fake"]), abs=1e-5)
    header = load_checkpoint(run / "checkpoints" / "best.safetensors").header
    best = max(table, key=lambda r: float(r["psnr"]))
    assert header["trained"]["steps"] == int(best["step"]) and header["trained"]["eval"]["metric"] == "psnr"
    result = CliRunner().invoke(app, ["eval", str(run / "checkpoints" / "best.safetensors"), "--data",
                                      str(domains_data), "--to", "zebra", "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["scores"]["psnr"] == pytest.approx(
        header["trained"]["eval"]["psnr"], abs=1e-6)


def test_unpaired_cyclegan_gets_a_distribution_score_that_training_improves(tmp_path):
    data = unpaired_domains(tmp_path / "h2z")
    run = tmp_path / "run"
    run.mkdir()
    out, text = console()
    trainer = Trainer(CycleGAN(tiny_cyclegan(data, steps=12, log={**LOG, "eval_every": 12})), run, console=out)
    trainer.evaluate()                                                      # step 0: the untrained generator
    trainer.fit()
    untrained, trained = rows(run)
    assert trainer.held_out.metric == "pixel_kid"
    assert float(trained["pixel_kid"]) < 0.5 * float(untrained["pixel_kid"])
    sources, targets = read_all(data / "horse" / "test"), read_all(data / "zebra" / "test")
    copy = pixel_scores(targets, sources)
    assert float(trained["copy_pixel_kid"]) == pytest.approx(copy["pixel_kid"], rel=1e-5)
    assert float(trained["copy_pixel_1nn"]) == copy["pixel_1nn"]
    header = load_checkpoint(run / "checkpoints" / "best.safetensors").header
    assert header["trained"]["steps"] == 12 and header["trained"]["eval"]["metric"] == "pixel_kid"
    assert "held-out pixel_kid: best" in text.getvalue() and "last" in text.getvalue()


def test_munit_with_ground_truth_scores_the_style_of_the_ground_truth_image(tmp_path):
    from i2i.inference.backend import load_backend
    from i2i.inference.codes import style_code
    from i2i.metrics.evaluation import translate_images

    data, run = write_styles(tmp_path / "styles"), tmp_path / "run"
    Trainer(MUNIT(tiny_munit(data, steps=2, log=LOG)), run, console=console()[0]).fit()
    (row,) = rows(run)
    assert {"guided_psnr", "guided_ssim", "guided_l1", "copy_psnr", "random_style_pixel_kid",
            "random_style_pixel_1nn", "copy_pixel_kid", "d_real", "d_fake"} <= set(row)
    # Reproduced from the written checkpoint, as `translate --style GROUND_TRUTH` and `--seed` would run it.
    backend = load_backend(run / "checkpoints" / "best.safetensors")
    sources, targets = read_all(data / "A" / "test"), read_all(data / "B" / "test")
    guided = [psnr(translate_images(backend.with_code(style_code(backend.encode, t, 16)), [s])[0], t)
              for s, t in zip(sources, targets, strict=True)]
    assert float(row["guided_psnr"]) == pytest.approx(np.mean(guided), abs=1e-4)
    random_styles = translate_images(backend.with_random_codes(0), sources)
    assert float(row["random_style_pixel_kid"]) == pytest.approx(
        pixel_scores(targets, random_styles)["pixel_kid"], rel=1e-4)
    with pytest.raises(I2IError, match="guided_psnr"):                   # no plain `psnr` for MUNIT
        Trainer(MUNIT(tiny_munit(data, log={**LOG, "eval_metric": "psnr"})), tmp_path / "other")


def test_funit_is_scored_on_held_out_classes_with_its_discriminator_on_training_classes(tmp_path):
    data, run = write_classes(tmp_path / "classes"), tmp_path / "run"
    Trainer(FUNIT(tiny_funit(data, steps=2, log=LOG)), run, console=console()[0]).fit()
    (row,) = rows(run)
    assert {"pixel_kid", "pixel_1nn", "copy_pixel_kid", "copy_pixel_1nn", "d_real", "d_fake", "d_gap"} <= set(row)
    # Two held-out classes: each is shown by its first image and compared, untranslated, with the other's.
    unseen = sorted((data / "unseen").iterdir())
    first, second = read_all(unseen[0]), read_all(unseen[1])
    copy = np.mean([pixel_scores(first[1:], second)["pixel_kid"], pixel_scores(second[1:], first)["pixel_kid"]])
    assert float(row["copy_pixel_kid"]) == pytest.approx(copy, rel=1e-5)
    assert load_checkpoint(run / "checkpoints" / "best.safetensors").header["trained"]["eval"]["metric"] == "pixel_kid"


def test_srgan_is_scored_beside_bicubic_and_its_discriminator_only_once_trained(hr_data, vgg_file, tmp_path):
    run = tmp_path / "run"
    recipe = tiny_srgan(hr_data, steps=4, switch_at=0.5, perceptual={"weights": str(vgg_file)}, log=LOG)
    Trainer(SRGAN(recipe), run, console=console()[0]).fit()
    stage1, stage2 = rows(run)
    assert float(stage1["bicubic_psnr"]) == float(stage2["bicubic_psnr"]) > 0
    assert stage1["d_real"] == "" and float(stage2["d_real"]) == float(stage2["d_real"])   # D trains from step 3


def test_a_score_far_below_its_best_warns_and_the_end_prints_best_vs_last(paired_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    out, text = console()
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data, log=LOG)), run, console=out)
    trainer.step = 1
    first = trainer.evaluate()
    torch.manual_seed(0)
    with torch.no_grad():                                                   # a generator gone to pieces
        for parameter in trainer.method.generators.parameters():
            parameter.normal_(0.0, 1.0)
    trainer.step = trainer.recipe.steps
    last = trainer.evaluate()
    assert first["psnr"] - last["psnr"] > 1.0
    assert "below its best" in rows(run)[-1]["warning"] and rows(run)[0]["warning"] == ""
    assert "warning: held-out psnr" in text.getvalue()
    assert load_checkpoint(run / "checkpoints" / "best.safetensors").header["trained"]["steps"] == 1
    assert (f"best {first['psnr']:.4g} at step 1" in text.getvalue()
            and f"last {last['psnr']:.4g} at step {trainer.recipe.steps}: the last is "
                f"{first['psnr'] - last['psnr']:.4g} dB below the best" in text.getvalue())
    with pytest.raises(I2IError, match="choose auto or one of psnr, ssim, l1"):
        Trainer(Pix2Pix(tiny_recipe(paired_data, log={**LOG, "eval_metric": "pixel_kid"})), tmp_path / "other")


def test_a_discriminator_that_wins_completely_warns_at_the_third_evaluation_in_a_row(tmp_path):
    data, run = unpaired_domains(tmp_path / "h2z"), tmp_path / "run"
    run.mkdir()
    out, text = console()
    trainer = Trainer(CycleGAN(tiny_cyclegan(data, log=LOG)), run, console=out)
    method = trainer.method
    for group in trainer.optimizer_d.param_groups:
        group["lr"] = 1e-2
    for index in range(40):                           # D alone, against the untrained generators' outputs
        batch = {k: v[None] for k, v in trainer.dataset[(index, index)].items()}
        with torch.no_grad():
            fakes = {"fake_b": method.generators["gen_a2b"](batch["A"]),
                     "fake_a": method.generators["gen_b2a"](batch["B"])}
        sum(method.discriminator_losses(batch, fakes).values()).backward()
        trainer.optimizer_d.step()
        trainer.optimizer_d.zero_grad()
    for step in (1, 2, 3):
        trainer.step = step
        scores = trainer.evaluate()
        assert scores["d_real"] >= 0.9 and scores["d_fake"] <= 0.1              # LSGAN's targets 1 and 0
    warnings = [row["warning"] for row in rows(run)]
    assert warnings[:2] == ["", ""] and "wins completely" in warnings[2]
    assert text.getvalue().count("warning: the discriminator wins completely") == 1


def test_the_resume_state_saved_at_an_evaluation_step_holds_that_evaluation(paired_data, tmp_path):
    """The evaluation runs before the checkpoint of the same step, so a run resumed from it has that
    evaluation's row and best score (and does not score the step again)."""
    run = tmp_path / "run"
    run.mkdir()
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data, log={**LOG, "checkpoint_every": 2})), run, console=console()[0])
    trainer.step = 2
    trainer._after_step({}, 0.0, 0.0)                                    # step 2: evaluation, then the checkpoint
    resumed = Trainer(Pix2Pix(tiny_recipe(paired_data, log={**LOG, "checkpoint_every": 2})), run, console=console()[0])
    resumed.resume()
    assert resumed.step == 2 and resumed.held_out.best["step"] == 2
    assert [row["step"] for row in rows(run)] == ["2"]
