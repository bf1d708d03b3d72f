import csv
import math
import signal

import pytest
import torch
import torch.nn.functional as F

from i2i.checkpoint import load_checkpoint
from i2i.methods import Pix2Pix
from i2i.train.schedule import constant_then_linear
from i2i.train.trainer import Trainer
from tests.conftest import tiny_recipe


def rows(run):
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def weights(run):
    checkpoint = load_checkpoint(run)
    return checkpoint.generator(checkpoint.direction()).state_dict()


def train(recipe, run, resume=False):
    trainer = Trainer(Pix2Pix(recipe), run)
    if resume:
        trainer.resume()
    trainer.fit()
    return trainer


def test_one_run_writes_everything(paired_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_recipe(paired_data), run)
    assert (run / "recipe.json").is_file() and (run / "state.pt").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_0000003.safetensors",
                                                                        "step_0000006.safetensors"]
    log = rows(run)
    assert [int(r["step"]) for r in log] == [1, 2, 3, 4, 5, 6]
    assert {"G/adversarial", "G/l1", "G/total", "D/disc_real", "D/disc_fake", "lr_g"} <= set(log[0])
    assert all(math.isfinite(float(r["G/total"])) for r in log)
    header = load_checkpoint(run).header
    assert header["trained"] == {**header["trained"], "steps": 6, "finished": True}


def test_seeded_runs_are_identical(paired_data, tmp_path):
    train(tiny_recipe(paired_data), tmp_path / "a")
    train(tiny_recipe(paired_data), tmp_path / "b")
    assert rows(tmp_path / "a") == [dict(r, time=rows(tmp_path / "a")[i]["time"]) for i, r in enumerate(rows(tmp_path / "b"))]
    for key, value in weights(tmp_path / "a").items():
        assert torch.equal(value, weights(tmp_path / "b")[key]), key


def test_resume_continues_exactly(paired_data, tmp_path):
    """3 steps, stop, resume to 6 == 6 steps straight: same losses every step, same final weights
    (dropout draws, data order and augmentation all restored)."""
    recipe = tiny_recipe(paired_data, steps=6)
    train(recipe, tmp_path / "straight")
    first = Trainer(Pix2Pix(recipe), tmp_path / "split")
    # Stop after step 3 the way Ctrl-C does: the loop sees a stop request at the step boundary.
    original = first.train_step

    def stopping_step(batch):
        row = original(batch)
        if first.step + 1 == 3:
            signal.raise_signal(signal.SIGINT)
        return row

    first.train_step = stopping_step
    assert first.fit() is False and first.step == 3
    train(recipe, tmp_path / "split", resume=True)
    straight, split = rows(tmp_path / "straight"), rows(tmp_path / "split")
    assert len(split) == 6
    for a, b in zip(straight, split):
        assert {k: v for k, v in a.items() if k != "time"} == {k: v for k, v in b.items() if k != "time"}
    for key, value in weights(tmp_path / "straight").items():
        assert torch.equal(value, weights(tmp_path / "split")[key]), key


def test_linear_decay_matches_the_reference_rule():
    multiplier = constant_then_linear(200, 0.5)   # read steps as epochs: 100 constant + 100 decay
    assert multiplier(0) == 1.0 and multiplier(99) == 1.0
    assert multiplier(100) == pytest.approx(1 - 1 / 101)      # epoch 101 → 2e-4 · 100/101
    assert multiplier(199) == pytest.approx(1 / 101)          # epoch 200 ≈ 2e-6, not 0


def test_pix2pix_l1_overfits_two_pairs(paired_data):
    """With the L1 term alone, the U-Net learns two 32×32 pairs almost exactly."""
    torch.manual_seed(0)
    recipe = tiny_recipe(paired_data, loss_weights={"adversarial": 0.0, "l1": 1.0},
                         generator={"ngf": 16, "dropout": 0.0, "norm": "instance"})
    method = Pix2Pix(recipe)
    from i2i.data.paired import PairedImages
    data = PairedImages(paired_data, "train", method.preprocess(), augment=False)
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("A", "B")}
    optimizer = torch.optim.Adam(method.generators.parameters(), lr=2e-3)
    before = F.l1_loss(method.generators["generator"](batch["A"]), batch["B"]).item()
    for _ in range(300):
        losses, _ = method.generator_losses(batch)
        optimizer.zero_grad()
        losses["l1"].backward()
        optimizer.step()
    after = losses["l1"].item()
    assert before > 0.2 and after < 0.03, (before, after)


def test_non_finite_loss_stops_with_a_clear_message(paired_data, tmp_path, monkeypatch):
    from i2i.errors import I2IError

    original = Pix2Pix.generator_losses

    def poisoned(self, batch):
        losses, fakes = original(self, batch)
        losses["l1"] = losses["l1"] * float("nan")
        return losses, fakes

    monkeypatch.setattr(Pix2Pix, "generator_losses", poisoned)
    recipe = tiny_recipe(paired_data)
    recipe.max_nonfinite_steps = 2
    with pytest.raises(I2IError, match=r"non-finite loss \['G/l1'.*3 steps skipped, more than max_nonfinite_steps=2"):
        train(recipe, tmp_path / "run")


def test_a_few_non_finite_steps_are_skipped_without_touching_the_weights(paired_data, tmp_path, monkeypatch):
    """Steps 2 and 4 produce NaN: they update nothing, the run finishes, and the count is resumable."""
    original = Pix2Pix.generator_losses

    def sometimes_nan(self, batch):
        losses, fakes = original(self, batch)
        if self.step in (1, 3):
            losses["l1"] = losses["l1"] * float("nan")
        return losses, fakes

    monkeypatch.setattr(Pix2Pix, "generator_losses", sometimes_nan)
    run = tmp_path / "run"
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data)), run)
    before = {}

    def snapshot(batch):
        if trainer.step == 1:
            before.update({k: v.detach().clone() for k, v in trainer.method.named_parameters()})
        row = Trainer.train_step(trainer, batch)
        if trainer.step == 1:  # the skipped step changed no weight of G or D (BatchNorm statistics may move)
            after = dict(trainer.method.named_parameters())
            assert before and all(torch.equal(before[k], after[k]) for k in before)
        return row

    trainer.train_step = snapshot
    assert trainer.fit() is True and trainer.skipped_steps == 2
    logged = rows(run)
    assert [r["skipped"] for r in logged] == ["", "1", "", "1", "", ""]
    assert all(torch.isfinite(tensor).all() for tensor in weights(run).values())
    assert torch.load(run / "state.pt", weights_only=True)["skipped_steps"] == 2


def test_max_time_stops_and_saves_cleanly(paired_data, tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data)), run, max_time=1e-9)
    assert trainer.fit() is False and trainer.stopped_by_time and trainer.step == 1
    assert load_checkpoint(run).header["trained"]["steps"] == 1
    resumed = Trainer(Pix2Pix(tiny_recipe(paired_data)), run)
    resumed.resume()
    assert resumed.fit() is True and resumed.step == 6


def test_disk_full_keeps_the_previous_checkpoint_and_says_so(paired_data, tmp_path, monkeypatch):
    import errno

    import i2i.train.checkpoints as trainer_module
    from i2i.errors import I2IError

    run = tmp_path / "run"
    trainer = Trainer(Pix2Pix(tiny_recipe(paired_data)), run)
    real_save = trainer_module.save_checkpoint

    def full_disk(path, *args, **kwargs):
        if "step_0000006" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "save_checkpoint", full_disk)
    with pytest.raises(I2IError, match=r"could not save step 6 .*No space left on device.*step_0000003.safetensors"):
        trainer.fit()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000003.safetensors"]
    assert load_checkpoint(run).header["trained"]["steps"] == 3
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 3


def test_max_time_flag_parses_units():
    from i2i.cli.train import parse_duration
    from i2i.errors import I2IError

    assert [parse_duration(t) for t in ("90", "45s", "15m", "2h", "0.5h")] == [90, 45, 900, 7200, 1800]
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(I2IError, match="--max-time"):
            parse_duration(bad)

def test_extending_a_finished_run_uses_the_new_schedule(paired_data, tmp_path):
    """A finished run's optimiser holds the last rate of its own schedule (0 at the end of a decay);
    `--resume --steps N` must continue with the rate the new schedule gives, not that stale one."""
    recipe = tiny_recipe(paired_data, schedule={"decay_start": 1.0})     # constant LR
    straight = train(recipe, tmp_path / "straight")
    short = tiny_recipe(paired_data, steps=3, schedule={"decay_start": 1.0})
    train(short, tmp_path / "split")
    extended = Trainer(Pix2Pix(recipe), tmp_path / "split")
    extended.resume()
    assert extended.optimizer_g.param_groups[0]["lr"] == recipe.optimizer.lr_g
    extended.fit()
    assert straight.step == extended.step == 6
    assert [r["G/l1"] for r in rows(tmp_path / "straight")] == [r["G/l1"] for r in rows(tmp_path / "split")]


def test_tensorboard_events_beside_metrics(paired_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(tiny_recipe(paired_data), run)
    logged = rows(run)
    assert all(float(r["grad_norm_g"]) > 0 and float(r["grad_norm_d"]) > 0 for r in logged)
    events = EventAccumulator(str(run / "events"))
    events.Reload()
    tags = events.Tags()
    assert {"G/l1", "G/total", "D/disc_real", "lr_g", "grad_norm_g", "grad_norm_d"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("G/l1")] == [1, 2, 3, 4, 5, 6]
    assert [e.value for e in events.Scalars("G/l1")] == pytest.approx([float(r["G/l1"]) for r in logged], rel=1e-5)  # csv: 6 digits
    assert [e.step for e in events.Images("samples")] == [3, 6]
    quiet = tmp_path / "quiet"
    train(tiny_recipe(paired_data, log={"tensorboard": False}), quiet)
    assert not (quiet / "events").exists()
