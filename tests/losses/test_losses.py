"""GAN objectives (i2i.losses.objectives) and discriminator regularisers (i2i.losses.regularisers) on known values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from i2i.losses.objectives import GAN_OBJECTIVES, discriminator_loss, generator_loss
from i2i.losses.regularisers import (
    annealed_sigma,
    clip_weights,
    gradient_penalty,
    instance_noise,
    r1_applies,
    r1_penalty,
)

RELATIVISTIC = ("ragan", "ralsgan")
REAL, FAKE = [2.0, -1.0], [-1.0, 0.5]     # mean real 0.5, mean fake −0.25


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def bce(logit: float, target: float) -> float:
    """−[t log σ(x) + (1 − t) log(1 − σ(x))] = t·softplus(−x) + (1 − t)·softplus(x)."""
    return target * softplus(-logit) + (1 - target) * softplus(logit)


def hand_values(objective: str) -> tuple[float, float, float]:
    """(D real term, D fake term, G loss) for REAL/FAKE, written from the papers' formulas."""
    mr, mf = mean(REAL), mean(FAKE)
    if objective in ("vanilla", "minimax"):
        g = mean(softplus(-f) for f in FAKE) if objective == "vanilla" else -mean(softplus(f) for f in FAKE)
        return mean(softplus(-r) for r in REAL), mean(softplus(f) for f in FAKE), g
    if objective == "lsgan":
        return ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2, ((-1) ** 2 + 0.5 ** 2) / 2, ((-1 - 1) ** 2 + (0.5 - 1) ** 2) / 2
    if objective == "hinge":
        return (0 + 2) / 2, (0 + 1.5) / 2, 0.25
    if objective == "wgan":
        return -0.5, -0.25, 0.25
    if objective == "ragan":
        return (mean(bce(r - mf, 1) for r in REAL), mean(bce(f - mr, 0) for f in FAKE),
                0.5 * (mean(bce(r - mf, 0) for r in REAL) + mean(bce(f - mr, 1) for f in FAKE)))
    assert objective == "ralsgan"
    # r − mean f = [2.25, −0.75]; f − mean r = [−1.5, 0]
    return ((1.25 ** 2 + 1.75 ** 2) / 2, (0.5 ** 2 + 1 ** 2) / 2,
            0.5 * ((3.25 ** 2 + 0.25 ** 2) / 2 + (2.5 ** 2 + 1 ** 2) / 2))


def test_objective_list():
    assert GAN_OBJECTIVES == ("vanilla", "minimax", "lsgan", "hinge", "wgan", "ragan", "ralsgan")


def test_hand_values_sanity():
    assert hand_values("lsgan") == (2.5, 0.625, 2.125)
    assert hand_values("ralsgan") == (2.3125, 0.625, 4.46875)


@pytest.mark.parametrize("objective", GAN_OBJECTIVES)
def test_known_values(objective):
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    d_real, d_fake = discriminator_loss(real, fake, objective)
    g = generator_loss(fake, objective, real=real)
    expected = hand_values(objective)
    assert (d_real.item(), d_fake.item(), g.item()) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("objective", GAN_OBJECTIVES)
def test_gradient_signs(objective):
    """D's real term pushes D(real) up, its fake term pushes D(fake) down, G pushes D(fake) up; with a
    relativistic objective each term also pushes the other side the opposite way."""
    real = torch.tensor([0.3, -0.5, 0.1], requires_grad=True)    # inside every objective's active region
    fake = torch.tensor([0.2, 0.4, 0.6], requires_grad=True)
    d_real, d_fake = discriminator_loss(real, fake, objective)
    g = generator_loss(fake, objective, real=real)
    (grad_real_term,) = torch.autograd.grad(d_real, real, retain_graph=True)
    (grad_fake_term,) = torch.autograd.grad(d_fake, fake, retain_graph=True)
    (grad_g,) = torch.autograd.grad(g, fake, retain_graph=True)
    assert (grad_real_term < 0).all() and (grad_fake_term > 0).all() and (grad_g < 0).all()
    if objective in RELATIVISTIC:
        (cross_real_term,) = torch.autograd.grad(d_real, fake, retain_graph=True)
        (cross_fake_term,) = torch.autograd.grad(d_fake, real, retain_graph=True)
        (cross_g,) = torch.autograd.grad(g, real)
        assert (cross_real_term > 0).all() and (cross_fake_term < 0).all() and (cross_g > 0).all()


def old_discriminator_loss(real, fake, objective):
    """The three objectives as they were before the extension."""
    if objective == "vanilla":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if objective == "lsgan":
        return F.mse_loss(real, torch.ones_like(real)), F.mse_loss(fake, torch.zeros_like(fake))
    return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()


def old_generator_loss(fake, objective):
    if objective == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if objective == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    return -fake.mean()


@pytest.mark.parametrize("objective", ["vanilla", "lsgan", "hinge"])
def test_original_objectives_unchanged(objective):
    torch.manual_seed(0)
    real, fake = torch.randn(2, 1, 5, 5) * 2, torch.randn(2, 1, 5, 5) * 2
    new, old = discriminator_loss(real, fake, objective), old_discriminator_loss(real, fake, objective)
    assert torch.equal(new[0], old[0]) and torch.equal(new[1], old[1])
    assert torch.equal(generator_loss(fake, objective), old_generator_loss(fake, objective))
    assert torch.equal(generator_loss(fake, objective, real=real), old_generator_loss(fake, objective))


@pytest.mark.parametrize("objective", ["vanilla", "minimax", "lsgan", "ragan", "ralsgan"])
def test_one_sided_label_smoothing_changes_only_the_real_target(objective):
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    plain = discriminator_loss(real, fake, objective)
    smooth = discriminator_loss(real, fake, objective, one_sided_label_smoothing=0.1)
    mf = mean(FAKE)
    expected_real = {
        "vanilla": mean(bce(r, 0.9) for r in REAL),
        "minimax": mean(bce(r, 0.9) for r in REAL),
        "lsgan": mean((r - 0.9) ** 2 for r in REAL),
        "ragan": mean(bce(r - mf, 0.9) for r in REAL),
        "ralsgan": mean((r - mf - 0.9) ** 2 for r in REAL),
    }[objective]
    assert smooth[0].item() == pytest.approx(expected_real, rel=1e-6)
    assert smooth[0].item() != pytest.approx(plain[0].item(), rel=1e-3)
    assert torch.equal(smooth[1], plain[1])


@pytest.mark.parametrize("objective", ["hinge", "wgan"])
def test_label_smoothing_rejected_where_meaningless(objective):
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    discriminator_loss(real, fake, objective, one_sided_label_smoothing=0.0)   # no smoothing: fine
    with pytest.raises(ValueError, match="smoothing"):
        discriminator_loss(real, fake, objective, one_sided_label_smoothing=0.1)


@pytest.mark.parametrize("amount", [-0.1, 1.0])
def test_label_smoothing_out_of_range(amount):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), "vanilla", one_sided_label_smoothing=amount)


@pytest.mark.parametrize("objective", RELATIVISTIC)
def test_relativistic_generator_needs_real_scores(objective):
    with pytest.raises(ValueError, match="real"):
        generator_loss(torch.tensor(FAKE), objective)


def test_unknown_objective_lists_choices():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    for call in (lambda: discriminator_loss(real, fake, "wasserstein"), lambda: generator_loss(fake, "wasserstein")):
        with pytest.raises(ValueError, match="'wasserstein'; choose one of") as error:
            call()
        assert all(name in str(error.value) for name in GAN_OBJECTIVES)


# ---- regularisers -------------------------------------------------------------------------------


def linear_scores(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A linear discriminator: one score per image, ∇_x = w for every image."""
    return (x * w).flatten(1).sum(1) + 0.7


def test_r1_on_linear_discriminator_is_squared_weight_norm():
    torch.manual_seed(2)
    w = (torch.randn(3, 4, 4) * 0.5).requires_grad_(True)
    real = torch.randn(5, 3, 4, 4, requires_grad=True)
    penalty = r1_penalty(linear_scores(real, w), real)
    assert penalty.item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
    penalty.backward()                               # differentiable w.r.t. D's weights: ∂‖w‖²/∂w = 2w
    assert torch.allclose(w.grad, 2 * w.detach(), atol=1e-6)


def test_lazy_r1_schedule():
    assert [step for step in range(13) if r1_applies(step, 4)] == [0, 4, 8, 12]
    assert all(r1_applies(step, 1) for step in range(5))
    with pytest.raises(ValueError, match="interval"):
        r1_applies(3, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_penalty_linear_discriminator_any_epsilon(seed):
    torch.manual_seed(10)
    w = (torch.randn(3, 4, 4) * 0.4).requires_grad_(True)
    norm = w.detach().norm().item()
    assert abs(norm - 1) > 0.1
    torch.manual_seed(seed)
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4) * 2
    penalty = gradient_penalty(lambda x: linear_scores(x, w), real, fake)
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    penalty.backward()                               # ∂(‖w‖ − 1)²/∂w = 2(‖w‖ − 1) w/‖w‖
    assert torch.allclose(w.grad, 2 * (norm - 1) * w.detach() / norm, atol=1e-5)


def test_gradient_penalty_interpolates_per_sample_with_global_rng():
    """D(x) = ½‖x‖² has ∇D(x̂) = x̂, so the penalty pins down x̂ = ε·real + (1 − ε)·fake, ε of shape (N,1,1,1)."""
    torch.manual_seed(4)
    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    torch.manual_seed(5)
    epsilon = torch.rand(4, 1, 1, 1)
    mixed = epsilon * real + (1 - epsilon) * fake
    expected = (mixed.flatten(1).norm(dim=1) - 1).pow(2).mean()
    torch.manual_seed(5)
    penalty = gradient_penalty(lambda x: 0.5 * x.pow(2).flatten(1).sum(1), real, fake)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_per_sample_norm_and_forwarded_labels():
    """A class-conditional linear D: sample i's gradient is W[label_i], so the penalty is the mean over
    samples of (‖W[label_i]‖ − 1)² — per-sample norms, and the labels must reach the discriminator."""
    weights = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 1.5)])   # norms 0.2 and 3
    labels = torch.tensor([0, 1, 1])
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    penalty = gradient_penalty(lambda x, y: (x * weights[y]).flatten(1).sum(1), real, fake, labels)
    assert penalty.item() == pytest.approx(((0.2 - 1) ** 2 + 2 * (3 - 1) ** 2) / 3, rel=1e-5)


def test_gradient_penalty_multiscale_list_and_feature_tuple():
    torch.manual_seed(6)
    w1, w2 = torch.randn(3, 4, 4) * 0.3, torch.randn(3, 4, 4) * 0.3
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)

    def multiscale(x):
        return [linear_scores(x, w1).view(-1, 1, 1, 1), (x * w2).flatten(1).sum(1, keepdim=True).expand(-1, 3)]

    # the second scale's score appears 3 times (3 "patches"): ∇ = w1 + 3·w2
    penalty = gradient_penalty(multiscale, real, fake)
    assert penalty.item() == pytest.approx(((w1 + 3 * w2).norm().item() - 1) ** 2, rel=1e-5)

    def with_features(x):
        return linear_scores(x, w1), 10 * x.pow(2)    # features must not enter the penalty

    penalty = gradient_penalty(with_features, real, fake)
    assert penalty.item() == pytest.approx((w1.norm().item() - 1) ** 2, rel=1e-5)


def test_instance_noise_std():
    torch.manual_seed(7)
    images = torch.rand(8, 3, 64, 64) * 2 - 1
    noise = instance_noise(images, 0.3) - images
    assert noise.std().item() == pytest.approx(0.3, abs=0.005)
    assert abs(noise.mean().item()) < 0.005
    assert instance_noise(images, 0.0) is images
    with pytest.raises(ValueError, match="sigma"):
        instance_noise(images, -0.1)


def test_annealed_sigma_is_linear_to_zero():
    assert annealed_sigma(0, 100, 0.1) == pytest.approx(0.1)
    assert annealed_sigma(25, 100, 0.1) == pytest.approx(0.075)
    assert annealed_sigma(100, 100, 0.1) == 0.0
    assert annealed_sigma(150, 100, 0.1) == 0.0
    with pytest.raises(ValueError, match="total_steps"):
        annealed_sigma(0, 0, 0.1)


def test_clip_weights_bounds_every_parameter():
    torch.manual_seed(8)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.02 + 0.005)
    before = [parameter.detach().clone() for parameter in module.parameters()]
    assert any((p.abs() > 0.01).any() for p in before)
    assert clip_weights(module, 0.01) is module
    for old, new in zip(before, module.parameters()):
        assert (new.abs() <= 0.01).all()
        assert torch.equal(new, old.clamp(-0.01, 0.01))   # inside values untouched, outside ones at ±clip
    with pytest.raises(ValueError, match="clip"):
        clip_weights(module, 0.0)
