"""`i2i train METHOD --init CHECKPOINT`: training starts from existing weights, which must fit."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint, load_state
from i2i.cli import app
from i2i.errors import I2IError
from i2i.importers.dispatch import import_weights
from i2i.methods import CycleGAN, Pix2Pix
from i2i.train.trainer import Trainer
from tests.conftest import tiny_cyclegan, tiny_recipe

runner = CliRunner()
RESNET6 = "tests/fixtures/reference/cyclegan_resnet6_ngf8.pth"


@pytest.fixture
def first_run(paired_data, tmp_path):
    run = tmp_path / "first"
    Trainer(Pix2Pix(tiny_recipe(paired_data, steps=3)), run).fit()
    return run


def test_a_new_run_starts_from_the_checkpoint_and_the_runs_discriminator(paired_data, first_run, tmp_path):
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data, init=str(first_run))), tmp_path / "second")
    stored = load_checkpoint(first_run)
    expected = stored.generator("A->B").state_dict()
    got = trainer.method.generators["generator"].state_dict()
    assert all(torch.equal(got[key], expected[key]) for key in expected)
    state = load_state(first_run / "state.pt")["method"]
    for key, value in trainer.method.discriminators.state_dict().items():
        assert torch.equal(value, state[f"discriminators.{key}"]), key
    # The EMA copy and the training both start there: one step later the weights moved away from it.
    trainer.fit()
    after = load_checkpoint(tmp_path / "second").generator("A->B").state_dict()
    assert any(not torch.equal(after[key], expected[key]) for key in expected)


def test_a_different_architecture_names_the_first_tensor(paired_data, first_run, tmp_path):
    with pytest.raises(I2IError, match=r"^--init .*step_0000003.safetensors: A->B: encoder.0.weight has shape "
                                       r"\(4, 3, 4, 4\), the recipe's UNetGenerator needs \(8, 3, 4, 4\)$"):
        Trainer(Pix2Pix(tiny_recipe(paired_data, init=str(first_run), generator={"ngf": 8})), tmp_path / "x")


def test_cli_init_and_its_refusal_with_resume(paired_data, first_run, tmp_path):
    out = tmp_path / "cli"
    args = ["train", "pix2pix", "--data", str(paired_data), "--out", str(out), "--steps", "1", "--image-size", "32",
            "--device", "cpu", "--set", "generator.num_downs=5", "--set", "generator.ngf=4",
            "--set", "discriminator.ndf=4", "--set", "discriminator.n_layers=2", "--set", "data.load_size=36",
            "--set", "batch_size=2"]
    result = runner.invoke(app, [*args, "--init", str(first_run)])
    assert result.exit_code == 0, result.output
    assert f"--init {first_run}: A->B ← A->B, discriminators" in " ".join(result.output.split())
    # A requeued job repeats its command: the same --init is accepted (the resume state wins over it) …
    resumed = runner.invoke(app, ["train", "pix2pix", "--out", str(out), "--resume", "--steps", "2",
                                  "--init", str(first_run)])
    assert resumed.exit_code == 0 and "trained 2 steps" in resumed.output, resumed.output
    # … another one is refused by name.
    other = runner.invoke(app, ["train", "pix2pix", "--out", str(out), "--resume", "--steps", "3",
                                "--init", str(tmp_path / "other")])
    assert other.exit_code == 2
    assert f"init is '{first_run}' in the run, '{tmp_path / 'other'}' now" in " ".join(other.output.split())


def test_a_released_cyclegan_generator_starts_one_direction(tmp_path, domains_data):
    imported = tmp_path / "resnet6.safetensors"
    import_weights(RESNET6, imported, domains=("horse", "zebra"))
    recipe = tiny_cyclegan(domains_data, init=str(imported), generator={"ngf": 8, "num_blocks": 6})
    trainer = Trainer(CycleGAN(recipe), tmp_path / "run")
    expected = load_checkpoint(imported).generator("horse->zebra").state_dict()
    got = trainer.method.generators["gen_a2b"].state_dict()
    assert all(torch.equal(got[key], expected[key]) for key in expected)


def test_preprocessing_must_match(tmp_path, hr_data):
    from i2i.checkpoint import make_header, save_checkpoint
    from i2i.methods import SRGAN
    from i2i.models import build
    from i2i.preprocess import Preprocess
    from tests.conftest import tiny_srgan

    net = build("srresnet", {"scale": 4, "channels": 16, "num_blocks": 2, "norm": "none", "output": "linear",
                             "upsample_skip": "bicubic"})
    path = tmp_path / "zero_one.safetensors"
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net},
                         Preprocess(size=32, scale=4, mean=(0.0,) * 3, std=(1.0,) * 3), {}, {}, {})
    save_checkpoint(path, {"LR->HR": net}, header)
    with pytest.raises(I2IError, match=r"trained with mean \(0.0, 0.0, 0.0\), the recipe's with \(0.5, 0.5, 0.5\); "
                                       r".*--set input_range=zero_one"):
        Trainer(SRGAN(tiny_srgan(hr_data, init=str(path), stage="srresnet")), tmp_path / "a")
    trainer = Trainer(SRGAN(tiny_srgan(hr_data, init=str(path), stage="srresnet", input_range="zero_one")), tmp_path / "b")
    got = trainer.method.generators["generator"].state_dict()
    assert all(torch.equal(got[key], value) for key, value in net.state_dict().items())
    assert trainer.preprocess.mean == (0.0, 0.0, 0.0) and trainer.preprocess.std == (1.0, 1.0, 1.0)
