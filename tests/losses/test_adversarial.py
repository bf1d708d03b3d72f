"""recipe.gan wired through the methods (i2i.losses.adversarial): every objective trains, the regularisers
appear with their weights, WGAN clipping, instance noise annealing, ADA's p, spectral norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from i2i.config import override
from i2i.errors import I2IError
from i2i.losses.adversarial import OBJECTIVES, Adversary, GanConfig
from i2i.methods import Pix2Pix
from i2i.train.trainer import weighted_total
from tests.conftest import tiny_recipe


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1,
            "B": torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1}


def losses(method: Pix2Pix, step: int = 0):
    method.step = step
    g_losses, fakes = method.generator_losses(batch())
    d_losses = method.discriminator_losses(batch(), {k: v.detach() for k, v in fakes.items()})
    return g_losses, d_losses


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_gives_finite_losses_and_gradients_to_both_networks(paired_data, objective):
    method = Pix2Pix(tiny_recipe(paired_data, gan={"objective": objective}))
    g_losses, d_losses = losses(method)
    generator, discriminator = method.generators, method.discriminators
    weighted_total(g_losses, method.weights_for(g_losses)).backward()
    assert all(p.grad is not None for p in generator.parameters())
    discriminator.zero_grad()
    weighted_total(d_losses, method.weights_for(d_losses)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in discriminator.parameters())
    assert all(torch.isfinite(v) for v in [*g_losses.values(), *d_losses.values()])
    expected = {"disc_real", "disc_fake"} | ({"disc_gradient_penalty"} if objective == "wgan_gp" else set())
    assert set(d_losses) == expected


def test_relativistic_generator_loss_depends_on_the_real_scores(paired_data):
    method = Pix2Pix(tiny_recipe(paired_data, gan={"objective": "ragan"}))
    assert method.adversary.needs_real_scores
    disc = method.discriminators["discriminator"]
    fake = torch.rand(2, 6, 32, 32)
    real_a, real_b = torch.zeros(2, 6, 32, 32), torch.ones(2, 6, 32, 32)
    loss_a = method.adversary.generator_term(disc, fake, real_a)
    loss_b = method.adversary.generator_term(disc, fake, real_b)
    assert not torch.isclose(loss_a, loss_b)
    with pytest.raises(ValueError, match="real images"):
        method.adversary.generator_loss(disc(fake))


def test_lazy_r1_every_interval_steps_weighted_by_interval(paired_data):
    method = Pix2Pix(tiny_recipe(paired_data, gan={"r1": 2.0, "r1_interval": 4}))
    present = [step for step in range(9) if "disc_r1" in losses(method, step)[1]]
    assert present == [0, 4, 8]
    _, d_losses = losses(method, 0)
    assert method.weights_for(d_losses)["disc_r1"] == 8.0           # γ · interval
    assert d_losses["disc_r1"] > 0


def test_wgan_clips_the_discriminator_after_its_step(paired_data):
    method = Pix2Pix(tiny_recipe(paired_data, gan={"objective": "wgan", "weight_clip": 0.02}))
    assert max(p.abs().max().item() for p in method.discriminators.parameters()) > 0.02
    method.adversary.after_d_step(method.discriminators)
    assert max(p.abs().max().item() for p in method.discriminators.parameters()) <= 0.02
    # The other objectives leave D's weights alone.
    other = Pix2Pix(tiny_recipe(paired_data))
    before = [p.clone() for p in other.discriminators.parameters()]
    other.adversary.after_d_step(other.discriminators)
    assert all(torch.equal(a, b) for a, b in zip(before, other.discriminators.parameters()))


def test_instance_noise_is_annealed_to_zero():
    adversary = Adversary(GanConfig(instance_noise=0.5), total_steps=100, batch_size=1)
    images = torch.zeros(64, 3, 16, 16)
    adversary.step = 0
    assert adversary.view(images).std().item() == pytest.approx(0.5, rel=0.05)
    adversary.step = 50
    assert adversary.view(images).std().item() == pytest.approx(0.25, rel=0.05)
    adversary.step = 100
    assert torch.equal(adversary.view(images), images)


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_otherwise():
    config = GanConfig(augment=["color", "translation"], augment_p=0.0, ada_target=0.6, ada_interval=2, ada_kimg=0.1)
    adversary = Adversary(config, total_steps=100, batch_size=4)
    judge_sure = lambda images: torch.full((images.shape[0], 1, 2, 2), 3.0)       # D(real) > 0 always: r_t = 1
    images = torch.rand(4, 3, 16, 16)
    step_size = 4 * 2 / (0.1 * 1000)                                              # batch · interval / images
    for step in range(4):
        adversary.step = step
        adversary.discriminator_terms("disc", judge_sure, images, images)
        adversary.end_step()
    assert adversary.augment_p.item() == pytest.approx(2 * step_size)           # two adjustments up
    assert adversary.stats()["ada_r_t"] == 1.0
    judge_unsure = lambda images: torch.full((images.shape[0], 1, 2, 2), -3.0)    # r_t = −1
    for step in range(4, 12):
        adversary.step = step
        adversary.discriminator_terms("disc", judge_unsure, images, images)
        adversary.end_step()
    assert adversary.augment_p.item() == 0.0                                     # clamped at 0
    # p is a buffer: it travels in the method's state dict, so a resumed run continues with it.
    assert "augment_p" in adversary.state_dict() and "rt_accumulator" in adversary.state_dict()


def test_score_means_are_reported_per_discriminator(paired_data):
    method = Pix2Pix(tiny_recipe(paired_data))
    losses(method)
    stats = method.adversary.stats()
    assert set(stats) == {"score/disc_real", "score/disc_fake"}


@pytest.mark.parametrize("changes, message", [
    ({"objective": "wasserstein"}, "gan.objective must be one of"),
    ({"objective": "hinge", "label_smoothing": 0.1}, "label_smoothing has no meaning"),
    ({"augment": ["colour"]}, "gan.augment: unknown augmentation"),
    ({"ada_target": 0.6}, "name the operations too"),
    ({"n_critic": 0}, "gan.n_critic must be >= 1"),
])
def test_bad_settings_are_refused(paired_data, changes, message):
    with pytest.raises(I2IError, match=message):
        Pix2Pix(tiny_recipe(paired_data, gan=changes))


def test_old_key_names_its_new_place(paired_data):
    with pytest.raises(I2IError, match="now gan.objective"):
        tiny_recipe(paired_data, gan_objective="lsgan")


def spectral_normalised(module: nn.Module) -> int:
    return sum(1 for m in module.modules() if hasattr(m, "parametrizations") and "weight" in m.parametrizations)


@pytest.mark.parametrize("method_name", ["pix2pix", "cyclegan", "munit", "funit", "srgan"])
def test_spectral_norm_is_one_switch_for_every_discriminator(method_name):
    from i2i.methods import METHODS

    method_class = METHODS[method_name]
    recipe = override(method_class.Recipe(), {"discriminator": {"spectral_norm": True}})
    if method_name == "funit":
        recipe = override(recipe, {"discriminator": {"num_classes": 3}})
    method = method_class(recipe)
    assert spectral_normalised(method.discriminators) > 0
    assert spectral_normalised(method_class(method_class.Recipe() if method_name != "funit" else override(
        method_class.Recipe(), {"discriminator": {"num_classes": 3}})).discriminators) == 0
