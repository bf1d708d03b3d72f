"""FUNIT: networks and counts, the paper's loss terms (hinge, feature matching, R1), gradients,
overfit, training from class folders, K-shot translate (torch and ONNX), export with the class encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.data.classes import ClassImages
from i2i.errors import I2IError
from i2i.losses.regularisers import r1_penalty
from i2i.methods import FUNIT, FUNITRecipe
from i2i.models import FUNITConfig, FUNITGenerator, MultiTaskDiscriminator, MultiTaskDiscriminatorConfig
from i2i.train.trainer import weighted_total
from tests.conftest import tiny_funit as tiny
from tests.conftest import write_classes

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_classes(tmp_path_factory.mktemp("classes"))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def test_generator_matches_the_paper_layout_and_count():
    g = FUNITGenerator(FUNITConfig())
    content = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + 4 * conv(512, 512, 3)
    klass = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 2 * conv(256, 256, 4) + conv(256, 64, 1)
    adain = 2 * 2 * 2 * 512
    decoder = 4 * conv(512, 512, 3) + conv(512, 256, 5) + conv(256, 128, 5) + conv(128, 64, 5) + conv(64, 3, 7)
    mlp = (64 * 256 + 256) + (256 * 256 + 256) + (256 * adain + adain)
    assert g.decoder.num_adain_params == adain
    assert count(g.content_encoder) == content and count(g.class_encoder) == klass and count(g.decoder) == decoder + mlp
    x = torch.randn(2, 3, 128, 128)
    assert g.content_encoder(x).shape == (2, 512, 16, 16)
    code = g.class_code(torch.randn(5, 3, 128, 128))                   # K = 5 images → one mean code
    assert code.shape == (1, 64)
    assert g(x, code).shape == (2, 3, 128, 128)
    images = torch.randn(3, 3, 64, 64)
    assert torch.allclose(g.class_code(images), g.class_encoder(images).mean(0, keepdim=True))


def test_multitask_discriminator_reads_each_images_own_class():
    torch.manual_seed(0)
    d = MultiTaskDiscriminator(MultiTaskDiscriminatorConfig(num_classes=5, dim=8, res_blocks=4))
    x = torch.randn(3, 3, 32, 32)
    scores, features = d(x, torch.tensor([0, 4, 2]))
    all_scores = d.classifier(d.act(features))
    assert scores.shape == (3, 1, 16, 16) and all_scores.shape == (3, 5, 16, 16)
    for i, label in enumerate((0, 4, 2)):
        assert torch.equal(scores[i, 0], all_scores[i, label])
    big = MultiTaskDiscriminator(MultiTaskDiscriminatorConfig(num_classes=119))
    scores, features = big(torch.randn(1, 3, 128, 128), torch.tensor([118]))
    assert scores.shape == (1, 1, 8, 8) and features.shape == (1, 1024, 8, 8)


def test_r1_penalty_is_the_squared_input_gradient():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    weights = torch.randn(1, 3, 4, 4)
    scores = (x * weights).sum((1, 2, 3))          # ∇_x = weights for every image
    assert r1_penalty(scores, x).item() == pytest.approx(weights.pow(2).sum().item(), rel=1e-5)


def test_paper_defaults_and_classes_from_the_data(data):
    recipe = FUNITRecipe()
    weights = recipe.loss_weights
    assert (weights["image_recon"], weights["feature_matching_class"], recipe.gan.r1) == (0.1, 1.0, 10.0)
    assert recipe.gan.r1_interval == 1 and "r1_penalty" not in weights
    assert weights["adversarial_translation"] == weights["adversarial_reconstruction"] == 0.5
    assert recipe.gan.objective == "hinge" and recipe.ema_decay == 0.999 and recipe.optimizer.name == "rmsprop"
    assert recipe.generator.class_dim == 64 and recipe.image_size == 128
    method = FUNIT(tiny(data))
    assert method.classes == ["class00", "class01", "class02"]
    assert method.recipe.discriminator.num_classes == 3          # resolved from the three training folders
    with pytest.raises(I2IError, match="holds 3 training classes"):
        FUNIT(tiny(data, discriminator={"num_classes": 7}))


def _batch(data: Path, method: FUNIT) -> dict[str, torch.Tensor]:
    dataset = ClassImages(data, "train", method.preprocess(), augment=True, load_size=18)
    items = [dataset[(i, i)] for i in range(3)]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def test_losses_are_the_papers_terms_and_reach_every_parameter(data):
    torch.manual_seed(0)
    method = FUNIT(tiny(data))
    batch = _batch(data, method)
    assert (batch["content_label"] != batch["class_label"]).all()
    losses, fakes = method.generator_losses(batch)
    assert set(losses) == {"adversarial_translation", "adversarial_reconstruction", "image_recon",
                           "feature_matching_class", "feature_matching_content"}
    generator, disc = method.generators["generator"], method.discriminators["discriminator"]
    with torch.no_grad():
        code_b = generator.class_encoder(batch["class_image"])
        x_t = generator.decoder(generator.content_encoder(batch["content"]), code_b)
        assert torch.allclose(fakes["translation"], x_t, atol=1e-6)
        score, features = disc(x_t, batch["class_label"])
        assert losses["adversarial_translation"].item() == pytest.approx(-score.mean().item(), rel=1e-5)  # hinge G
        _, real_features = disc(batch["class_image"], batch["class_label"])
        fm = (features.mean((2, 3)) - real_features.mean((2, 3))).abs().mean()
        assert losses["feature_matching_class"].item() == pytest.approx(fm.item(), rel=1e-5)
    weighted_total(losses, method.weights_for(losses)).backward()
    for name, parameter in method.generators.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    method.zero_grad()
    d_losses = method.discriminator_losses(batch, {"translation": fakes["translation"].detach()})
    assert set(d_losses) == {"disc_real", "disc_fake", "disc_r1"} and d_losses["disc_r1"] > 0
    assert method.weights_for(d_losses)["disc_r1"] == 10.0
    weighted_total(d_losses, method.weights_for(d_losses)).backward()
    for name, parameter in method.discriminators.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_reconstruction_overfits(data):
    torch.manual_seed(0)
    method = FUNIT(tiny(data, generator={"dim": 8, "mlp_dim": 32, "class_dim": 8, "content_downsample": 2,
                                         "content_res_blocks": 1}))
    batch = _batch(data, method)
    generator = method.generators["generator"]
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-3)
    for step in range(80):
        loss = method.generator_losses(batch)[0]["image_recon"]
        if step == 0:
            before = loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.4 * before, (before, loss.item())


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("funit") / "run"
    result = runner.invoke(app, ["train", "funit", "--data", str(data), "--out", str(out), "--steps", "4",
                                 "--batch-size", "3", "--image-size", "16", "--device", "cpu",
                                 "--set", "ema_decay=0.9", "--set", "data.load_size=18",
                                 "--set", "generator.dim=4", "--set", "generator.mlp_dim=8",
                                 "--set", "generator.class_dim=6", "--set", "generator.content_downsample=2",
                                 "--set", "generator.content_res_blocks=1", "--set", "discriminator.dim=4",
                                 "--set", "discriminator.res_blocks=4", "--set", "log.sample_every=2",
                                 "--set", "log.num_samples=2"])
    assert result.exit_code == 0, result.output
    return out


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def test_training_checkpoint_and_samples(run):
    header = load_checkpoint(run).header
    assert header["method"] == "funit" and list(header["generators"]) == ["content->class"]
    assert header["conditioning"]["kind"] == "class" and header["conditioning"]["code_dim"] == 6
    assert header["conditioning"]["training_classes"] == ["class00", "class01", "class02"]
    assert header["trained"]["ema"] is True
    grid = Image.open(run / "samples" / "step_0000004.png")
    assert grid.width >= 3 * 16   # content | class image | translation


def test_k_shot_translate_torch_and_onnx(run, data, tmp_path):
    content = str(data / "train" / "class00")
    unseen = data / "unseen" / "class04"
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes(sorted(unseen.iterdir())[0].read_bytes())
    outputs = {}
    for name, folder in (("k1", one), ("k4", unseen)):
        result = runner.invoke(app, ["translate", str(run), content, "--out", str(tmp_path / name),
                                     "--class-images", str(folder)])
        assert result.exit_code == 0, result.output
        outputs[name] = {p.name: _read(p) for p in (tmp_path / name).iterdir()}
    assert len(outputs["k1"]) == 4 and outputs["k1"].keys() == outputs["k4"].keys()
    assert any(not np.array_equal(outputs["k1"][n], outputs["k4"][n]) for n in outputs["k1"])  # K matters

    onnx = tmp_path / "funit.onnx"
    result = runner.invoke(app, ["export", str(run), "--out", str(onnx)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "funit.class_encoder.onnx").is_file()
    result = runner.invoke(app, ["translate", str(onnx), content, "--out", str(tmp_path / "onnx"),
                                 "--class-images", str(unseen)])
    assert result.exit_code == 0, result.output
    for name, image in outputs["k4"].items():
        assert np.abs(_read(tmp_path / "onnx" / name) - image).max() <= 1, name


def test_class_encoder_graph_averages_any_k(run, tmp_path):
    import onnxruntime

    from i2i.export.onnx import export_onnx
    from i2i.inference.deployed import InferenceModel

    report = export_onnx(run, tmp_path / "f.onnx")
    assert all(diff <= 1e-4 for _, diff in report.parity) and len(report.parity) == 8
    checkpoint = load_checkpoint(run)
    model = InferenceModel(checkpoint.generator("content->class"), checkpoint.preprocess)
    session = onnxruntime.InferenceSession(str(report.code_encoder), providers=["CPUExecutionProvider"])
    for k in (1, 2, 5):
        images = torch.rand(k, 3, 16, 16)
        with torch.no_grad():
            expected = model.encode(images).mean(0, keepdim=True).numpy()
        assert np.abs(session.run(None, {"image": images.numpy()})[0] - expected).max() < 1e-4


def test_funit_needs_class_images(run, data, tmp_path):
    result = runner.invoke(app, ["translate", str(run), str(data / "train" / "class00"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--class-images" in result.output
    result = runner.invoke(app, ["translate", str(run), str(data / "train" / "class00"), "--out", str(tmp_path / "y"),
                                 "--num-styles", "2"])
    assert result.exit_code == 2 and "--class-images" in result.output


def test_optimizer_by_name():
    from i2i.methods.base import OptimizerConfig
    from i2i.train.trainer import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, OptimizerConfig(name="rmsprop", weight_decay=1e-4), 1e-4),
                      torch.optim.RMSprop)
    adam = make_optimizer(params, OptimizerConfig(beta1=0.5, beta2=0.99), 2e-4)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.5, 0.99)
    with pytest.raises(I2IError, match="adam, rmsprop"):
        make_optimizer(params, OptimizerConfig(name="sgd"), 1e-3)
