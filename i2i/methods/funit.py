"""FUNIT: Few-Shot Unsupervised Image-to-Image Translation (Liu et al., ICCV 2019).

One generator G (content encoder, class encoder, AdaIN decoder) and one multi-task discriminator D
with an output per training class. Each step takes a content image x_a of class a and a class image
x_b of another class b (K = 1 in training; any K at test time, the codes averaged). §3.2, and the
official `funit_model.py`:

    x_t = G(x_a, {x_b})   translation        x_r = G(x_a, {x_a})   reconstruction
    adversarial_translation / _reconstruction   hinge: −D_b(x_t), −D_a(x_r), weighted ½ each (gan_w 1)
    image_recon            ‖x_r − x_a‖₁, λ_R = 0.1
    feature_matching_class ‖D_f(x_t) − D_f(x_b)‖₁, feature_matching_content ‖D_f(x_r) − D_f(x_a)‖₁,
                           D_f = D's last features averaged over space, λ_F = 1
    D: hinge on real x_b (class b) and fake x_t (class b) + R1 = 10 · E‖∇_x D_b(x_b)‖² on the reals

RMSprop 1e-4 for G and D, weight decay 1e-4, Kaiming init, generator EMA 0.999 (what inference
uses), batch 64, 100k steps, 128 px crops of 140 px images (`recipes/funit-animal-faces.toml`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.inference.codes import CodeKind
from i2i.losses.adversarial import GanConfig
from i2i.methods.base import Method, OptimizerConfig, Recipe, ScheduleConfig
from i2i.models import FUNITConfig, FUNITGenerator, MultiTaskDiscriminator, MultiTaskDiscriminatorConfig
from i2i.models.funit import min_discriminator_size
from i2i.preprocess import Preprocess

DIRECTION = "content->class"


@dataclass
class FUNITRecipe(Recipe):
    method: str = "funit"
    steps: int = 100_000
    batch_size: int = 64                # 8 GPUs × 8 in the paper
    image_size: int = 128               # random 128 px crops of images resized to 140 (data.load_size)
    generator: FUNITConfig = field(default_factory=FUNITConfig)
    discriminator: MultiTaskDiscriminatorConfig = field(
        default_factory=lambda: MultiTaskDiscriminatorConfig(num_classes=0))  # 0: one output per class found in the data
    # Hinge loss and R1 = 10 on the real images, every step (the official r_w / gan_w settings).
    gan: GanConfig = field(default_factory=lambda: GanConfig(objective="hinge", r1=10.0))
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(
        name="rmsprop", lr_g=1e-4, lr_d=1e-4, weight_decay=1e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(decay_start=1.0))  # constant LR
    ema_decay: float = 0.999            # gen_test of the official code; checkpoints hold the EMA weights
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "adversarial_translation": 0.5,     # gan_w · ½ (l_adv = ½ (l_adv_t + l_adv_r))
        "adversarial_reconstruction": 0.5,
        "image_recon": 0.1,                 # λ_R (r_w)
        "feature_matching_class": 1.0,      # λ_F (fm_w)
        "feature_matching_content": 1.0,
        "disc_real": 1.0,
        "disc_fake": 1.0,                   # (R1's weight is gan.r1)
    })


class FUNIT(Method):
    Recipe = FUNITRecipe
    data_kind = DataKind.CLASSES

    def __init__(self, recipe: FUNITRecipe) -> None:
        super().__init__(recipe)
        self.classes = self._training_classes()
        discriminator = recipe.discriminator
        if discriminator.num_classes == 0:
            discriminator = replace(discriminator, num_classes=len(self.classes))
            recipe.discriminator = discriminator  # resolved: recipe.json and the checkpoint record it
        if self.classes and discriminator.num_classes != len(self.classes):
            raise I2IError(f"discriminator.num_classes is {discriminator.num_classes} but {recipe.data.root} holds "
                           f"{len(self.classes)} training classes")
        if discriminator.num_classes < 2:
            raise I2IError("FUNIT needs at least 2 training classes (discriminator.num_classes)")
        self.generators = nn.ModuleDict({"generator": FUNITGenerator(recipe.generator)})
        self.discriminators = nn.ModuleDict({"discriminator": MultiTaskDiscriminator(discriminator)})

    def _training_classes(self) -> list[str]:
        from i2i.data.classes import find_class_folders

        if self.recipe.discriminator.num_classes:
            try:
                return sorted(find_class_folders(self.recipe.data.root, "train"))
            except I2IError:
                return []  # networks sized from the recipe alone (export, tests); the data is checked when loaded
        return sorted(find_class_folders(self.recipe.data.root, "train"))

    def validate(self) -> None:
        recipe = self.recipe
        multiple, smallest = recipe.generator.multiple_of, recipe.generator.min_size
        if recipe.image_size % multiple or recipe.image_size < smallest:
            raise I2IError(f"image_size {recipe.image_size} must be a multiple of {multiple} and at least {smallest} "
                           f"for this FUNIT generator (content_downsample {recipe.generator.content_downsample})")
        need = min_discriminator_size(recipe.discriminator)
        if recipe.image_size < need:
            raise I2IError(f"image_size {recipe.image_size} is too small for the discriminator "
                           f"(res_blocks {recipe.discriminator.res_blocks} needs {need} px)")

    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        generator, disc = self.generators["generator"], self.discriminators["discriminator"]
        adversary = self.adversary
        x_a, label_a = batch["content"], batch["content_label"]
        x_b, label_b = batch["class_image"], batch["class_label"]
        content = generator.content_encoder(x_a)
        code_a = generator.class_encoder(x_a)
        code_b = generator.class_encoder(x_b)
        x_t = generator.decoder(content, code_b)      # x_a's content in x_b's class
        x_r = generator.decoder(content, code_a)      # x_a rebuilt from its own class code
        # One D pass per fake gives both its score and the features that feature matching compares.
        score_t, features_t = disc(adversary.view(x_t), label_b)
        score_r, features_r = disc(adversary.view(x_r), label_a)
        with torch.no_grad():  # real features are targets only
            real_b, features_b = disc(adversary.view(x_b), label_b)
            real_a, features_a = disc(adversary.view(x_a), label_a)
        losses = {
            "adversarial_translation": adversary.generator_loss(score_t, real_b),
            "adversarial_reconstruction": adversary.generator_loss(score_r, real_a),
            "image_recon": F.l1_loss(x_r, x_a),
            "feature_matching_class": F.l1_loss(features_t.mean((2, 3)), features_b.mean((2, 3))),
            "feature_matching_content": F.l1_loss(features_r.mean((2, 3)), features_a.mean((2, 3))),
        }
        return losses, {"translation": x_t}

    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        disc, label_b = self.discriminators["discriminator"], batch["class_label"]
        # D's output for the image's own class: real x_b and the translation into its class.
        return self.adversary.discriminator_terms("disc", lambda images: disc(images, label_b)[0],
                                                  batch["class_image"], fakes["translation"])

    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        generators = self.generators if generators is None else generators
        return {DIRECTION: generators["generator"]}

    def domains(self) -> list[str]:
        return ["content", "class"]

    def preprocess(self) -> Preprocess:
        generator = self.recipe.generator
        return Preprocess(size=self.recipe.image_size, channels=generator.in_channels,
                          multiple_of=generator.multiple_of, min_size=generator.min_size)

    def header(self) -> dict[str, object]:
        return {"kind": CodeKind.CLASS, "code_dim": self.recipe.generator.class_dim, "k_shot": "mean of the K codes",
                "training_classes": self.classes}

    def sample_columns(self, images: dict[str, Tensor], translate: Callable[..., Tensor]) -> list[Tensor]:
        """content | class image | content translated into that class (K = 1)."""
        content, class_images = images["content"], images["class_image"]
        codes = translate.encode(DIRECTION, class_images)  # type: ignore[attr-defined]
        return [content, class_images, translate(DIRECTION, content, codes)]

