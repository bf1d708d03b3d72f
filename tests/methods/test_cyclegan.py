"""CycleGAN: networks and counts, loss weights, image pool, domain folders, training, resume, CLI."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.data.unpaired import UnpairedImages, find_domain_files
from i2i.errors import I2IError
from i2i.methods import CycleGAN, CycleGANRecipe
from i2i.preprocess import Preprocess
from i2i.train.image_pool import ImagePool
from i2i.train.trainer import Trainer, weighted_total
from tests.conftest import tiny_cyclegan as tiny
from tests.conftest import write_domain


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- the paper's settings ---------------------------------------------------------------------------
def test_paper_defaults_and_parameter_counts():
    recipe = CycleGANRecipe()
    method = CycleGAN(recipe)
    assert count(method.generators["gen_a2b"]) == count(method.generators["gen_b2a"]) == 11_378_179
    assert count(method.discriminators["disc_a"]) == count(method.discriminators["disc_b"]) == 2_764_737
    assert recipe.gan.objective == "lsgan" and recipe.pool_size == 50 and recipe.batch_size == 1
    assert (recipe.optimizer.lr_g, recipe.optimizer.beta1, recipe.optimizer.beta2) == (2e-4, 0.5, 0.999)
    weights = recipe.loss_weights
    assert weights["cycle_a"] == weights["cycle_b"] == 10.0
    # The reference's lambda_identity 0.5 is relative to the cycle weight: 5.0 in absolute terms.
    assert weights["identity_a2b"] == weights["identity_b2a"] == 0.5 * weights["cycle_a"] == 5.0
    assert all(weights[f"disc_{d}_{s}"] == 0.5 for d in "ab" for s in ("real", "fake"))
    assert recipe.generator.norm == recipe.discriminator.norm == "instance"


def test_losses_are_the_papers_terms_and_reach_every_parameter(domains_data):
    torch.manual_seed(0)
    method = CycleGAN(tiny(domains_data))
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    losses, fakes = method.generator_losses(batch)
    assert set(losses) == {"adversarial_a2b", "adversarial_b2a", "cycle_a", "cycle_b", "identity_a2b", "identity_b2a"}
    gen_a2b, gen_b2a = method.generators["gen_a2b"], method.generators["gen_b2a"]
    with torch.no_grad():
        expected_cycle_a = (gen_b2a(gen_a2b(batch["A"])) - batch["A"]).abs().mean()
        expected_identity = (gen_a2b(batch["B"]) - batch["B"]).abs().mean()
        expected_adv = ((method.discriminators["disc_b"](gen_a2b(batch["A"])) - 1) ** 2).mean()  # LSGAN
    assert losses["cycle_a"].item() == pytest.approx(expected_cycle_a.item(), rel=1e-5)
    assert losses["identity_a2b"].item() == pytest.approx(expected_identity.item(), rel=1e-5)
    assert losses["adversarial_a2b"].item() == pytest.approx(expected_adv.item(), rel=1e-5)

    total = weighted_total(losses, method.weights_for(losses))
    manual = (losses["adversarial_a2b"] + losses["adversarial_b2a"] + 10 * (losses["cycle_a"] + losses["cycle_b"])
              + 5 * (losses["identity_a2b"] + losses["identity_b2a"]))
    assert total.item() == pytest.approx(manual.item(), rel=1e-6)
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.generators.parameters())

    d_losses = method.discriminator_losses(batch, {k: v.detach() for k, v in fakes.items()})
    assert set(d_losses) == {"disc_a_real", "disc_a_fake", "disc_b_real", "disc_b_fake"}
    weighted_total(d_losses, method.weights_for(d_losses)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.discriminators.parameters())


def test_zero_identity_weight_skips_the_identity_passes(domains_data):
    recipe = tiny(domains_data, loss_weights={"identity_a2b": 0.0, "identity_b2a": 0.0})
    losses, _ = CycleGAN(recipe).generator_losses({"A": torch.zeros(1, 3, 16, 16), "B": torch.zeros(1, 3, 16, 16)})
    assert "identity_a2b" not in losses and "identity_b2a" not in losses


def test_cycle_loss_overfits(domains_data):
    """With the cycle terms alone the two generators learn to reconstruct two images closely."""
    torch.manual_seed(0)
    recipe = tiny(domains_data, generator={"ngf": 8, "num_blocks": 2},
                  loss_weights={"identity_a2b": 0.0, "identity_b2a": 0.0})  # skips the identity passes
    method = CycleGAN(recipe)
    data = UnpairedImages(domains_data, ["horse", "zebra"], "train", method.preprocess(), augment=False)
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("A", "B")}
    optimizer = torch.optim.Adam(method.generators.parameters(), lr=2e-3)
    for step in range(150):
        losses, _ = method.generator_losses(batch)
        cycle = losses["cycle_a"] + losses["cycle_b"]
        if step == 0:
            before = cycle.item()
        optimizer.zero_grad()
        cycle.backward()
        optimizer.step()
    assert before > 0.2 and cycle.item() < 0.05, (before, cycle.item())


# -- image pool --------------------------------------------------------------------------------------
def test_image_pool_fills_then_mixes_history_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(50)
    first = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1)
    assert torch.equal(pool.query(first), first)        # filling: every fake comes straight back
    assert len(pool.images) == 50
    from_history = 0
    for step in range(400):
        fake = torch.full((1, 1, 1, 1), 1000.0 + step)
        out = pool.query(fake)
        from_history += int(out.item() != fake.item())
        assert len(pool.images) == 50
    assert 0.4 < from_history / 400 < 0.6              # the reference's coin flip, p = ½
    assert torch.equal(ImagePool(0).query(first), first)


def test_image_pool_state_round_trip():
    pool = ImagePool(3)
    pool.query(torch.rand(2, 3, 4, 4))
    again = ImagePool(3)
    again.load_state_dict(pool.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(pool.images, again.images)) and len(again.images) == 2
    empty = ImagePool(3)
    empty.load_state_dict(ImagePool(3).state_dict())
    assert empty.images == []


# -- domains -----------------------------------------------------------------------------------------
def test_domains_by_name_with_splits(domains_data):
    files = find_domain_files(domains_data, ["horse", "zebra"], "train")
    assert [len(files["horse"]), len(files["zebra"])] == [5, 3]
    assert all(p.parent.name == "train" for p in files["horse"])


def test_domains_flat_folders_are_the_training_split(tmp_path):
    write_domain(tmp_path / "d" / "cats", 2, (0.5, 0.5, 0.5))
    write_domain(tmp_path / "d" / "dogs", 2, (0.2, 0.5, 0.5))
    assert [len(v) for v in find_domain_files(tmp_path / "d", ["cats", "dogs"], "train").values()] == [2, 2]
    with pytest.raises(I2IError, match="no test images of domain 'cats'"):
        find_domain_files(tmp_path / "d", ["cats", "dogs"], "test")


def test_reference_layout_first_name_is_a(tmp_path):
    root = tmp_path / "horse2zebra"
    write_domain(root / "trainA", 3, (0.6, 0.4, 0.2))
    write_domain(root / "trainB", 2, (0.1, 0.1, 0.1))
    files = find_domain_files(root, ["horse", "zebra"], "train")
    assert files["horse"][0].parent.name == "trainA" and files["zebra"][0].parent.name == "trainB"
    assert len(find_domain_files(root, [], "train")["A"]) == 3     # no names: A and B


def test_missing_domain_is_one_error_listing_what_is_there(domains_data):
    with pytest.raises(I2IError) as error:
        find_domain_files(domains_data, ["horse", "donkey"], "train")
    message = str(error.value)
    assert "'donkey'" in message and "donkey/train/" in message and "trainB/" in message
    assert "horse/" in message and "zebra/" in message            # what the folder does hold
    (domains_data / "empty").mkdir()
    with pytest.raises(I2IError, match="domain 'empty'"):
        find_domain_files(domains_data, ["horse", "empty"], "train")
    with pytest.raises(I2IError, match="two different names"):
        find_domain_files(domains_data, ["horse", "horse"], "train")


def test_unpaired_items_pick_b_at_random_but_reproducibly(domains_data):
    data = UnpairedImages(domains_data, ["horse", "zebra"], "train", Preprocess(size=16), augment=True, load_size=18)
    assert len(data) == 5                                            # max(|A|, |B|)
    first, again = data[(1, 123)], data[(1, 123)]
    assert torch.equal(first["A"], again["A"]) and torch.equal(first["B"], again["B"])
    picks = {data[(0, seed)]["B"].sum().item() for seed in range(20)}
    assert len(picks) > 1                                             # B is not tied to A's index
    test = UnpairedImages(domains_data, ["horse", "zebra"], "test", Preprocess(size=16), augment=False)
    assert torch.equal(test[1]["B"], test[3]["B"])                   # held out: B index = i mod |B|


# -- training ----------------------------------------------------------------------------------------
def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def test_training_writes_both_directions_and_resumes_exactly(domains_data, tmp_path):
    straight = Trainer(CycleGAN(tiny(domains_data)), tmp_path / "straight")
    straight.fit()
    header = load_checkpoint(tmp_path / "straight").header
    assert header["method"] == "cyclegan" and header["domains"] == ["horse", "zebra"]
    assert list(header["generators"]) == ["horse->zebra", "zebra->horse"]
    assert {"G/cycle_a", "G/identity_b2a", "D/disc_b_fake"} <= set(_rows(tmp_path / "straight")[0])

    first = Trainer(CycleGAN(tiny(domains_data)), tmp_path / "split")
    original = first.train_step

    def stopping_step(batch):
        row = original(batch)
        if first.step + 1 == 3:  # stop after step 3: the pool (size 2) is full and mixing by then
            signal.raise_signal(signal.SIGINT)
        return row

    first.train_step = stopping_step
    assert first.fit() is False
    resumed = Trainer(CycleGAN(tiny(domains_data)), tmp_path / "split")
    resumed.resume()
    resumed.fit()
    assert _rows(tmp_path / "straight") == _rows(tmp_path / "split")
    for name in ("horse->zebra", "zebra->horse"):
        a = load_checkpoint(tmp_path / "straight").generator(name).state_dict()
        b = load_checkpoint(tmp_path / "split").generator(name).state_dict()
        assert all(torch.equal(a[key], b[key]) for key in a), name


def test_cli_train_translate_export_eval_by_domain_name(domains_data, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "cyclegan", "--data", str(domains_data), "--domains", "horse", "zebra",
                                 "--out", str(run), "--steps", "2", "--image-size", "16", "--device", "cpu",
                                 "--set", "generator.ngf=4", "--set", "generator.num_blocks=1",
                                 "--set", "discriminator.ndf=4", "--set", "discriminator.n_layers=2",
                                 "--set", "data.load_size=16"])
    assert result.exit_code == 0, result.output
    photos = domains_data / "horse" / "test"
    result = runner.invoke(app, ["translate", str(run), str(photos), "--out", str(tmp_path / "zebras")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "zebras").iterdir()) == ["x00.png", "x01.png"]
    result = runner.invoke(app, ["translate", str(run), str(domains_data / "zebra" / "test"),
                                 "--out", str(tmp_path / "horses"), "--to", "horse"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["translate", str(run), str(photos), "--out", str(tmp_path / "x"), "--to", "donkey"])
    assert result.exit_code == 2 and "'donkey'" in result.output and "zebra, horse" in result.output
    for domain in ("zebra", "horse"):
        onnx = tmp_path / f"to_{domain}.onnx"
        result = runner.invoke(app, ["export", str(run), "--to", domain, "--out", str(onnx)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", str(tmp_path / "to_horse.onnx"), "--data", str(domains_data),
                                 "--json", str(tmp_path / "scores.json")])
    assert result.exit_code == 0, result.output
    import json
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["direction"] == "zebra->horse" and scores["count"] == 2


def test_domains_flag_is_refused_for_paired_methods(paired_data):
    result = CliRunner().invoke(app, ["train", "pix2pix", "--data", str(paired_data), "--domains", "a", "b", "--dry-run"])
    assert result.exit_code == 2 and "--domains is for unpaired methods" in result.output


def test_global_skip_generator_starts_as_the_identity_and_learns_a_change():
    from i2i.models import ResNetConfig, ResNetGenerator
    torch.manual_seed(0)
    generator = ResNetGenerator(ResNetConfig(ngf=4, num_blocks=1, global_skip=True))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(generator(x), x)                      # the residual's last layer starts at zero
    torch.nn.functional.l1_loss(generator(x), -x).backward()
    assert all(p.grad.abs().sum() > 0 for p in generator.head.parameters())  # so it can move off zero
    with pytest.raises(ValueError, match="global_skip"):
        ResNetGenerator(ResNetConfig(in_channels=1, out_channels=3, global_skip=True))
