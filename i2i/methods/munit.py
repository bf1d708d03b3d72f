"""MUNIT: Multimodal Unsupervised Image-to-Image Translation (Huang et al., ECCV 2018).

Per domain a generator (content encoder E^c, style encoder E^s, decoder G) and a multi-scale
discriminator (gen_a, gen_b, disc_a, disc_b). Each step (§3.2; the official trainer's order):

    c_a, s_a' = E^c_a(x_a), E^s_a(x_a)                       the same for b
    x_a ≈ G_a(c_a, s_a')                                     image_recon_a      (λ_x = 10)
    s_a, s_b ~ N(0, I)
    x_ba = G_a(c_b, s_a),  x_ab = G_b(c_a, s_b)              translations
    E^c_a(x_ba) ≈ c_b,  E^s_a(x_ba) ≈ s_a                    content_recon_b, style_recon_a  (λ_c = λ_s = 1)
    D_a(x_ba), D_b(x_ab) fooled                              adversarial_a, adversarial_b (LSGAN, 1)
    optional: G_a(E^c_b(x_ab), s_a') ≈ x_a                   cycle_a (explicit style-augmented cycle)
    optional: VGG features of x_ab vs x_a, instance-normalised (domain-invariant perceptual loss)

All reconstruction terms are L1. Adam 1e-4, β = (0.5, 0.999), weight decay 1e-4, LR halved every
100k steps, batch 1, 1M steps, Kaiming init for G and N(0, 0.02) for D (`recipes/munit-*.toml`).
imaginaire's "improved MUNIT" (spectral norm, hinge loss, TTUR, generator EMA) is a recipe switch
away: `discriminator.spectral_norm`, `gan.objective = "hinge"`, `optimizer.lr_d`, `ema_decay`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.data.kinds import DataKind
from i2i.data.unpaired import domain_names
from i2i.errors import I2IError
from i2i.inference.codes import CodeKind
from i2i.losses.adversarial import GanConfig
from i2i.methods.base import Method, OptimizerConfig, Recipe
from i2i.models import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig, MUNITConfig, MUNITGenerator
from i2i.models.munit import min_discriminator_size, random_styles
from i2i.preprocess import Preprocess

LR_POLICIES = ("step", "linear")


@dataclass
class MUNITRecipe(Recipe):
    method: str = "munit"
    steps: int = 1_000_000              # max_iter of the official configs
    batch_size: int = 1                 # the authors' setting (NVlabs/MUNIT#50)
    image_size: int = 256
    generator: MUNITConfig = field(default_factory=MUNITConfig)
    discriminator: MultiScaleDiscriminatorConfig = field(default_factory=MultiScaleDiscriminatorConfig)
    gan: GanConfig = field(default_factory=lambda: GanConfig(objective="lsgan"))
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(
        lr_g=1e-4, lr_d=1e-4, beta1=0.5, beta2=0.999, weight_decay=1e-4))
    lr_policy: str = "step"             # step: × lr_gamma every lr_step_size steps (paper); linear: the
                                        # trainer's constant-then-linear decay (schedule.decay_start)
    lr_step_size: int = 100_000
    lr_gamma: float = 0.5
    perceptual_weights: str | None = None  # VGG19 file for the perceptual terms (else $I2I_VGG19_WEIGHTS / cache)
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "adversarial_a": 1.0,           # gen fooling disc_a with x_ba (gan_w)
        "adversarial_b": 1.0,
        "image_recon_a": 10.0,          # ‖G_a(E_a(x_a)) − x_a‖₁ (recon_x_w)
        "image_recon_b": 10.0,
        "style_recon_a": 1.0,           # ‖E^s_a(x_ba) − s_a‖₁ (recon_s_w)
        "style_recon_b": 1.0,
        "content_recon_a": 1.0,         # ‖E^c_b(x_ab) − c_a‖₁ (recon_c_w)
        "content_recon_b": 1.0,
        "cycle_a": 0.0,                 # explicit cycle (recon_x_cyc_w): 0 for edges2shoes, 10 for scenes; 0 skips it
        "cycle_b": 0.0,
        "perceptual_a": 0.0,            # domain-invariant VGG loss (vgg_w): only for ≥ 512 px; 0 skips it
        "perceptual_b": 0.0,
        "disc_a_real": 1.0,
        "disc_a_fake": 1.0,
        "disc_b_real": 1.0,
        "disc_b_fake": 1.0,
    })


class MUNIT(Method):
    Recipe = MUNITRecipe
    data_kind = DataKind.UNPAIRED

    def __init__(self, recipe: MUNITRecipe) -> None:
        super().__init__(recipe)
        self.names = domain_names(recipe.data.domains)
        if recipe.discriminator.in_channels != recipe.generator.out_channels:
            raise I2IError(f"discriminator.in_channels must equal generator.out_channels ({recipe.generator.out_channels})")
        if recipe.generator.in_channels != recipe.generator.out_channels:
            raise I2IError("MUNIT encodes the images it decodes, so generator.in_channels must equal out_channels")
        self.generators = nn.ModuleDict({"gen_a": MUNITGenerator(recipe.generator),
                                         "gen_b": MUNITGenerator(recipe.generator)})
        self.discriminators = nn.ModuleDict({"disc_a": MultiScaleDiscriminator(recipe.discriminator),
                                             "disc_b": MultiScaleDiscriminator(recipe.discriminator)})
        self._vgg: list[nn.Module] = []  # in a list: the frozen VGG stays out of state dicts and optimisers

    def validate(self) -> None:
        recipe = self.recipe
        if recipe.lr_policy not in LR_POLICIES:
            raise I2IError(f"lr_policy must be one of {', '.join(LR_POLICIES)}, got {recipe.lr_policy!r}")
        multiple, smallest = recipe.generator.multiple_of, recipe.generator.min_size
        if recipe.image_size % multiple or recipe.image_size < smallest:
            raise I2IError(f"image_size {recipe.image_size} must be a multiple of {multiple} and at least {smallest} "
                           f"for this MUNIT generator (content_downsample {recipe.generator.content_downsample})")
        need = min_discriminator_size(recipe.discriminator)
        if recipe.image_size < need:
            raise I2IError(f"image_size {recipe.image_size} is too small for the discriminator ({recipe.discriminator.num_scales} "
                           f"scales × {recipe.discriminator.n_layers} layers needs {need} px); lower "
                           f"discriminator.num_scales or discriminator.n_layers")
        if self.uses_term("perceptual_a") or self.uses_term("perceptual_b"):
            self._perceptual_features()  # a missing VGG file stops the run before step 1

    def _perceptual_features(self) -> nn.Module:
        if not self._vgg:
            from i2i.losses.perceptual import VGGFeatures

            # relu5_3, as the official VGG16 relu5_3 (VGG19 here: the one feature network i2i loads).
            self._vgg.append(VGGFeatures("relu5_3", self.recipe.perceptual_weights))
        vgg = self._vgg[0]
        return vgg.to(next(self.parameters()).device)

    def _domain_invariant_perceptual(self, translated: Tensor, source: Tensor) -> Tensor:
        """MSE between instance-normalised VGG features of a translation and of its content source:
        normalising removes the feature statistics (the style), keeping the layout (§3.2, vgg_w)."""
        vgg = self._perceptual_features()
        fake = F.instance_norm(vgg(translated))
        with torch.no_grad():
            real = F.instance_norm(vgg(source))
        return F.mse_loss(fake, real)

    def generator_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        gen_a, gen_b = self.generators["gen_a"], self.generators["gen_b"]
        disc_a, disc_b = self.discriminators["disc_a"], self.discriminators["disc_b"]
        x_a, x_b = batch["A"], batch["B"]
        style_dim = self.recipe.generator.style_dim
        s_a = torch.randn(x_a.shape[0], style_dim, device=x_a.device)   # styles from the prior N(0, I)
        s_b = torch.randn(x_b.shape[0], style_dim, device=x_b.device)
        c_a, s_a_prime = gen_a.encode(x_a)
        c_b, s_b_prime = gen_b.encode(x_b)
        x_ba = gen_a.decode(c_b, s_a)                                     # b's content in a random a-style
        x_ab = gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = gen_a.encode(x_ba)
        c_a_recon, s_b_recon = gen_b.encode(x_ab)
        losses = {
            "image_recon_a": F.l1_loss(gen_a.decode(c_a, s_a_prime), x_a),
            "image_recon_b": F.l1_loss(gen_b.decode(c_b, s_b_prime), x_b),
            "style_recon_a": F.l1_loss(s_a_recon, s_a),
            "style_recon_b": F.l1_loss(s_b_recon, s_b),
            "content_recon_a": F.l1_loss(c_a_recon, c_a),
            "content_recon_b": F.l1_loss(c_b_recon, c_b),
            "adversarial_a": self.adversary.generator_term(disc_a, x_ba, x_a),   # summed over the scales
            "adversarial_b": self.adversary.generator_term(disc_b, x_ab, x_b),
        }
        # Extra decoder/VGG passes only when their weight is non-zero (the edges2shoes defaults skip them).
        if self.uses_term("cycle_a"):
            losses["cycle_a"] = F.l1_loss(gen_a.decode(c_a_recon, s_a_prime), x_a)
        if self.uses_term("cycle_b"):
            losses["cycle_b"] = F.l1_loss(gen_b.decode(c_b_recon, s_b_prime), x_b)
        if self.uses_term("perceptual_a"):
            losses["perceptual_a"] = self._domain_invariant_perceptual(x_ba, x_b)
        if self.uses_term("perceptual_b"):
            losses["perceptual_b"] = self._domain_invariant_perceptual(x_ab, x_a)
        return losses, {"fake_a": x_ba, "fake_b": x_ab}

    def discriminator_losses(self, batch: dict[str, Tensor], fakes: dict[str, Tensor]) -> dict[str, Tensor]:
        # Each term summed over the scales, as the official MsImageDis.calc_dis_loss.
        disc_a, disc_b = self.discriminators["disc_a"], self.discriminators["disc_b"]
        return {**self.adversary.discriminator_terms("disc_a", disc_a, batch["A"], fakes["fake_a"]),
                **self.adversary.discriminator_terms("disc_b", disc_b, batch["B"], fakes["fake_b"])}

    def lr_schedule(self) -> Callable[[int], float] | None:
        if self.recipe.lr_policy == "linear":
            return None
        size, gamma = self.recipe.lr_step_size, self.recipe.lr_gamma
        return lambda step: gamma ** (step // size)

    def exported_generators(self, generators: nn.ModuleDict | None = None) -> dict[str, nn.Module]:
        generators = self.generators if generators is None else generators
        a, b = self.names
        gen_a, gen_b = generators["gen_a"], generators["gen_b"]
        return {f"{a}->{b}": MUNITGenerator.cross(gen_a, gen_b), f"{b}->{a}": MUNITGenerator.cross(gen_b, gen_a)}

    def domains(self) -> list[str]:
        return list(self.names)

    def preprocess(self) -> Preprocess:
        generator = self.recipe.generator
        return Preprocess(size=self.recipe.image_size, channels=generator.in_channels,
                          multiple_of=generator.multiple_of, min_size=generator.min_size)

    def header(self) -> dict[str, object]:
        return {"kind": CodeKind.STYLE, "code_dim": self.recipe.generator.style_dim, "prior": "normal"}

    def sample_columns(self, images: dict[str, Tensor], translate: Callable[..., Tensor]) -> list[Tensor]:
        """real A | A→B in 3 fixed random styles | real B | B→A in 3 fixed random styles."""
        a, b = self.names
        styles = random_styles(3, self.recipe.generator.style_dim, self.recipe.seed)
        columns = []
        for source, direction in ((images["A"], f"{a}->{b}"), (images["B"], f"{b}->{a}")):
            columns.append(source)
            for style in styles:
                columns.append(translate(direction, source, style.expand(source.shape[0], -1)))
        return columns
