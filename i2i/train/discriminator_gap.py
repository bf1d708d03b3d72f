"""D(real) and D(fake) on held-out data: the mean discriminator output on real target images and on the
deployed generator's translations of held-out inputs.

Which discriminator judges which images is each method's, so it is one registry here (`JUDGES`):
pix2pix's D sees (input, image) pairs, CycleGAN's and MUNIT's the discriminator of the target domain,
SRGAN's the HR image, FUNIT's the output for the image's class. The outputs are in the objective's own
units, averaged over every patch and scale as `score/disc_real` in metrics.csv is (logits for
vanilla/hinge/WGAN, LSGAN's regression value): the same numbers, on images the networks did not train on.

D runs on a copy in training mode (normalisation as in its training steps, synchronised BatchNorm as
plain BatchNorm; its running statistics and spectral-norm vectors untouched), without DiffAugment or instance noise, on centre crops of the
training crop size (a discriminator may only take that size) in batches of the training batch size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from i2i.methods.base import Method
from i2i.train.sync_batchnorm import SyncBatchNorm2d

D_COLUMNS = ("d_real", "d_fake", "d_gap")
# judge(images, conditions, labels) → D's scores (a tensor, or a list over scales)
Judge = Callable[[Tensor, Tensor | None, Tensor | None], Tensor | list[Tensor]]


@dataclass
class Judged:
    """What D is shown: real target images and translations, H×W×3 in [0, 1]; with `conditions`
    (pix2pix: the input of each pair) or `labels` (FUNIT: the class), one per real and per fake."""

    reals: list[np.ndarray]
    fakes: list[np.ndarray]
    conditions: list[np.ndarray] | None = None
    labels: list[int] | None = None


def _conditional(discriminators: nn.ModuleDict, method: Method, direction: str) -> Judge:
    return lambda images, conditions, labels: discriminators["discriminator"](torch.cat([conditions, images], 1))


def _target_domain(discriminators: nn.ModuleDict, method: Method, direction: str) -> Judge:
    name = "disc_b" if direction.split("->")[1] == method.domains()[1] else "disc_a"
    return lambda images, conditions, labels: discriminators[name](images)


def _single(discriminators: nn.ModuleDict, method: Method, direction: str) -> Judge:
    return lambda images, conditions, labels: discriminators["discriminator"](images)


def _per_class(discriminators: nn.ModuleDict, method: Method, direction: str) -> Judge:
    return lambda images, conditions, labels: discriminators["discriminator"](images, labels)[0]


JUDGES: dict[str, Callable[[nn.ModuleDict, Method, str], Judge]] = {
    "pix2pix": _conditional,
    "cyclegan": _target_domain,
    "munit": _target_domain,
    "srgan": _single,
    "funit": _per_class,
}


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return image[top:top + side, left:left + side]


@torch.no_grad()
def discriminator_scores(method: Method, direction: str, judged: Judged, device: torch.device) -> dict[str, float]:
    """{"d_real", "d_fake", "d_gap" = d_real − d_fake} of the method's discriminator on `judged`."""
    recipe, preprocess = method.recipe, method.preprocess()
    discriminators = copy.deepcopy(method.discriminators).train()
    for module in discriminators.modules():
        if isinstance(module, SyncBatchNorm2d):  # rank 0 evaluates alone: no all-reduce that others would wait on
            module.__class__ = nn.BatchNorm2d
    judge = JUDGES[recipe.method](discriminators, method, direction)
    mean = torch.tensor(preprocess.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std, dtype=torch.float32).view(1, -1, 1, 1)

    def tensor(images: list[np.ndarray]) -> Tensor:
        batch = torch.from_numpy(np.stack([_centre(i, recipe.image_size) for i in images]).transpose(0, 3, 1, 2))
        return ((batch.float() - mean) / std).to(device)

    def mean_score(images: list[np.ndarray]) -> float:
        values = []
        crops = [_centre(image, recipe.image_size).shape for image in images]
        # Batches of the training batch size; one image at a time where held-out sizes differ.
        size = recipe.batch_size if len(set(crops)) == 1 else 1
        for start in range(0, len(images), size):
            chunk = slice(start, start + size)
            conditions = None if judged.conditions is None else tensor(judged.conditions[chunk])
            labels = None if judged.labels is None else torch.tensor(judged.labels[chunk], device=device)
            scores = judge(tensor(images[chunk]), conditions, labels)
            values += [s.float().flatten().cpu() for s in (scores if isinstance(scores, list) else [scores])]
        return float(torch.cat(values).mean())

    real, fake = mean_score(judged.reals), mean_score(judged.fakes)
    return {"d_real": real, "d_fake": fake, "d_gap": real - fake}
