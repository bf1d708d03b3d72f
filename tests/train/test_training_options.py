"""Trainer options applying to every method: n_critic, gradient accumulation, mixed precision,
channels-last, torch.compile, the logged D scores, and exact resume with the stateful GAN options."""

from __future__ import annotations

import csv

import pytest
import torch

from i2i.checkpoint import load_state
from i2i.errors import I2IError
from i2i.methods import Pix2Pix
from i2i.train.trainer import Trainer
from tests.conftest import tiny_recipe

# No BatchNorm and no dropout: then a batch's gradient is exactly the mean of its micro-batches' gradients.
# No InstanceNorm either: a conv bias before it has a gradient of 0 in theory and float noise in practice,
# which Adam's normalisation turns into full-size steps that differ with the summation order.
PLAIN = {"generator": {"num_downs": 5, "ngf": 4, "norm": "none", "dropout": 0.0},
         "discriminator": {"ndf": 4, "n_layers": 2, "norm": "none"}}


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def steps_by_hand(trainer: Trainer, count: int) -> list[tuple[bool, bool]]:
    """Run `count` steps; for each, whether G and D changed."""
    result = []
    for index, batch in enumerate(trainer._loader()):
        if index == count:
            break
        g, d = snapshot(trainer.method.generators), snapshot(trainer.method.discriminators)
        trainer.train_step(batch)
        trainer.step += 1
        result.append((changed(g, trainer.method.generators), changed(d, trainer.method.discriminators)))
    return result


def test_n_critic_updates_the_generator_every_nth_step_and_the_discriminator_every_step(paired_data, tmp_path):
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data, gan={"n_critic": 3})), tmp_path / "run")
    assert steps_by_hand(trainer, 6) == [(True, True), (False, True), (False, True)] * 2


def test_gradient_accumulation_equals_the_whole_batch(paired_data, tmp_path):
    whole = Trainer(Pix2Pix(tiny_recipe(paired_data, batch_size=4, **PLAIN)), tmp_path / "a")
    split = Trainer(Pix2Pix(tiny_recipe(paired_data, batch_size=4, grad_accumulation=2, **PLAIN)), tmp_path / "b")
    rows_whole, rows_split = [], []
    for trainer, rows in ((whole, rows_whole), (split, rows_split)):
        for index, batch in enumerate(trainer._loader()):
            if index == 3:
                break
            rows.append(trainer.train_step(batch))
            trainer.step += 1
    for a, b in zip(rows_whole, rows_split):
        assert a["G/l1"] == pytest.approx(b["G/l1"], rel=1e-5)
        assert a["D/disc_fake"] == pytest.approx(b["D/disc_fake"], rel=1e-4)
    worst = max((p - q).abs().max().item() for p, q in zip(whole.method.parameters(), split.method.parameters()))
    assert worst < 1e-5, worst


def test_accumulation_must_divide_the_batch(paired_data, tmp_path):
    with pytest.raises(I2IError, match="cannot be split into grad_accumulation=3"):
        Trainer(Pix2Pix(tiny_recipe(paired_data, batch_size=4, grad_accumulation=3)), tmp_path / "run")


def test_bf16_autocast_trains_on_cpu_and_fp16_is_refused(paired_data, tmp_path):
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data, precision="bf16", **PLAIN)), tmp_path / "bf16")
    before = snapshot(trainer.method.generators)
    rows = [trainer.train_step(batch) for _, batch in zip(range(2), trainer._loader())]
    assert all(torch.isfinite(torch.tensor(row["G/total"])) for row in rows)
    assert changed(before, trainer.method.generators)
    assert all(p.dtype == torch.float32 for p in trainer.method.parameters())    # weights stay float32
    with pytest.raises(I2IError, match="fp16 needs a CUDA GPU"):
        Trainer(Pix2Pix(tiny_recipe(paired_data, precision="fp16")), tmp_path / "fp16")


def run_steps(recipe, run, count=3) -> Trainer:
    trainer = Trainer(Pix2Pix(recipe), run)
    for index, batch in enumerate(trainer._loader()):
        if index == count:
            break
        batch = {k: v.to(memory_format=trainer.memory_format) for k, v in batch.items()
                 if isinstance(v, torch.Tensor)}
        trainer.train_step(batch)
        trainer.step += 1
    return trainer


@pytest.mark.parametrize("option", [{"channels_last": True}, {"compile": True, "compile_backend": "aot_eager"}])
def test_layout_and_compile_options_train_the_same_weights(paired_data, tmp_path, option):
    plain = run_steps(tiny_recipe(paired_data, **PLAIN), tmp_path / "plain")
    other = run_steps(tiny_recipe(paired_data, **PLAIN, **option), tmp_path / "other")
    if "channels_last" in option:
        conv = next(m for m in other.method.generators.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    worst = max((p - q).abs().max().item() for p, q in zip(plain.method.parameters(), other.method.parameters()))
    assert worst < 1e-4, worst
    assert plain.method.state_dict().keys() == other.method.state_dict().keys()


def test_metrics_log_d_scores_and_gradient_norms(paired_data, tmp_path):
    run = tmp_path / "run"
    Trainer(Pix2Pix(tiny_recipe(paired_data, gan={"augment": ["translation"]})), run).fit()
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"score/disc_real", "score/disc_fake", "grad_norm_g", "grad_norm_d", "augment_p"} <= set(rows[0])
    assert float(rows[0]["augment_p"]) == 1.0


def test_resume_is_exact_with_ada_r1_instance_noise_and_n_critic(paired_data, tmp_path):
    gan = {"augment": ["color", "translation", "cutout"], "augment_p": 0.2, "ada_target": 0.6, "ada_interval": 1,
           "ada_kimg": 0.05, "r1": 1.0, "r1_interval": 2, "instance_noise": 0.1, "n_critic": 2}
    recipe = tiny_recipe(paired_data, steps=6, gan=gan)
    straight, split = tmp_path / "straight", tmp_path / "split"
    Trainer(Pix2Pix(recipe), straight).fit()
    first = Trainer(Pix2Pix(tiny_recipe(paired_data, steps=6, gan=gan)), split)
    first.max_time = 0.0                                                  # stop (and save) after one step
    first.fit()
    assert load_state(split / "state.pt")["step"] == 1
    resumed = Trainer(Pix2Pix(recipe), split)
    resumed.resume()
    resumed.fit()
    a, b = load_state(straight / "state.pt")["method"], load_state(split / "state.pt")["method"]
    assert a["adversary.augment_p"] != 0.2                                # ADA moved p ...
    for key in a:
        assert torch.equal(a[key], b[key]), key                           # ... and everything resumed exactly


def test_periodic_evaluation_keeps_the_best_checkpoint(paired_data, tmp_path):
    import json

    from typer.testing import CliRunner

    from i2i.checkpoint import load_checkpoint
    from i2i.cli import app

    run = tmp_path / "run"
    Trainer(Pix2Pix(tiny_recipe(paired_data, steps=6, log={"eval_every": 2, "checkpoint_every": 100})), run).fit()
    with (run / "eval.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    best_row = max(rows, key=lambda r: float(r["psnr"]))
    header = load_checkpoint(run / "checkpoints" / "best.safetensors").header
    assert header["trained"]["steps"] == int(best_row["step"])
    assert header["trained"]["eval"]["psnr"] == pytest.approx(float(best_row["psnr"]), abs=1e-3)   # csv: 6 digits
    # `i2i eval` on the best checkpoint measures the same PSNR from the written file.
    result = CliRunner().invoke(app, ["eval", str(run / "checkpoints" / "best.safetensors"), "--data",
                                      str(paired_data), "--json", str(tmp_path / "scores.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())["scores"]
    assert scores["psnr"] == pytest.approx(header["trained"]["eval"]["psnr"], abs=1e-6)


def test_periodic_evaluation_needs_ground_truth(tmp_path):
    from tests.conftest import write_pairs

    write_pairs(tmp_path / "pairs", "train", 4)
    with pytest.raises(I2IError, match="held-out images with ground truth"):
        Trainer(Pix2Pix(tiny_recipe(tmp_path / "pairs", log={"eval_every": 2})), tmp_path / "run")


def test_a_run_saved_before_recipe_gan_existed_resumes(paired_data, tmp_path):
    """recipe.json with `gan_objective` and a state.pt without the adversary's buffers (older runs)."""
    import json

    from typer.testing import CliRunner

    from i2i.checkpoint import save_state
    from i2i.cli import app

    run = tmp_path / "run"
    Trainer(Pix2Pix(tiny_recipe(paired_data, steps=3, gan={"objective": "lsgan"})), run).fit()
    recipe = json.loads((run / "recipe.json").read_text())
    recipe["gan_objective"] = recipe.pop("gan")["objective"]
    (run / "recipe.json").write_text(json.dumps(recipe))
    state = load_state(run / "state.pt")
    state["method"] = {k: v for k, v in state["method"].items() if not k.startswith("adversary.")}
    save_state(run / "state.pt", state)
    result = CliRunner().invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert load_state(run / "state.pt")["step"] == 4
    assert json.loads((run / "recipe.json").read_text())["gan"]["objective"] == "lsgan"
