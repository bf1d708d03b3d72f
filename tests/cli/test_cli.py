import json

import pytest
from typer.testing import CliRunner

from i2i.cli import app
from tests.conftest import write_pairs

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["train"], ["translate"], ["export"], ["eval"], ["data", "demo"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize("args, message", [
    (["train", "pix2pix", "--bogus"], "No such option: --bogus"),
    (["train", "cyclegann"], "unknown method 'cyclegann'"),
    (["train", "pix2pix", "--dry-run", "--set", "generator.ngff=1"], "unknown recipe key"),
    (["train", "pix2pix", "--dry-run", "--image-size", "100"], "must be a multiple of 32"),
    (["train", "pix2pix", "--dry-run", "--image-size", "64", "--set", "generator.num_downs=8"], "not a multiple of 256"),
    (["translate", "missing-run", "x.png", "--out", "o"], "does not exist"),
    (["data", "demo", "horses", "d"], "unknown demo data set"),
])
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output


def test_dry_run_prints_the_resolved_recipe(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('method = "pix2pix"\nsteps = 10\n[generator]\nngf = 8\n')
    result = runner.invoke(app, ["train", "pix2pix", "--recipe", str(preset), "--steps", "20",
                                 "--set", "generator.ngf=16", "--dry-run"])
    assert result.exit_code == 0, result.output
    recipe = json.loads(result.output)
    assert recipe["steps"] == 20 and recipe["generator"]["ngf"] == 16   # flags and --set beat the preset
    assert recipe["loss_weights"]["l1"] == 100.0


def test_train_translate_export_eval_end_to_end(tmp_path):
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    write_pairs(data, "test", 2, seed=1)
    run = tmp_path / "run"
    args = ["train", "pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", "--batch-size", "2",
            "--image-size", "32", "--set", "generator.num_downs=5", "--set", "generator.ngf=4",
            "--set", "discriminator.ndf=4", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output          # a run is never overwritten
    resumed = runner.invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps", "3"])
    assert resumed.exit_code == 0 and "trained 3 steps" in resumed.output, resumed.output
    assert runner.invoke(app, ["translate", str(run), str(data / "test" / "A"), "--out", str(tmp_path / "o")]).exit_code == 0
    result = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0 and "exported A->B" in result.output, result.output
    result = runner.invoke(app, ["eval", str(tmp_path / "m.onnx"), "--data", str(data), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["count"] == 2 and {"l1", "psnr", "ssim"} <= set(scores["scores"])


def test_max_time_is_a_planned_stop_with_exit_0(tmp_path):
    from tests.conftest import write_pairs

    write_pairs(tmp_path / "data", "train", 4)
    run = tmp_path / "run"
    args = ["train", "pix2pix", "--data", str(tmp_path / "data"), "--out", str(run), "--steps", "50",
            "--batch-size", "2", "--image-size", "32", "--device", "cpu", "--set", "generator.num_downs=5",
            "--set", "generator.ngf=4", "--set", "discriminator.ndf=4"]
    result = runner.invoke(app, [*args, "--max-time", "1e-6"])
    assert result.exit_code == 0, result.output
    assert "--max-time 1e-06 s reached: stopped at step 1/50" in result.output and "--resume" in result.output
    result = runner.invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps", "2"])
    assert result.exit_code == 0 and "trained 2 steps" in result.output, result.output
