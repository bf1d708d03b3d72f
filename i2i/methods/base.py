"""What every method shares: the recipe skeleton and the interface the one training loop drives.

A method is a published training procedure (pix2pix, CycleGAN, ...). It builds its networks from a
recipe and says what the losses are; the trainer (`i2i.train`) owns optimisation, schedules, EMA,
logging, sampling, checkpoints and resume.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from i2i.data.config import DataConfig
from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.losses.adversarial import Adversary, GanConfig
from i2i.preprocess import Preprocess


@dataclass
class OptimizerConfig:
    name: str = "adam"                  # adam | rmsprop (FUNIT)
    lr_g: float = 2e-4                  # learning rates of generators and discriminators
    lr_d: float = 2e-4
    beta1: float = 0.5                  # Adam's betas (unused by rmsprop)
    beta2: float = 0.999
    weight_decay: float = 0.0


@dataclass
class ScheduleConfig:
    decay_start: float = 0.5            # fraction of the steps at constant LR, then linear decay towards 0


@dataclass
class LogConfig:
    log_every: int = 50                 # steps between metrics.csv rows
    sample_every: int = 500             # steps between sample grids (samples/step_*.png)
    checkpoint_every: int = 1000        # steps between checkpoints + resume state
    num_samples: int = 8                # fixed inputs in each sample grid
    keep_checkpoints: int = 3           # newest step checkpoints kept (0 keeps all)
    tensorboard: bool = True            # also write TensorBoard events (RUN/events/): metrics, grad norms, samples
    eval_every: int = 0                 # steps between held-out evaluations (0 = off): eval.csv and the best
                                        # checkpoint so far in checkpoints/best.safetensors
    eval_limit: int = 50                # held-out images scored each time (the test split, else val)
    eval_metric: str = "auto"           # what "best" means, an eval.csv column: auto = psnr with ground truth
                                        # (MUNIT: guided_psnr; super-resolution: Y-PSNR), else pixel_kid
                                        # (MUNIT: random_style_pixel_kid); see docs/train.md


@dataclass
class InferenceConfig:
    # How BatchNorm layers normalise at inference (translate, export, samples):
    # per_image — statistics of each image, as the reference pix2pix runs at test time with batch 1
    #             (BatchNorm in train mode ≡ InstanceNorm with BatchNorm's scale/shift); batch-independent.
    # running   — the running averages gathered during training (PyTorch eval mode).
    batchnorm: str = "per_image"


@dataclass
class Recipe:
    method: str = ""
    seed: int = 0
    steps: int = 1000                   # optimisation steps (one batch each)
    batch_size: int = 1
    image_size: int = 256               # side of the training crops
    device: str = "auto"                # auto | cpu | cuda
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    gan: GanConfig = field(default_factory=GanConfig)  # objective, D regularisers, augmentation (i2i.losses.adversarial)
    loss_weights: dict[str, float] = field(default_factory=dict)
    init: str | None = None             # --init: checkpoint or run whose generators (a run's discriminators too)
                                        # start the training (i2i.train.init)
    ema_decay: float = 0.0              # EMA of generator weights for checkpoints (0 disables)
    precision: str = "fp32"             # fp32 | bf16 | fp16: autocast for the forward passes (fp16: CUDA only,
                                        # with gradient scaling; bf16 also on CPU); weights stay float32
    channels_last: bool = False         # NHWC memory layout for networks and batches (faster convolutions on GPUs)
    compile: bool = False               # torch.compile every generator and discriminator (in place)
    compile_backend: str = "inductor"   # torch.compile's backend (aot_eager: graph capture without code generation)
    grad_accumulation: int = 1          # split each batch into N micro-batches, one forward/backward each, then
                                        # one optimiser step: batch_size images per step at 1/N of the memory
    sync_batchnorm: bool = False        # under torchrun: BatchNorm statistics over the global batch, not each slice
    max_nonfinite_steps: int = 10       # steps with a NaN/inf loss are skipped (no update); more than this many
                                        # in one run stop it with the last good state saved
    log: LogConfig = field(default_factory=LogConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)


class Method(nn.Module, metaclass=abc.ABCMeta):
    """Interface between a paper's training procedure and the generic trainer.

    Subclasses set `Recipe`, `data_kind` and build `generators` / `discriminators` (ModuleDicts keyed
    by the paper's names). The trainer calls, each step: `generator_losses` (the discriminators are
    frozen), steps the generator optimiser, then `discriminator_losses` with the detached fakes and
    steps the discriminator optimiser. Losses are returned by name and weighted by
    `recipe.loss_weights` in the trainer, the only place where weights apply.
    """

    Recipe: ClassVar[type[Recipe]]
    data_kind: ClassVar[DataKind]
    generators: nn.ModuleDict
    discriminators: nn.ModuleDict

    def __init__(self, recipe: Recipe) -> None:
        super().__init__()
        self.recipe = recipe
        # Network initialisation is part of the recipe: the same seed builds the same weights.
        torch.manual_seed(recipe.seed)
        # The objective, what D sees and its regularisers, shared by every method (recipe.gan).
        self.adversary = Adversary(recipe.gan, recipe.steps, recipe.batch_size)
        self._step = 0
        self.check_loss_weights()

    @abc.abstractmethod
    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(named generator losses, named fakes) for one batch."""

    @abc.abstractmethod
    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        """Named discriminator losses on real data and the detached `fakes`; {} skips D this step."""

    @abc.abstractmethod
    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        """Direction name ("A->B") → generator, from `generators` (e.g. the EMA copy) or our own."""

    @abc.abstractmethod
    def domains(self) -> list[str]:
        """Domain names, in the order the data names them (e.g. ["A", "B"])."""

    @abc.abstractmethod
    def preprocess(self) -> Preprocess:
        """The image ⇄ tensor contract the networks are trained with (stored in checkpoints)."""

    @abc.abstractmethod
    def sample_columns(self, images: dict[str, Tensor], translate: Callable[[str, Tensor], Tensor]) -> list[Tensor]:
        """Columns of the sample grid, left to right, from a batch of fixed inputs in [0, 1].
        `translate(direction, images)` runs the deployed generator (as `i2i translate` would)."""

    @property
    def step(self) -> int:
        """The 0-based step being trained, set by the trainer (stages, lazy regularisers, annealing)."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        self._step = value
        self.adversary.step = value

    @classmethod
    def loss_terms(cls) -> list[str]:
        """The loss terms this method can return, which are the keys of its paper defaults' `loss_weights`."""
        default = next(f for f in fields(cls.Recipe) if f.name == "loss_weights").default_factory()
        return sorted(default)

    def check_loss_weights(self) -> None:
        """A weight naming no loss term of the method (a misspelt `--set loss_weights.l1x=5`) would
        silently do nothing, so it is an error that names it."""
        terms = self.loss_terms()
        unknown = [name for name in self.recipe.loss_weights if name not in terms]
        if unknown:
            raise I2IError(f"loss_weights.{unknown[0]}: {self.recipe.method or type(self).__name__} has no loss term "
                           f"{unknown[0]!r}; its terms are {', '.join(terms)}")

    def uses_term(self, name: str) -> bool:
        """Whether the optional loss term `name` is computed at all: a weight of 0 skips it. (The weight
        itself is applied by the trainer only.)"""
        return self.recipe.loss_weights.get(name, 0.0) != 0.0

    def weights_for(self, losses: dict[str, Tensor]) -> dict[str, float]:
        """The weight of each named loss: a regulariser's from `recipe.gan` (R1 γ·interval, WGAN-GP λ),
        every other term's from `recipe.loss_weights` (left out when missing: the trainer's error)."""
        weights = {}
        for name in losses:
            weight = self.adversary.regulariser_weight(name)
            if weight is None:
                weight = self.recipe.loss_weights.get(name)
            if weight is not None:
                weights[name] = weight
        return weights

    def initialise(self) -> None:
        """Load starting weights a recipe names (e.g. a pre-trained stage), before the first step.
        Runs once when training starts; a resumed run then loads its own state over it."""

    def lr_schedule(self) -> Callable[[int], float] | None:
        """Learning-rate multiplier by 0-based step, or None for the recipe's constant-then-linear decay."""
        return None

    def validate(self) -> None:
        """Raise I2IError for recipe combinations the method cannot train."""

    def pooled_fakes(self) -> dict[str, int]:
        """Fake name → size of the history pool (Shrivastava et al. 2017) the trainer passes it
        through before `discriminator_losses`; {} for none."""
        return {}

    def header(self) -> dict[str, Any]:
        """Method-specific checkpoint header fields (conditioning, ...)."""
        return {}
