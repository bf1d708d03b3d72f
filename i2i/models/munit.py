"""MUNIT networks: Multimodal Unsupervised Image-to-Image Translation (Huang et al., ECCV 2018).

An image is split into a *content code* (spatial, shared by the domains) and a *style code* (a small
vector, specific to a domain). A domain's generator has (§3, appendix B of the paper):

- content encoder: 7×7 conv (dim) → `content_downsample` 4×4 stride-2 convs doubling the width →
  `content_res_blocks` residual blocks; InstanceNorm everywhere.
- style encoder: 7×7 conv → two 4×4 stride-2 convs doubling the width → `style_downsample − 2` more at
  that width → global average pooling → 1×1 conv to `style_dim` (8). No normalisation: it would erase
  the very statistics the style is made of.
- decoder: residual blocks with AdaIN whose γ/β come from an MLP of the style code → per downsampling,
  nearest ×2 upsampling + 5×5 conv + LayerNorm + ReLU → 7×7 conv → tanh.

Every activation but the final tanh and the style MLP's is `activation` (ReLU in the paper), the MLP's
is `mlp_activation`, and every convolution pads with `pad_type` (reflection). The official `AdaINGen`
builds all of them, the MLP's included, from `gen.activ` and `gen.pad_type`: imported runs set both.

Translation A → B = decoder_B(content_encoder_A(x), s) with s ~ N(0, I) (random styles) or
s = style_encoder_B(reference) (example-guided). `MUNITGenerator` is one domain's three parts for
training; the deployed direction A → B is a `MUNITGenerator` of the same shape assembled from A's
content encoder and B's style encoder and decoder (`MUNITGenerator.cross`), so a checkpoint stores
one self-contained network per direction. The style encoder reads images of the domain the decoder
writes, so it takes `out_channels`: a direction from a grey domain (1 channel) to an RGB one has
in_channels 1 and out_channels 3.

`MultiScaleDiscriminator`: the same 4-layer PatchGAN-style critic (no norm, LeakyReLU 0.2) at 3 scales,
the input average-pooled by 2 between scales; each scale gives a map of logits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from i2i.nn import AdaINResBlock, ConvNormAct, Downsample, NearestUpConv, ResBlock, StyleMLP, init_weights
from i2i.nn.adain import AdaIN, split_adain_params
from i2i.nn.factory import get_act


class ContentEncoder(nn.Module):
    """Image (N, C, H, W) → content code (N, dim·2^downsample, H/2^downsample, W/2^downsample)."""

    def __init__(self, in_channels: int, dim: int, downsample: int, res_blocks: int, norm: str = "instance",
                 act: str = "relu", pad_type: str = "reflect", spectral_norm: bool = False) -> None:
        super().__init__()
        sn = spectral_norm
        self.stem = ConvNormAct(in_channels, dim, 7, pad_type=pad_type, norm=norm, act=act, bias=True, spectral_norm=sn)
        downs = []
        for _ in range(downsample):
            downs.append(Downsample(dim, 2 * dim, 4, norm=norm, act=act, pad_type=pad_type, spectral_norm=sn))
            dim *= 2
        self.down = nn.Sequential(*downs)
        self.blocks = nn.Sequential(*[ResBlock(dim, norm=norm, act=act, pad_type=pad_type, spectral_norm=sn)
                                      for _ in range(res_blocks)])
        self.out_channels = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.down(self.stem(x)))


class StyleEncoder(nn.Module):
    """Image (N, C, H, W) of any size ≥ 2^downsample → code (N, code_dim). MUNIT's style encoder and
    FUNIT's class encoder (same layers; FUNIT averages the codes of K images)."""

    def __init__(self, in_channels: int, dim: int, downsample: int, code_dim: int, act: str = "relu",
                 pad_type: str = "reflect", spectral_norm: bool = False) -> None:
        super().__init__()
        if downsample < 2:
            raise ValueError(f"style/class encoder downsample must be >= 2, got {downsample}")
        self.stem = ConvNormAct(in_channels, dim, 7, pad_type=pad_type, act=act, bias=True, spectral_norm=spectral_norm)
        downs = []
        for i in range(downsample):
            out = 2 * dim if i < 2 else dim  # doubles twice, then keeps the width
            downs.append(Downsample(dim, out, 4, norm="none", act=act, pad_type=pad_type, spectral_norm=spectral_norm))
            dim = out
        self.down = nn.Sequential(*downs)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(dim, code_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.down(self.stem(x)))).flatten(1)


class AdaINDecoder(nn.Module):
    """(content code, style/class code) → image in [−1, 1].

    `res_blocks` AdaIN residual blocks, then `upsample` × [nearest ×2 → 5×5 conv → `up_norm` → act],
    halving the width each time, then 7×7 conv → tanh. The MLP maps the code to every AdaIN scale and
    shift (laid out as `split_adain_params` reads it).
    """

    def __init__(self, in_channels: int, out_channels: int, res_blocks: int, upsample: int, code_dim: int,
                 mlp_dim: int = 256, mlp_blocks: int = 3, up_norm: str = "layer", act: str = "relu",
                 pad_type: str = "reflect", spectral_norm: bool = False, mlp_act: str = "relu") -> None:
        super().__init__()
        dim, sn = in_channels, spectral_norm
        self.blocks = nn.ModuleList([AdaINResBlock(dim, act=act, pad_type=pad_type, spectral_norm=sn)
                                     for _ in range(res_blocks)])
        ups = []
        for _ in range(upsample):
            ups.append(NearestUpConv(dim, dim // 2, 5, norm=up_norm, act=act, pad_type=pad_type, spectral_norm=sn))
            dim //= 2
        self.up = nn.Sequential(*ups)
        self.head = ConvNormAct(dim, out_channels, 7, pad_type=pad_type, act="tanh", bias=True, spectral_norm=sn)
        self.mlp = StyleMLP(code_dim, self.num_adain_params, mlp_dim, mlp_blocks)
        if mlp_act != "relu":
            # The official MLP's hidden activations follow `activ` as well; StyleMLP builds ReLUs.
            for i, layer in enumerate(self.mlp.layers):
                if isinstance(layer, nn.ReLU):
                    self.mlp.layers[i] = get_act(mlp_act, mlp_dim)

    @property
    def adain_layers(self) -> list[AdaIN]:
        return [layer for block in self.blocks for layer in (block.norm1, block.norm2)]

    @property
    def num_adain_params(self) -> int:
        return sum(2 * layer.num_features for layer in self.adain_layers)

    def forward(self, content: Tensor, code: Tensor) -> Tensor:
        params = split_adain_params(self.mlp(code), self.adain_layers)
        h = content
        for i, block in enumerate(self.blocks):
            h = block(h, params[2 * i:2 * i + 2])
        return self.head(self.up(h))


def adain_generator_parts(config: MUNITConfig | Any, code_dim: int,
                          code_downsample: int) -> tuple[ContentEncoder, StyleEncoder, AdaINDecoder]:
    """Content encoder, code encoder (MUNIT style / FUNIT class) and AdaIN decoder from a MUNIT or
    FUNIT config: the two papers' generators differ only in sizes and the upsampling norm. The code
    encoder reads reference images of the output domain: `out_channels` (= in_channels but across a
    grey and an RGB domain)."""
    sn = config.spectral_norm
    content = ContentEncoder(config.in_channels, config.dim, config.content_downsample, config.content_res_blocks,
                             "instance", config.activation, config.pad_type, sn)
    code = StyleEncoder(config.out_channels, config.dim, code_downsample, code_dim, config.activation,
                        config.pad_type, sn)
    decoder = AdaINDecoder(content.out_channels, config.out_channels, config.content_res_blocks,
                           config.content_downsample, code_dim, config.mlp_dim, config.mlp_blocks, config.up_norm,
                           config.activation, config.pad_type, sn, getattr(config, "mlp_activation", "relu"))
    return content, code, decoder


@dataclass
class MUNITConfig:
    in_channels: int = 3            # of the content encoder's images
    out_channels: int = 3           # of the decoder's images, and of the style encoder's references
    dim: int = 64                   # first layer's width; ×2 per content downsampling (256 at the code)
    style_dim: int = 8              # length of the style code
    mlp_dim: int = 256              # hidden width of the style → AdaIN MLP
    mlp_blocks: int = 3
    content_downsample: int = 2
    content_res_blocks: int = 4     # in the content encoder, and (with AdaIN) in the decoder
    style_downsample: int = 4
    up_norm: str = "layer"          # decoder upsampling norm: LayerNorm (MUNIT); instance in FUNIT
    spectral_norm: bool = False     # on every convolution (imaginaire's "improved MUNIT")
    activation: str = "relu"        # every activation but the output tanh (the official gen.activ)
    # The style MLP's hidden activations: the official AdaINGen builds them from gen.activ too (the importer
    # sets this to `activation`); i2i's own runs keep ReLU, as every checkpoint before this field had.
    mlp_activation: str = "relu"
    pad_type: str = "reflect"       # of every convolution (the official gen.pad_type)
    init: str = "kaiming"           # the official MUNIT generator init (its discriminators: N(0, 0.02))
    init_gain: float = 0.02

    @property
    def multiple_of(self) -> int:
        return 2 ** self.content_downsample

    @property
    def min_size(self) -> int:
        # At the content code a reflect-padded 3×3 conv needs 2 px; the style encoder pools whatever it gets.
        return 2 * self.multiple_of


class MUNITGenerator(nn.Module):
    """One domain's content encoder, style encoder and decoder — or, assembled by `cross`, a deployed
    direction A → B. `forward(image, style)` translates with a given style code (N, style_dim)."""

    def __init__(self, config: MUNITConfig) -> None:
        super().__init__()
        self.config = config
        self.content_encoder, self.style_encoder, self.decoder = adain_generator_parts(
            config, config.style_dim, config.style_downsample)
        init_weights(self, config.init, config.init_gain)

    @classmethod
    def cross(cls, source: MUNITGenerator, target: MUNITGenerator) -> MUNITGenerator:
        """The direction source → target: source's content encoder, target's style encoder and
        decoder. Shares (does not copy) the modules. The two may differ in their images' channels only
        (a grey and an RGB domain); raises ValueError otherwise."""
        config = replace(target.config, in_channels=source.config.in_channels)
        if replace(source.config, out_channels=target.config.out_channels) != config:
            raise ValueError(f"cannot join the content encoder of {source.config} to the decoder of "
                             f"{target.config}: they differ in more than their images' channels")
        translator = cls.__new__(cls)
        nn.Module.__init__(translator)
        translator.config = config
        translator.content_encoder = source.content_encoder
        translator.style_encoder = target.style_encoder
        translator.decoder = target.decoder
        return translator

    def encode(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """(content code, style code) of `image`."""
        return self.content_encoder(image), self.style_encoder(image)

    def decode(self, content: Tensor, style: Tensor) -> Tensor:
        return self.decoder(content, style)

    @property
    def code_encoder(self) -> nn.Module:
        """The encoder whose codes `forward` takes (what inference and export run on reference images)."""
        return self.style_encoder

    def encode_style(self, image: Tensor) -> Tensor:
        return self.style_encoder(image)

    def forward(self, image: Tensor, style: Tensor) -> Tensor:
        return self.decoder(self.content_encoder(image), style)


@dataclass
class MultiScaleDiscriminatorConfig:
    in_channels: int = 3
    dim: int = 64                   # first layer's width, ×2 per layer
    n_layers: int = 4               # 4×4 stride-2 convs per scale
    num_scales: int = 3             # input, ½ and ¼ resolution
    pad_type: str = "reflect"
    spectral_norm: bool = False     # imaginaire's "improved MUNIT"
    init: str = "normal"
    init_gain: float = 0.02


class MultiScaleDiscriminator(nn.Module):
    """A list of logit maps, one per scale (full resolution first)."""

    def __init__(self, config: MultiScaleDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList([self._critic(config) for _ in range(config.num_scales)])
        # 3×3 average pooling, stride 2, padding ignored in the mean (as the official code).
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        init_weights(self, config.init, config.init_gain)

    @staticmethod
    def _critic(config: MultiScaleDiscriminatorConfig) -> nn.Sequential:
        dim, sn = config.dim, config.spectral_norm
        layers: list[nn.Module] = [ConvNormAct(config.in_channels, dim, 4, 2, 1, config.pad_type, act="lrelu",
                                               bias=True, spectral_norm=sn)]
        for _ in range(config.n_layers - 1):
            layers.append(ConvNormAct(dim, 2 * dim, 4, 2, 1, config.pad_type, act="lrelu", bias=True, spectral_norm=sn))
            dim *= 2
        layers.append(ConvNormAct(dim, 1, 1, bias=True, spectral_norm=sn))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for i, critic in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            outputs.append(critic(x))
        return outputs


def min_discriminator_size(config: MultiScaleDiscriminatorConfig) -> int:
    """Smallest training crop for which the coarsest scale still has a ≥ 2 px map before its last
    stride-2 layer (reflection padding needs more than the pad)."""
    return 2 ** (config.n_layers + config.num_scales - 1)


def random_styles(count: int, style_dim: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """`count` style codes from the prior N(0, I), the same for the same seed on every machine."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, style_dim, generator=generator).to(device)
