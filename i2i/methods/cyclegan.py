"""CycleGAN: Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks
(Zhu et al., ICCV 2017).

Two generators, gen_a2b: A → B and gen_b2a: B → A (ResNet, 9 blocks at 256 px), and two 70×70
PatchGAN discriminators, disc_b judging B images and disc_a judging A images. Objective (§3):

    L = L_GAN(gen_a2b, disc_b) + L_GAN(gen_b2a, disc_a)
        + λ (‖gen_b2a(gen_a2b(a)) − a‖₁ + ‖gen_a2b(gen_b2a(b)) − b‖₁)          cycle, λ = 10 per direction
        + λ_id (‖gen_a2b(b) − b‖₁ + ‖gen_b2a(a) − a‖₁)                         identity (§5.2)

with least-squares GAN losses, discriminator losses halved, and each discriminator shown fakes
from a history pool of 50. Every entry of `loss_weights` is an absolute multiplier: the identity
weight 5.0 is the reference's `--lambda_identity 0.5`, which that code multiplies by the cycle
weight 10 (another well-known implementation uses 0.5 as an absolute weight — ten times weaker).

Adam 2e-4, β = (0.5, 0.999), batch 1, constant LR for half the run then linear decay to zero
(100 + 100 epochs), N(0, 0.02) init. Update order as the reference: generators, then discriminators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.data.kinds import DataKind
from i2i.data.unpaired import domain_names
from i2i.errors import I2IError
from i2i.losses.adversarial import GanConfig
from i2i.methods.base import Method, Recipe
from i2i.models import PatchGAN, PatchGANConfig, ResNetConfig, ResNetGenerator, check_input_size
from i2i.nn import NORMS
from i2i.preprocess import Preprocess


@dataclass
class CycleGANRecipe(Recipe):
    method: str = "cyclegan"
    steps: int = 266_800                # horse2zebra: 200 epochs × 1,334 iterations (max of the domains) at batch 1
    generator: ResNetConfig = field(default_factory=ResNetConfig)  # resnet_9blocks; 6 blocks for 128 px data
    discriminator: PatchGANConfig = field(default_factory=lambda: PatchGANConfig(in_channels=3, norm="instance"))
    gan: GanConfig = field(default_factory=lambda: GanConfig(objective="lsgan"))  # §4: "more stable ... higher quality"
    pool_size: int = 50                 # fakes remembered per discriminator (0 = always the newest)
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "adversarial_a2b": 1.0,         # gen_a2b fooling disc_b
        "adversarial_b2a": 1.0,         # gen_b2a fooling disc_a
        "cycle_a": 10.0,                # ‖gen_b2a(gen_a2b(a)) − a‖₁ (λ)
        "cycle_b": 10.0,                # ‖gen_a2b(gen_b2a(b)) − b‖₁ (λ)
        "identity_a2b": 5.0,            # ‖gen_a2b(b) − b‖₁, absolute (= reference 0.5 × λ); 0 skips it
        "identity_b2a": 5.0,            # ‖gen_b2a(a) − a‖₁, absolute; 0 skips it
        "disc_a_real": 0.5,             # each discriminator's loss is halved (§7.1)
        "disc_a_fake": 0.5,
        "disc_b_real": 0.5,
        "disc_b_fake": 0.5,
    })


class CycleGAN(Method):
    Recipe = CycleGANRecipe
    data_kind = DataKind.UNPAIRED

    def __init__(self, recipe: CycleGANRecipe) -> None:
        super().__init__(recipe)
        self.names = domain_names(recipe.data.domains)
        generator, discriminator = recipe.generator, recipe.discriminator
        if discriminator.in_channels != generator.out_channels:
            raise I2IError(f"discriminator.in_channels must equal generator.out_channels "
                           f"({generator.out_channels}): each discriminator judges single images")
        if generator.in_channels != generator.out_channels:
            raise I2IError("CycleGAN maps both ways between the domains, so generator.in_channels must "
                           f"equal generator.out_channels (got {generator.in_channels} and {generator.out_channels})")
        self.generators = nn.ModuleDict({"gen_a2b": ResNetGenerator(generator), "gen_b2a": ResNetGenerator(generator)})
        self.discriminators = nn.ModuleDict({"disc_a": PatchGAN(discriminator), "disc_b": PatchGAN(discriminator)})

    def validate(self) -> None:
        recipe = self.recipe
        for name, norm in (("generator.norm", recipe.generator.norm), ("discriminator.norm", recipe.discriminator.norm)):
            if norm not in NORMS:
                raise I2IError(f"{name} must be one of {', '.join(NORMS)}, got {norm!r}")
        if recipe.pool_size < 0:
            raise I2IError(f"pool_size must be >= 0, got {recipe.pool_size}")
        multiple, smallest = recipe.generator.multiple_of, recipe.generator.min_size
        if recipe.image_size % multiple or recipe.image_size < smallest:
            raise I2IError(f"image_size {recipe.image_size} must be a multiple of {multiple} and at least {smallest} "
                           f"for the ResNet generator")
        try:
            check_input_size(recipe.discriminator, recipe.image_size)
        except ValueError as error:
            raise I2IError(str(error)) from None

    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        gen_a2b, gen_b2a = self.generators["gen_a2b"], self.generators["gen_b2a"]
        disc_a, disc_b = self.discriminators["disc_a"], self.discriminators["disc_b"]
        real_a, real_b = batch["A"], batch["B"]
        fake_b = gen_a2b(real_a)
        fake_a = gen_b2a(real_b)
        losses = {
            "adversarial_a2b": self.adversary.generator_term(disc_b, fake_b, real_b),
            "adversarial_b2a": self.adversary.generator_term(disc_a, fake_a, real_a),
            "cycle_a": F.l1_loss(gen_b2a(fake_b), real_a),
            "cycle_b": F.l1_loss(gen_a2b(fake_a), real_b),
        }
        # Two extra generator passes per step: skipped when their weight is 0 (the paper's main results).
        if self.uses_term("identity_a2b"):
            losses["identity_a2b"] = F.l1_loss(gen_a2b(real_b), real_b)
        if self.uses_term("identity_b2a"):
            losses["identity_b2a"] = F.l1_loss(gen_b2a(real_a), real_a)
        return losses, {"fake_a": fake_a, "fake_b": fake_b}

    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        disc_a, disc_b = self.discriminators["disc_a"], self.discriminators["disc_b"]
        return {**self.adversary.discriminator_terms("disc_a", disc_a, batch["A"], fakes["fake_a"]),
                **self.adversary.discriminator_terms("disc_b", disc_b, batch["B"], fakes["fake_b"])}

    def pooled_fakes(self) -> dict[str, int]:
        return {"fake_a": self.recipe.pool_size, "fake_b": self.recipe.pool_size}

    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        generators = self.generators if generators is None else generators
        a, b = self.names
        # First the direction out of the first domain: `translate --to` defaults to it.
        return {f"{a}->{b}": generators["gen_a2b"], f"{b}->{a}": generators["gen_b2a"]}

    def domains(self) -> list[str]:
        return list(self.names)

    def preprocess(self) -> Preprocess:
        generator = self.recipe.generator
        return Preprocess(size=self.recipe.image_size, channels=generator.in_channels,
                          multiple_of=generator.multiple_of, min_size=generator.min_size)

    def sample_columns(self, images: dict[str, Tensor], translate: Callable[[str, Tensor], Tensor]) -> list[Tensor]:
        """real A | A→B | A→B→A | real B | B→A | B→A→B."""
        a, b = self.names
        real_a, real_b = images["A"], images["B"]
        fake_b = translate(f"{a}->{b}", real_a)
        fake_a = translate(f"{b}->{a}", real_b)
        return [real_a, fake_b, translate(f"{b}->{a}", fake_b), real_b, fake_a, translate(f"{a}->{b}", fake_a)]
