"""MUNIT: networks and counts, the paper's loss terms, gradients, overfit, training, translate with
random and reference styles (torch and ONNX), export with the style encoder graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.config import override
from i2i.errors import I2IError
from i2i.images import write_image
from i2i.methods import MUNIT, MUNITRecipe
from i2i.models import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig, MUNITConfig, MUNITGenerator
from i2i.train.trainer import Trainer, weighted_total
from tests.conftest import tiny_munit as tiny
from tests.conftest import write_styles

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_styles(tmp_path_factory.mktemp("styles"))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def test_generator_matches_the_paper_layout_and_count():
    g = MUNITGenerator(MUNITConfig())
    content = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 8 * conv(256, 256, 3)
    style = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 2 * conv(256, 256, 4) + conv(256, 8, 1)
    decoder = 8 * conv(256, 256, 3) + conv(256, 128, 5) + 2 * 128 + conv(128, 64, 5) + 2 * 64 + conv(64, 3, 7)
    adain = 4 * 2 * 2 * 256                                     # 4 blocks × 2 AdaIN × (γ, β) × 256
    mlp = (8 * 256 + 256) + (256 * 256 + 256) + (256 * adain + adain)
    assert g.decoder.num_adain_params == adain == 4096
    assert count(g.content_encoder) == content and count(g.style_encoder) == style
    assert count(g.decoder) == decoder + mlp and count(g) == content + style + decoder + mlp
    x = torch.randn(2, 3, 64, 64)
    c, s = g.encode(x)
    assert c.shape == (2, 256, 16, 16) and s.shape == (2, 8)
    assert g.decode(c, torch.randn(2, 8)).shape == (2, 3, 64, 64)
    assert g.encode_style(torch.randn(1, 3, 40, 72)).shape == (1, 8)  # any reference size


def test_multiscale_discriminator():
    d = MultiScaleDiscriminator(MultiScaleDiscriminatorConfig())
    per_scale = conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + conv(512, 1, 1)
    assert count(d) == 3 * per_scale
    assert [tuple(o.shape) for o in d(torch.randn(1, 3, 256, 256))] == [(1, 1, 16, 16), (1, 1, 8, 8), (1, 1, 4, 4)]


def test_cross_direction_shares_the_modules():
    a, b = MUNITGenerator(MUNITConfig(dim=4, mlp_dim=8)), MUNITGenerator(MUNITConfig(dim=4, mlp_dim=8))
    ab = MUNITGenerator.cross(a, b)
    assert ab.content_encoder is a.content_encoder and ab.style_encoder is b.style_encoder and ab.decoder is b.decoder
    x, s = torch.randn(1, 3, 16, 16), torch.randn(1, 8)
    assert torch.equal(ab(x, s), b.decode(a.content_encoder(x), s))


def test_paper_defaults():
    recipe = MUNITRecipe()
    weights = recipe.loss_weights
    assert weights["image_recon_a"] == 10 and weights["style_recon_a"] == 1 and weights["content_recon_b"] == 1
    assert weights["adversarial_a"] == 1 and weights["cycle_a"] == 0 and weights["perceptual_a"] == 0
    opt = recipe.optimizer
    assert (opt.name, opt.lr_g, opt.lr_d, opt.beta1, opt.beta2, opt.weight_decay) == ("adam", 1e-4, 1e-4, 0.5, 0.999, 1e-4)
    assert recipe.gan.objective == "lsgan" and recipe.batch_size == 1 and recipe.generator.style_dim == 8
    schedule = MUNIT(override(recipe, {"data": {"root": "x"}})).lr_schedule()
    assert [schedule(s) for s in (0, 99_999, 100_000, 250_000)] == [1.0, 1.0, 0.5, 0.25]


def test_losses_are_the_papers_terms_and_reach_every_parameter(data):
    torch.manual_seed(0)
    method = MUNIT(tiny(data, loss_weights={"cycle_a": 10.0, "cycle_b": 10.0}))
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    torch.manual_seed(5)
    losses, fakes = method.generator_losses(batch)
    assert set(losses) == {"image_recon_a", "image_recon_b", "style_recon_a", "style_recon_b", "content_recon_a",
                           "content_recon_b", "adversarial_a", "adversarial_b", "cycle_a", "cycle_b"}
    gen_a, gen_b, disc_a = method.generators["gen_a"], method.generators["gen_b"], method.discriminators["disc_a"]
    with torch.no_grad():
        torch.manual_seed(5)
        s_a = torch.randn(2, 8)
        c_b = gen_b.content_encoder(batch["B"])
        x_ba = gen_a.decode(c_b, s_a)
        assert torch.allclose(fakes["fake_a"], x_ba, atol=1e-6)
        assert losses["style_recon_a"].item() == pytest.approx((gen_a.style_encoder(x_ba) - s_a).abs().mean().item(), rel=1e-5)
        assert losses["content_recon_b"].item() == pytest.approx((gen_a.content_encoder(x_ba) - c_b).abs().mean().item(), rel=1e-5)
        recon = (gen_a.decode(*gen_a.encode(batch["A"])) - batch["A"]).abs().mean()
        assert losses["image_recon_a"].item() == pytest.approx(recon.item(), rel=1e-5)
        lsgan = sum(((o - 1) ** 2).mean() for o in disc_a(x_ba))  # summed over the scales
        assert losses["adversarial_a"].item() == pytest.approx(lsgan.item(), rel=1e-5)
    weighted_total(losses, method.weights_for(losses)).backward()
    for name, parameter in method.generators.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    d_losses = method.discriminator_losses(batch, {k: v.detach() for k, v in fakes.items()})
    assert set(d_losses) == {"disc_a_real", "disc_a_fake", "disc_b_real", "disc_b_fake"}
    weighted_total(d_losses, method.weights_for(d_losses)).backward()
    for name, parameter in method.discriminators.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_zero_cycle_weight_skips_the_cycle_pass(data):
    losses, _ = MUNIT(tiny(data)).generator_losses({"A": torch.zeros(1, 3, 16, 16), "B": torch.zeros(1, 3, 16, 16)})
    assert "cycle_a" not in losses and "perceptual_a" not in losses


def test_image_reconstruction_overfits(data):
    torch.manual_seed(0)
    method = MUNIT(tiny(data, generator={"dim": 8, "mlp_dim": 32, "content_res_blocks": 1}))
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    optimizer = torch.optim.Adam(method.generators.parameters(), lr=2e-3)
    for step in range(80):
        losses, _ = method.generator_losses(batch)
        recon = losses["image_recon_a"] + losses["image_recon_b"]
        if step == 0:
            before = recon.item()
        optimizer.zero_grad()
        recon.backward()
        optimizer.step()
    assert recon.item() < 0.4 * before, (before, recon.item())


def test_too_small_for_the_discriminator_is_one_clear_error(data):
    method = MUNIT(tiny(data, discriminator={"n_layers": 4, "num_scales": 3}))
    with pytest.raises(I2IError, match="needs 64 px"):
        method.validate()


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("munit") / "run"
    Trainer(MUNIT(tiny(data, ema_decay=0.9)), out).fit()
    return out


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def test_training_writes_a_self_describing_two_direction_checkpoint(run):
    header = load_checkpoint(run).header
    assert header["method"] == "munit" and list(header["generators"]) == ["A->B", "B->A"]
    assert header["conditioning"] == {"kind": "style", "code_dim": 8, "prior": "normal"}
    assert (run / "samples" / "step_0000004.png").is_file()


def test_translate_random_and_reference_styles_torch_and_onnx(run, data, tmp_path):
    inputs = str(data / "A" / "test")
    result = runner.invoke(app, ["translate", str(run), inputs, "--out", str(tmp_path / "k"), "--num-styles", "3",
                                 "--seed", "7"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert names == ["0_style0.png", "0_style1.png", "0_style2.png", "1_style0.png", "1_style1.png", "1_style2.png"]
    styles = [_read(tmp_path / "k" / f"0_style{k}.png") for k in range(3)]
    assert not np.array_equal(styles[0], styles[1])  # different codes, different outputs
    again = tmp_path / "again"
    runner.invoke(app, ["translate", str(run), inputs, "--out", str(again), "--num-styles", "3", "--seed", "7"])
    assert np.array_equal(_read(again / "0_style2.png"), styles[2])  # the seed fixes the styles

    reference = data / "B" / "test" / "1.png"
    result = runner.invoke(app, ["translate", str(run), inputs, "--out", str(tmp_path / "ref"), "--style", str(reference)])
    assert result.exit_code == 0, result.output

    onnx = tmp_path / "munit.onnx"
    result = runner.invoke(app, ["export", str(run), "--to", "B", "--out", str(onnx)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "munit.style_encoder.onnx").is_file() and "munit.style_encoder.onnx" in result.output
    for flags, folder in ((["--num-styles", "3", "--seed", "7"], "k"), (["--style", str(reference)], "ref")):
        out = tmp_path / f"onnx_{folder}"
        result = runner.invoke(app, ["translate", str(onnx), inputs, "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        for path in (tmp_path / folder).iterdir():
            assert np.abs(_read(out / path.name) - _read(path)).max() <= 1, path.name


def test_export_parity_covers_batch_1_and_3_for_both_graphs(run, tmp_path):
    from i2i.export.onnx import export_onnx

    report = export_onnx(run, tmp_path / "m.onnx", to="A")
    shapes = [shape for shape, _ in report.parity]
    assert {s[0] for s in shapes if s[0] != "encoder"} == {1, 3} and {s[1] for s in shapes if s[0] == "encoder"} == {1, 3}
    assert len(shapes) == 8 and all(diff <= 1e-4 for _, diff in report.parity)
    assert report.direction == "B->A" and report.code_encoder == tmp_path / "m.style_encoder.onnx"


def test_conditioning_flags_are_checked(run, data, tmp_path):
    inputs = str(data / "A" / "test")
    result = runner.invoke(app, ["translate", str(run), inputs, "--out", str(tmp_path / "x"),
                                 "--class-images", str(data / "B" / "test")])
    assert result.exit_code == 2 and "--class-images is for FUNIT" in result.output
    result = runner.invoke(app, ["translate", str(run), inputs, "--out", str(tmp_path / "y"),
                                 "--style", str(tmp_path / "missing.png")])
    assert result.exit_code == 2 and "missing.png" in result.output
    assert not (tmp_path / "y").exists()


def test_eval_scores_munit_as_a_distribution_only(run, data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))   # no cached Inception weights, whatever the machine
    monkeypatch.delenv("I2I_INCEPTION_WEIGHTS", raising=False)
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--metrics", "l1"])
    assert result.exit_code == 2 and "no single ground truth" in result.output
    # No Inception weights on this machine: the one metric family that applies cannot run, and says so.
    result = runner.invoke(app, ["eval", str(run), "--data", str(data)])
    assert result.exit_code == 2 and "Inception" in result.output, result.output


def test_aligned_pairs_split_into_two_unpaired_domains(tmp_path):
    """edges2shoes as MUNIT trains on it: pix2pix's A|B files, left halves = edges, right = shoes."""
    from i2i.data.unpaired import UnpairedImages
    from i2i.preprocess import Preprocess

    for i in range(3):
        image = np.zeros((8, 16, 3), np.float32)
        image[:, :8] = 0.1 * (i + 1)      # left half: A
        image[:, 8:] = 0.9                # right half: B
        write_image(tmp_path / "train" / f"{i}.png", image)
    data = UnpairedImages(tmp_path, ["edges", "shoes"], "train", Preprocess(size=8), augment=True, load_size=8,
                          layout="aligned")
    item = data[(1, 3)]
    assert torch.allclose((item["A"] * 0.5 + 0.5), torch.full((3, 8, 8), 0.2), atol=0.01)
    assert torch.allclose((item["B"] * 0.5 + 0.5), torch.full((3, 8, 8), 0.9), atol=0.01)
    with pytest.raises(I2IError, match="auto .domain folders. or aligned"):
        UnpairedImages(tmp_path, ["edges", "shoes"], "train", Preprocess(size=8), augment=False, layout="stacked")


def test_improved_recipe_spectral_norm_trains_and_exports(data, tmp_path):
    """imaginaire's options (spectral norm in G and D, hinge, TTUR, EMA) through one step and the export."""
    from i2i.config import load_preset
    from i2i.export.onnx import export_onnx

    preset = {k: v for k, v in load_preset("recipes/munit-edges2shoes-improved.toml").items()
              if k not in ("method", "data", "steps")}
    recipe = override(override(tiny(data), preset), {"steps": 2, "generator": {"dim": 4, "mlp_dim": 8},
                                                     "discriminator": {"dim": 4}})
    method = MUNIT(recipe)
    assert hasattr(method.generators["gen_a"].content_encoder.stem.conv, "parametrizations")
    assert recipe.gan.objective == "hinge" and recipe.optimizer.lr_d == 4 * recipe.optimizer.lr_g
    Trainer(method, tmp_path / "run").fit()
    report = export_onnx(tmp_path / "run", tmp_path / "m.onnx")
    assert all(diff <= 1e-4 for _, diff in report.parity)
