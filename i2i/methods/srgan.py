"""SRGAN: Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network
(Ledig et al., CVPR 2017), with ESRGAN (Wang et al., ECCVW 2018) as a recipe.

Two stages in one method (`stage`):
1. `srresnet` — the generator alone on the pixel-wise MSE between SR and HR (the paper's SRResNet,
   the PSNR model).
2. `srgan` — initialised from stage 1: content loss on VGG19 φ5,4 features (rescaled by 1/12.75)
   + 10⁻³ × adversarial (−log D(G(LR))) against the SRGAN discriminator (BCE).
`both` runs stage 1 for the first `switch_at` fraction of the steps, then stage 2 in the same run;
the switch step is written to metrics.csv's rows and the checkpoint header. Paper schedule: Adam
β₁ = 0.9, lr 10⁻⁴ for 10⁶ SRResNet updates; SRGAN 10⁵ updates at 10⁻⁴ and 10⁵ at 10⁻⁵; batch 16 of
96 px HR crops; LR made by bicubic ÷4 (see `i2i.data.superres` for the exact resize).

ESRGAN (recipes/esrgan-x4-div2k.toml): RRDB generator, relativistic average discriminator
(`gan.objective = "ragan"`, i2i.losses.objectives), perceptual loss on conv5_4 before the activation with L1,
L1 pixel term 10⁻², adversarial 5·10⁻³.

Network range: LR and HR are both normalised to [−1, 1] (the project-wide contract); the paper feeds
LR in [0, 1] — an affine change the first convolution absorbs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.losses.adversarial import GanConfig
from i2i.methods.base import InferenceConfig, Method, OptimizerConfig, Recipe, ScheduleConfig
from i2i.models import (
    MSRResNet,
    MSRResNetConfig,
    RRDBNet,
    RRDBNetConfig,
    SRDiscriminator,
    SRDiscriminatorConfig,
    SRResNet,
    SRResNetConfig,
    SRVGGNet,
    SRVGGNetConfig,
)
from i2i.preprocess import Preprocess

STAGES = ("srresnet", "srgan", "both")
STAGE1_DECAYS = ("linear", "cosine")
# What the networks see: i2i's own SR models (x − 0.5)/0.5 like every i2i method; the weights of
# ESRGAN, Real-ESRGAN and BasicSR were trained on pixels in [0, 1] as they are (fine-tune those so).
INPUT_RANGES = {"minus_one_one": (0.5, 0.5), "zero_one": (0.0, 1.0)}
# The generator a recipe trains, each with its config section; the last two are the networks of
# imported Real-ESRGAN compact and BasicSR MSRResNet weights, here so that `--init` can fine-tune them.
GENERATORS = {"srresnet": SRResNet, "rrdbnet": RRDBNet, "srvggnet": SRVGGNet, "msrresnet": MSRResNet}
ARCHITECTURES = tuple(GENERATORS)


@dataclass
class PerceptualConfig:
    layer: str = "relu5_4"              # φ5,4: after the 4th conv's ReLU before the 5th max-pool (ESRGAN: conv5_4)
    criterion: str = "mse"              # mse (SRGAN) or l1 (ESRGAN)
    feature_scale: float = 1 / 12.75    # SRGAN rescales VGG features by 1/12.75 (ESRGAN: 1)
    weights: str | None = None          # VGG19 ImageNet weights file (else $I2I_VGG19_WEIGHTS, else torch's cache)


@dataclass
class SRGANRecipe(Recipe):
    method: str = "srgan"
    scale: int = 4                      # ×2, ×4 (paper) or ×8
    stage: str = "both"                 # srresnet | srgan | both
    switch_at: float = 1_000_000 / 1_200_000  # stage=both: fraction of the steps spent in stage 1
    init_from: str | None = None        # stage=srgan: the SRResNet checkpoint (.safetensors or run dir) to start from
    steps: int = 1_200_000              # 10⁶ SRResNet + 2·10⁵ SRGAN updates
    batch_size: int = 16
    image_size: int = 96                # HR crop side (LR 24 at ×4)
    architecture: str = "srresnet"      # srresnet (paper), rrdbnet (ESRGAN), srvggnet (Real-ESRGAN compact) or msrresnet
    input_range: str = "minus_one_one"  # minus_one_one: (x − 0.5)/0.5; zero_one: pixels as they are (for --init
                                        # from imported ESRGAN/Real-ESRGAN/BasicSR weights)
    srresnet: SRResNetConfig = field(default_factory=SRResNetConfig)
    rrdbnet: RRDBNetConfig = field(default_factory=RRDBNetConfig)
    srvggnet: SRVGGNetConfig = field(default_factory=SRVGGNetConfig)
    msrresnet: MSRResNetConfig = field(default_factory=MSRResNetConfig)
    discriminator: SRDiscriminatorConfig = field(default_factory=SRDiscriminatorConfig)
    gan: GanConfig = field(default_factory=lambda: GanConfig(objective="vanilla"))  # −log D(G(x)); ESRGAN: ragan
    pixel_criterion: str = "mse"        # stage 1 loss (and stage 2's optional pixel term): mse or l1
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    srgan_lr_drop: float = 0.5          # stage 2: lr × 0.1 after this fraction of its steps (10⁵ of 2·10⁵)
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(decay_start=1.0))  # stage 1: constant
    stage1_decay: str = "linear"        # stage 1's decay after schedule.decay_start: linear (i2i's rule) or
                                        # cosine (half a cosine to 0, BasicSR's short-run choice)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr_g=1e-4, lr_d=1e-4, beta1=0.9))
    # Eval-mode BatchNorm: the SR network is then a fixed convolution stack, so tiled inference is
    # exact and one image's statistics never change another's colours.
    inference: InferenceConfig = field(default_factory=lambda: InferenceConfig(batchnorm="running"))
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "pixel": 1.0,                   # stage 1: MSE(SR, HR)
        "content": 1.0,                 # stage 2: VGG φ5,4 MSE (features already rescaled)
        "adversarial": 1e-3,            # stage 2
        "gan_pixel": 0.0,               # stage 2 pixel term (ESRGAN: 1e-2 L1); 0 skips it
        "disc_real": 1.0,
        "disc_fake": 1.0,
    })


class SRGAN(Method):
    Recipe = SRGANRecipe
    data_kind = DataKind.SUPERRES

    def __init__(self, recipe: SRGANRecipe) -> None:
        super().__init__(recipe)
        if recipe.architecture not in ARCHITECTURES:
            raise I2IError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {recipe.architecture!r}")
        if recipe.input_range not in INPUT_RANGES:
            raise I2IError(f"input_range must be one of {', '.join(INPUT_RANGES)}, got {recipe.input_range!r}")
        if recipe.scale not in (2, 4, 8):
            raise I2IError(f"scale must be 2, 4 or 8, got {recipe.scale}")
        config = getattr(recipe, recipe.architecture)
        generator: nn.Module = GENERATORS[recipe.architecture](replace(config, scale=recipe.scale))
        self.generators = nn.ModuleDict({"generator": generator})
        self.discriminators = nn.ModuleDict({
            "discriminator": SRDiscriminator(replace(recipe.discriminator, input_size=recipe.image_size))})
        self._perceptual: nn.Module | None = None

    # -- stages -----------------------------------------------------------------------------------
    @property
    def switch_step(self) -> int:
        """First step of stage 2 (0 when the run is stage 2 only; `steps` when stage 1 only)."""
        recipe = self.recipe
        return {"srresnet": recipe.steps, "srgan": 0}.get(recipe.stage, round(recipe.steps * recipe.switch_at))

    def in_stage2(self) -> bool:
        return self.step >= self.switch_step

    def validate(self) -> None:
        recipe = self.recipe
        if recipe.stage not in STAGES:
            raise I2IError(f"stage must be one of {', '.join(STAGES)}, got {recipe.stage!r}")
        if recipe.stage1_decay not in STAGE1_DECAYS:
            raise I2IError(f"stage1_decay must be one of {', '.join(STAGE1_DECAYS)}, got {recipe.stage1_decay!r}")
        if recipe.pixel_criterion not in ("mse", "l1"):
            raise I2IError(f"pixel_criterion must be mse or l1, got {recipe.pixel_criterion!r}")
        if recipe.image_size % recipe.scale:
            raise I2IError(f"image_size {recipe.image_size} (the HR crop) must be a multiple of the scale {recipe.scale}")
        if recipe.stage == "both" and not 0.0 < recipe.switch_at < 1.0:
            raise I2IError(f"switch_at must be in (0, 1) for stage=both, got {recipe.switch_at}")
        if recipe.stage == "srgan" and not recipe.init_from:
            raise I2IError("stage=srgan starts from a trained SRResNet (as the paper does): "
                           "--set init_from=RUN_DIR_OR_CHECKPOINT (a stage=srresnet run)")
        if recipe.stage != "srresnet":
            self.perceptual_loss()  # a missing VGG file stops the run now, not after stage 1

    def perceptual_loss(self) -> nn.Module:
        if self._perceptual is None:
            from i2i.losses.perceptual import PerceptualLoss

            config = self.recipe.perceptual
            # Not a registered submodule: the frozen VGG stays out of checkpoints and optimisers.
            self._perceptual = PerceptualLoss(layer=config.layer, criterion=config.criterion,
                                              feature_scale=config.feature_scale, weights=config.weights)
        return self._perceptual

    def initialise(self) -> None:
        """Load the generator named by `init_from` (stage=srgan: the stage-1 SRResNet)."""
        from i2i.checkpoint import load_checkpoint

        if not self.recipe.init_from:
            return
        checkpoint = load_checkpoint(self.recipe.init_from)
        source = checkpoint.generator(checkpoint.direction(None))
        try:
            self.generators["generator"].load_state_dict(source.state_dict())
        except RuntimeError as error:
            raise I2IError(f"{self.recipe.init_from}: its generator does not match this recipe's "
                           f"({str(error).splitlines()[0]})") from None

    def lr_schedule(self) -> Callable[[int], float]:
        """Stage 1: constant (the paper), or a decay after `schedule.decay_start` of its steps when a
        recipe sets it below 1 — linear (the trainer's rule) or, with `stage1_decay = "cosine"`, half a
        cosine; stage 2: × 0.1 after `srgan_lr_drop` of its steps (the paper: 10⁵ updates at 10⁻⁴, then
        10⁵ at 10⁻⁵)."""
        switch, steps = self.switch_step, self.recipe.steps
        constant = round(switch * self.recipe.schedule.decay_start)   # stage-1 steps before the decay
        drop = switch + round((steps - switch) * self.recipe.srgan_lr_drop)
        cosine = self.recipe.stage1_decay == "cosine"

        def multiplier(step: int) -> float:
            if step < switch:  # over stage 1 only; like the linear rule, the last step is not at exactly 0
                progress = max(0, step + 1 - constant) / (switch - constant + 1)
                return 0.5 * (1.0 + math.cos(math.pi * progress)) if cosine else 1.0 - progress
            return 0.1 if step >= drop else 1.0

        return multiplier

    # -- losses -----------------------------------------------------------------------------------
    def _to_unit_range(self, images: Tensor) -> Tensor:
        """Network-space images → [-1, 1], what the VGG loss takes (identity for minus_one_one)."""
        return images * 2 - 1 if self.recipe.input_range == "zero_one" else images

    def _pixel(self, output: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(output, target) if self.recipe.pixel_criterion == "mse" else F.l1_loss(output, target)

    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        lr, hr = batch["LR"], batch["HR"]
        sr = self.generators["generator"](lr)
        if not self.in_stage2():
            return {"pixel": self._pixel(sr, hr)}, {"sr": sr}
        disc = self.discriminators["discriminator"]
        losses = {"content": self.perceptual_loss().to(sr.device)(self._to_unit_range(sr), self._to_unit_range(hr))}
        losses["adversarial"] = self.adversary.generator_term(disc, sr, hr)
        if self.uses_term("gan_pixel"):
            losses["gan_pixel"] = self._pixel(sr, hr)
        return losses, {"sr": sr}

    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        if not self.in_stage2():
            return {}
        return self.adversary.discriminator_terms("disc", self.discriminators["discriminator"], batch["HR"], fakes["sr"])

    # -- deployment -------------------------------------------------------------------------------
    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        generators = self.generators if generators is None else generators
        return {"LR->HR": generators["generator"]}

    def domains(self) -> list[str]:
        return ["LR", "HR"]

    def preprocess(self) -> Preprocess:
        config = self.generators["generator"].config
        mean, std = INPUT_RANGES[self.recipe.input_range]
        return Preprocess(size=self.recipe.image_size, scale=self.recipe.scale, min_size=config.min_size,
                          multiple_of=config.multiple_of, mean=(mean,) * 3, std=(std,) * 3,
                          extra={"degradation": "Pillow BICUBIC ÷ scale of the 8-bit HR, rounded to 8 bits"})

    def header(self) -> dict[str, object]:
        return {"scale": self.recipe.scale, "stage": self.recipe.stage, "switch_step": self.switch_step}

    def sample_columns(self, images: dict[str, Tensor], translate: Callable[[str, Tensor], Tensor]) -> list[Tensor]:
        """bicubic | SR | HR."""
        lr = images["LR"]
        bicubic = F.interpolate(lr, scale_factor=self.recipe.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        return [bicubic, translate("LR->HR", lr), images["HR"]]

