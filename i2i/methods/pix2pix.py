"""pix2pix: Image-to-Image Translation with Conditional Adversarial Networks (Isola et al., CVPR 2017).

G: U-Net (unet_256), D: 70×70 PatchGAN that sees the input and the output concatenated (a
conditional GAN). Objective: G* = arg min_G max_D  L_cGAN(G, D) + λ L_L1(G), λ = 100, with the
discriminator's loss halved "to slow down the rate at which D learns relative to G" (§3.3).
Adam 2e-4, β = (0.5, 0.999), batch 1, constant LR then linear decay, N(0, 0.02) init — the paper's
and the reference implementation's settings are this file's defaults.

Update order: the generator step comes first, then the discriminator on the same (detached) fakes.
The reference updates D first; the difference is which D the generator's adversarial term sees in one
step (before or after D's update), which the paper does not specify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.losses.adversarial import GanConfig
from i2i.methods.base import Method, Recipe
from i2i.models import PatchGAN, PatchGANConfig, UNetConfig, UNetGenerator, check_input_size
from i2i.nn import NORMS
from i2i.preprocess import Preprocess


@dataclass
class Pix2PixRecipe(Recipe):
    method: str = "pix2pix"
    steps: int = 80_000                 # facades: 200 epochs × 400 images at batch size 1
    # num_downs 0 = as deep as image_size allows, at most 8: the bottleneck reaches 1×1 as in the
    # reference's unet_256 at 256 px (8 levels) and unet_128 at 128 px (7).
    generator: UNetConfig = field(default_factory=lambda: UNetConfig(num_downs=0))
    discriminator: PatchGANConfig = field(default_factory=PatchGANConfig)
    gan: GanConfig = field(default_factory=lambda: GanConfig(objective="vanilla"))  # BCE-with-logits
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "adversarial": 1.0,             # L_cGAN for G
        "l1": 100.0,                    # λ
        "disc_real": 0.5,               # D's loss is halved (§3.3)
        "disc_fake": 0.5,
    })


class Pix2Pix(Method):
    Recipe = Pix2PixRecipe
    data_kind = DataKind.PAIRED

    def __init__(self, recipe: Pix2PixRecipe) -> None:
        recipe = self.resolve(recipe)
        super().__init__(recipe)
        self.source, self.target = ("A", "B") if recipe.data.direction == "AtoB" else ("B", "A")
        generator_config = recipe.generator
        discriminator_config = recipe.discriminator
        # D judges the (input, output) pair, so its input has both images' channels.
        expected_d_channels = generator_config.in_channels + generator_config.out_channels
        if discriminator_config.in_channels != expected_d_channels:
            raise I2IError(f"discriminator.in_channels must be {expected_d_channels} (input + output channels), "
                           f"got {discriminator_config.in_channels}")
        self.generators = nn.ModuleDict({"generator": UNetGenerator(generator_config)})
        self.discriminators = nn.ModuleDict({"discriminator": PatchGAN(discriminator_config)})

    @staticmethod
    def resolve(recipe: Pix2PixRecipe) -> Pix2PixRecipe:
        """Fill in the automatic U-Net depth (generator.num_downs = 0)."""
        if recipe.generator.num_downs != 0:
            return recipe
        depth = 0
        while depth < 8 and recipe.image_size % 2 ** (depth + 1) == 0:
            depth += 1
        if depth < 5:
            raise I2IError(f"image_size {recipe.image_size} must be a multiple of 32 for the U-Net (5 or more levels)")
        return replace(recipe, generator=replace(recipe.generator, num_downs=depth))

    def validate(self) -> None:
        recipe = self.recipe
        if recipe.data.direction not in ("AtoB", "BtoA"):
            raise I2IError(f"data.direction must be AtoB or BtoA, got {recipe.data.direction!r}")
        for name, norm in (("generator.norm", recipe.generator.norm), ("discriminator.norm", recipe.discriminator.norm)):
            if norm not in NORMS:
                raise I2IError(f"{name} must be one of {', '.join(NORMS)}, got {norm!r}")
        multiple = recipe.generator.multiple_of
        if recipe.image_size % multiple:
            raise I2IError(f"image_size {recipe.image_size} is not a multiple of {multiple} "
                           f"(2**generator.num_downs = 2**{recipe.generator.num_downs}); lower num_downs or "
                           f"change image_size")
        try:
            check_input_size(recipe.discriminator, recipe.image_size)
        except ValueError as error:
            raise I2IError(str(error)) from None

    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        real_a, real_b = batch[self.source], batch[self.target]
        fake_b = self.generators["generator"](real_a)
        discriminator = self.discriminators["discriminator"]
        losses = {
            "adversarial": self.adversary.generator_term(discriminator, torch.cat([real_a, fake_b], dim=1),
                                                         torch.cat([real_a, real_b], dim=1)),
            "l1": F.l1_loss(fake_b, real_b),
        }
        return losses, {"fake_b": fake_b}

    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        real_a, real_b = batch[self.source], batch[self.target]
        # D judges (input, output) pairs: the condition is part of what it sees (and of what R1 differentiates).
        return self.adversary.discriminator_terms("disc", self.discriminators["discriminator"],
                                                  torch.cat([real_a, real_b], dim=1),
                                                  torch.cat([real_a, fakes["fake_b"]], dim=1))

    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        generators = self.generators if generators is None else generators
        return {f"{self.source}->{self.target}": generators["generator"]}

    def domains(self) -> list[str]:
        return ["A", "B"]

    def preprocess(self) -> Preprocess:
        return Preprocess(size=self.recipe.image_size, channels=self.recipe.generator.in_channels,
                          multiple_of=self.recipe.generator.multiple_of, min_size=self.recipe.generator.min_size)

    def sample_columns(self, images: dict[str, Tensor], translate: Callable[[str, Tensor], Tensor]) -> list[Tensor]:
        """input | output | target."""
        source = images[self.source]
        return [source, translate(f"{self.source}->{self.target}", source), images[self.target]]
