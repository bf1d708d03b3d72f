"""FUNIT networks: Few-Shot Unsupervised Image-to-Image Translation (Liu et al., ICCV 2019).

One generator for every class (§3, appendix A):
- content encoder: 7×7 conv → 3 stride-2 convs (64 → 512) → 2 residual blocks; InstanceNorm.
- class encoder: MUNIT's style encoder (no norm, 4 stride-2 convs, global pooling) to a 64-d code.
  With K images of a class, each is encoded and the K codes are averaged (`class_code`), for any K.
- decoder: 2 AdaIN residual blocks fed by an MLP of the class code → 3 × [nearest ×2 → 5×5 conv →
  InstanceNorm → ReLU] → 7×7 conv → tanh.
Every activation but the final tanh is `activation` (the class MLP's included) and every convolution
pads with `pad_type`; the official `FewShotGen` builds them all with ReLU and reflection padding.

`MultiTaskDiscriminator` is the paper's multi-task adversarial discriminator: a residual network
(activation-first blocks, average pooling between stages) ending in one output channel per training
class; for an image labelled y only channel y is read — |S| binary real/fake tasks. It also returns
the features before that last layer, which the feature-matching loss compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from i2i.models.munit import adain_generator_parts
from i2i.nn import ConvNormAct, PreActResBlock, init_weights


@dataclass
class FUNITConfig:
    in_channels: int = 3            # of the content images
    out_channels: int = 3           # of the output, and of the class images the class encoder reads
    dim: int = 64                   # first layer's width; ×2 per content downsampling (512 at the code)
    class_dim: int = 64             # length of the class code (the paper's latent_dim)
    mlp_dim: int = 256
    mlp_blocks: int = 3
    content_downsample: int = 3
    content_res_blocks: int = 2     # in the content encoder, and (with AdaIN) in the decoder
    class_downsample: int = 4
    up_norm: str = "instance"       # FUNIT's decoder normalises its upsampling convs with InstanceNorm
    spectral_norm: bool = False     # on every convolution (imaginaire's improved FUNIT)
    activation: str = "relu"        # every activation but the output tanh (the official FewShotGen: relu)
    pad_type: str = "reflect"       # of every convolution (the official FewShotGen: reflect)
    init: str = "kaiming"
    init_gain: float = 0.02

    @property
    def multiple_of(self) -> int:
        return 2 ** self.content_downsample

    @property
    def min_size(self) -> int:
        return 2 * self.multiple_of


class FUNITGenerator(nn.Module):
    """`forward(image, class_code)` translates (N, C, H, W) images into the class whose code
    (N, class_dim) — or (1, class_dim), broadcast — is given; `class_code(images)` is the K-shot mean."""

    def __init__(self, config: FUNITConfig) -> None:
        super().__init__()
        self.config = config
        self.content_encoder, self.class_encoder, self.decoder = adain_generator_parts(
            config, config.class_dim, config.class_downsample)
        init_weights(self, config.init, config.init_gain)

    @property
    def code_encoder(self) -> nn.Module:
        """The encoder whose codes `forward` takes (what inference and export run on reference images)."""
        return self.class_encoder

    def class_code(self, images: Tensor) -> Tensor:
        """The mean class code (1, class_dim) of K images (K, C, H, W) of one class."""
        return self.class_encoder(images).mean(0, keepdim=True)

    def forward(self, image: Tensor, class_code: Tensor) -> Tensor:
        content = self.content_encoder(image)
        return self.decoder(content, class_code)  # a (1, class_dim) code broadcasts in AdaIN: no expand to N


@dataclass
class MultiTaskDiscriminatorConfig:
    in_channels: int = 3
    num_classes: int = 119          # training classes (Animal Faces: 119); set from the data
    dim: int = 64                   # first layer's width, ×2 per stage up to max_dim
    res_blocks: int = 10            # 2 per stage; a 3×3/2 average pooling after each stage but the last
    max_dim: int = 1024
    pad_type: str = "reflect"
    spectral_norm: bool = False
    init: str = "kaiming"
    init_gain: float = 0.02


class MultiTaskDiscriminator(nn.Module):
    """`forward(image, labels)` → (logit map (N, 1, h, w) of each image's own class, features (N, F, h, w))."""

    def __init__(self, config: MultiTaskDiscriminatorConfig) -> None:
        super().__init__()
        if config.res_blocks < 2 or config.res_blocks % 2:
            raise ValueError(f"res_blocks must be a positive even number (2 per stage), got {config.res_blocks}")
        self.config = config
        sn = config.spectral_norm
        dim = config.dim
        layers: list[nn.Module] = [ConvNormAct(config.in_channels, dim, 7, pad_type=config.pad_type, bias=True,
                                               spectral_norm=sn)]
        stages = config.res_blocks // 2
        for stage in range(stages):
            out = min(2 * dim, config.max_dim)
            layers += [PreActResBlock(dim, dim, config.pad_type, sn), PreActResBlock(dim, out, config.pad_type, sn)]
            if stage < stages - 1:
                layers += [nn.ReflectionPad2d(1), nn.AvgPool2d(3, stride=2)]
            dim = out
        self.features = nn.Sequential(*layers)
        self.act = nn.LeakyReLU(0.2)  # not in place: `features` is returned as well
        self.classifier = ConvNormAct(dim, config.num_classes, 1, bias=True, spectral_norm=sn)
        self.out_channels = dim
        init_weights(self, config.init, config.init_gain)

    def forward(self, image: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(image)
        logits = self.classifier(self.act(features))                     # (N, num_classes, h, w)
        index = labels.long().view(-1, 1, 1, 1).expand(-1, 1, *logits.shape[2:])
        return torch.gather(logits, 1, index), features


def min_discriminator_size(config: MultiTaskDiscriminatorConfig) -> int:
    """Smallest input whose last stage still has ≥ 2 px (reflection padding of 1 needs it)."""
    size = 2
    for _ in range(config.res_blocks // 2 - 1):
        size = 2 * size - 1  # inverse of pad 1 + 3×3 stride-2 pooling: out = (in − 1) // 2 + 1
    return max(size, 4)      # the 7×7 reflect-padded stem needs 4 px
