"""The adversarial game every method plays, configured once by `recipe.gan` (`--set gan.…`).

A method builds its discriminators' inputs and calls three things here:

- `adversary.view(images)` — what a discriminator sees: DiffAugment/ADA augmentation, then instance
  noise. Used for real and fake images alike, in the discriminator's step *and* the generator's.
- `adversary.generator_loss(fake_scores, real_scores)` — the objective's generator term (the real
  scores only for the relativistic objectives: `adversary.needs_real_scores`).
- `adversary.discriminator_terms(prefix, judge, real, fake)` — the named discriminator terms
  `{prefix}_real`, `{prefix}_fake` and, when enabled, `{prefix}_r1` (R1 on real images, lazy every
  `r1_interval` steps) and `{prefix}_gradient_penalty` (WGAN-GP on interpolates).

The trainer weights `{prefix}_r1` by γ·interval and `{prefix}_gradient_penalty` by λ from this config
(`regulariser_weight`) and every other term by `recipe.loss_weights`; it also calls `after_d_step`
(WGAN weight clipping) and `end_step` (ADA's update of p), updates the generators only every
`n_critic` steps, and logs `stats()` (mean D(real)/D(fake) per discriminator, r_t, p).

Scores may be a tensor or a list of tensors (multi-scale discriminators): each objective term is
summed over the scales, as MUNIT's official code does. The ADA state (p and the r_t accumulator) is
in buffers, so it is saved in `state.pt` and resumed exactly, and all-reduced under torchrun.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn

from i2i.errors import I2IError
from i2i.losses.augment import check_policy, diff_augment
from i2i.losses.objectives import GAN_OBJECTIVES, SMOOTHABLE_OBJECTIVES, discriminator_loss, generator_loss
from i2i.losses.regularisers import (
    annealed_sigma,
    clip_weights,
    gradient_penalty,
    instance_noise,
    r1_applies,
    r1_penalty,
)

# "wgan_gp" is the WGAN objective with the gradient penalty as its Lipschitz constraint; "wgan" uses
# weight clipping, as the original paper.
OBJECTIVES = GAN_OBJECTIVES + ("wgan_gp",)
_LOSS_OF = {"wgan_gp": "wgan"}

Scores = Tensor | list[Tensor]


@dataclass
class GanConfig:
    objective: str = "vanilla"          # vanilla | minimax | lsgan | hinge | wgan | wgan_gp | ragan | ralsgan
    label_smoothing: float = 0.0        # one-sided (Salimans et al. 2016): real target 1 − s; 0 = off
    weight_clip: float = 0.01           # objective wgan: D's parameters clamped to ±c after every D step
    gradient_penalty: float = 10.0      # objective wgan_gp: λ of E[(‖∇D(x̂)‖ − 1)²] (Gulrajani et al. 2017)
    r1: float = 0.0                     # γ of R1 = E‖∇_x D(x)‖² on real images (Mescheder et al. 2018); 0 = off
    r1_interval: int = 1                # lazy R1 (StyleGAN2): every k-th step, weighted k·γ
    instance_noise: float = 0.0         # σ of N(0, σ²) added to every D input, annealed linearly to 0 at the end
    n_critic: int = 1                   # discriminator steps per generator step (WGAN: 5)
    augment: list[str] = field(default_factory=list)  # DiffAugment for D's inputs: color, translation, cutout
    augment_p: float = 1.0              # probability of each operation per image (with ada_target: the start)
    ada_target: float = 0.0             # > 0: adapt p so that r_t = E[sign(D(real) − m)] stays at it (ADA: 0.6)
    ada_interval: int = 4               # steps between adjustments of p
    ada_kimg: float = 500.0             # thousands of real images for p to rise from 0 to 1 (ADA's speed)


def validate(config: GanConfig) -> None:
    """Raise I2IError for settings that cannot train."""
    if config.objective not in OBJECTIVES:
        raise I2IError(f"gan.objective must be one of {', '.join(OBJECTIVES)}, got {config.objective!r}")
    if config.label_smoothing and config.objective not in SMOOTHABLE_OBJECTIVES:
        raise I2IError(f"gan.label_smoothing has no meaning for gan.objective={config.objective}; it applies to "
                       f"{', '.join(SMOOTHABLE_OBJECTIVES)}")
    checks = [("label_smoothing", 0 <= config.label_smoothing < 1, "in [0, 1)"),
              ("weight_clip", config.weight_clip > 0, "> 0"), ("gradient_penalty", config.gradient_penalty >= 0, ">= 0"),
              ("r1", config.r1 >= 0, ">= 0"), ("r1_interval", config.r1_interval >= 1, ">= 1"),
              ("instance_noise", config.instance_noise >= 0, ">= 0"), ("n_critic", config.n_critic >= 1, ">= 1"),
              ("augment_p", 0 <= config.augment_p <= 1, "in [0, 1]"), ("ada_target", 0 <= config.ada_target < 1,
                                                                        "in [0, 1)"),
              ("ada_interval", config.ada_interval >= 1, ">= 1"), ("ada_kimg", config.ada_kimg > 0, "> 0")]
    for name, ok, rule in checks:
        if not ok:
            raise I2IError(f"gan.{name} must be {rule}, got {getattr(config, name)}")
    try:
        check_policy(config.augment)
    except ValueError as error:
        raise I2IError(f"gan.augment: {error}") from None
    if config.ada_target and not config.augment:
        raise I2IError("gan.ada_target adapts the probability of gan.augment: name the operations too, "
                       "e.g. --set gan.augment=color,translation,cutout")


def _scales(scores: Scores) -> list[Tensor]:
    return scores if isinstance(scores, list) else [scores]


class Adversary(nn.Module):
    """The configured objective, D-input transforms and regularisers; see the module docstring."""

    def __init__(self, config: GanConfig, total_steps: int, batch_size: int) -> None:
        super().__init__()
        validate(config)
        self.config = config
        self.loss = _LOSS_OF.get(config.objective, config.objective)
        self.total_steps = max(total_steps, 1)
        self.batch_size = batch_size
        self.step = 0                   # set by the method's trainer before each step
        self.register_buffer("augment_p", torch.tensor(float(config.augment_p if config.augment else 0.0)))
        # Σ sign(D(real) − m) and the count, since the last adjustment of p.
        self.register_buffer("rt_accumulator", torch.zeros(2))
        self._pending = torch.zeros(2)  # this step's Σ sign and count on this process
        self._stats: dict[str, float] = {}

    @property
    def needs_real_scores(self) -> bool:
        return self.loss in ("ragan", "ralsgan")

    # -- what D sees ------------------------------------------------------------------------------
    def view(self, images: Tensor) -> Tensor:
        config = self.config
        if config.augment:
            images = diff_augment(images, config.augment, float(self.augment_p))
        if config.instance_noise:
            images = instance_noise(images, annealed_sigma(self.step, self.total_steps, config.instance_noise))
        return images

    # -- objective --------------------------------------------------------------------------------
    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        """The generator's adversarial term, summed over scales. `real`: D's scores of real images,
        required by the relativistic objectives (detach them: the generator step does not train D)."""
        if self.needs_real_scores and real is None:
            raise ValueError(f"gan.objective={self.loss} needs the discriminator's scores of real images")
        reals = _scales(real) if real is not None else [None] * len(_scales(fake))
        return sum(generator_loss(f, self.loss, real=r) for f, r in zip(_scales(fake), reals, strict=True))

    def generator_term(self, judge: Callable[[Tensor], Scores], fake: Tensor, real: Tensor) -> Tensor:
        """The generator's adversarial term for D's raw inputs `fake` (and `real`, scored without
        gradients, for the relativistic objectives)."""
        real_scores = None
        if self.needs_real_scores:
            with torch.no_grad():
                real_scores = judge(self.view(real))
        return self.generator_loss(judge(self.view(fake)), real_scores)

    def discriminator_terms(self, prefix: str, judge: Callable[[Tensor], Scores], real: Tensor,
                            fake: Tensor) -> dict[str, Tensor]:
        """Named discriminator terms for one discriminator. `judge(images)` returns its scores for D's raw
        inputs; `real` and `fake` are those raw inputs (`fake` detached), viewed here through `view`."""
        config = self.config
        with_r1 = config.r1 > 0 and r1_applies(self.step, config.r1_interval)
        if with_r1:  # R1 differentiates D's score with respect to the (un-augmented) real input
            real = real.detach().requires_grad_(True)
        real_scores, fake_scores = judge(self.view(real)), judge(self.view(fake))
        pairs = [discriminator_loss(r, f, self.loss, one_sided_label_smoothing=config.label_smoothing)
                 for r, f in zip(_scales(real_scores), _scales(fake_scores), strict=True)]
        terms = {f"{prefix}_real": sum(p[0] for p in pairs), f"{prefix}_fake": sum(p[1] for p in pairs)}
        if with_r1:
            terms[f"{prefix}_r1"] = _in_float32(real.device.type, lambda: r1_penalty(
                sum(s.float().sum() for s in _scales(real_scores)), real))
        if config.objective == "wgan_gp":
            terms[f"{prefix}_gradient_penalty"] = _in_float32(real.device.type, lambda: gradient_penalty(
                lambda x: judge(self.view(x)), real, fake))
        self._observe(prefix, real_scores, fake_scores)
        return terms

    def regulariser_weight(self, name: str) -> float | None:
        """The weight of a regulariser term this adversary named, or None for other terms."""
        if name.endswith("_r1"):
            return self.config.r1 * self.config.r1_interval
        if name.endswith("_gradient_penalty"):
            return self.config.gradient_penalty
        return None

    # -- after the updates ------------------------------------------------------------------------
    def after_d_step(self, discriminators: nn.Module) -> None:
        if self.config.objective == "wgan":
            clip_weights(discriminators, self.config.weight_clip)

    def updates_generator(self, step: int) -> bool:
        """Whether the generators are updated at this 0-based step (every n_critic-th)."""
        return step % self.config.n_critic == 0

    @torch.no_grad()
    def _observe(self, prefix: str, real: Scores, fake: Scores) -> None:
        real_all = torch.cat([s.detach().float().flatten() for s in _scales(real)])
        fake_all = torch.cat([s.detach().float().flatten() for s in _scales(fake)])
        self._stats[f"score/{prefix}_real"] = real_all.mean().item()
        self._stats[f"score/{prefix}_fake"] = fake_all.mean().item()
        if self.config.ada_target:
            # m: where D's decision lies — logit 0, LSGAN's 0.5, or the mean fake score where only
            # differences mean something (WGAN, relativistic).
            margin = {"lsgan": 0.5}.get(self.loss, 0.0)
            if self.loss in ("wgan", "ragan", "ralsgan"):
                margin = fake_all.mean()
            signs = torch.sign(real_all - margin)
            self._pending += torch.stack([signs.sum(), torch.tensor(float(signs.numel()))]).to(self._pending)

    @torch.no_grad()
    def end_step(self) -> None:
        """ADA: every `ada_interval` steps, move p by ±(batch · interval) / (ada_kimg · 1000) towards
        keeping r_t at `ada_target` (higher r_t = D more sure of the reals = overfitting = more p)."""
        config = self.config
        if not config.ada_target:
            return
        # Summed over the processes every step, so the accumulator in state.pt is the global one and a
        # resumed run under torchrun continues exactly.
        pending = self._pending.to(self.rt_accumulator)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(pending)
        self.rt_accumulator += pending
        self._pending = torch.zeros(2)
        if (self.step + 1) % config.ada_interval:
            return
        accumulated = self.rt_accumulator
        if accumulated[1] > 0:
            r_t = accumulated[0] / accumulated[1]
            self._stats["ada_r_t"] = r_t.item()
            adjust = torch.sign(r_t - config.ada_target) * self.batch_size * config.ada_interval / (config.ada_kimg * 1000)
            self.augment_p.copy_((self.augment_p + adjust).clamp(0.0, 1.0))
        accumulated.zero_()

    def stats(self) -> dict[str, float]:
        """Mean D(real)/D(fake) per discriminator at the last step, and the augmentation's p and r_t."""
        out = dict(self._stats)
        if self.config.augment:
            out["augment_p"] = float(self.augment_p)
        self._stats = {k: v for k, v in self._stats.items() if k == "ada_r_t"}
        return out


def _in_float32(device_type: str, compute: Callable[[], Tensor]) -> Tensor:
    """Gradient penalties take a double backward: run them outside mixed-precision autocast."""
    with torch.autocast(device_type, enabled=False):
        return compute().float()
