"""The held-out images periodic evaluation scores, read once when a run starts (test split, else val).

What there is decides what can be scored:

- super-resolution: (LR, HR) pairs made from the held-out HR images, as `i2i eval` makes them;
- ground truth: pix2pix pairs, or an unpaired data set whose held-out split holds the same file names
  in both domains (the `stripes` and `styles` demos) — found by `i2i.metrics.evaluation.held_out_pairs`,
  the function `i2i eval` uses;
- unpaired without ground truth: source-domain images and real target-domain images, unrelated;
- FUNIT: the held-out (unseen) classes, and a few images of each training class for its discriminator,
  which has an output for training classes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from itertools import zip_longest
from pathlib import Path

import numpy as np

from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.images import ImageReadError, read_image
from i2i.methods.base import Method
from i2i.preprocess import Preprocess

Pairs = list[tuple[np.ndarray, np.ndarray, str]]
FEW_SHOT_K = 1      # FUNIT: each held-out class is shown by its first image (K = 1, as in training)


class HeldOutKind(StrEnum):
    SUPERRES = "superres"      # (LR, HR): Y-PSNR/SSIM beside bicubic upscaling
    PAIRS = "pairs"            # (input, ground truth): PSNR/SSIM/L1 beside copying the input
    UNPAIRED = "unpaired"      # inputs and unrelated real targets: the pixel distribution score
    FEW_SHOT = "few_shot"      # FUNIT's held-out classes: the pixel distribution score per class


@dataclass
class HeldOut:
    kind: HeldOutKind
    split: str
    direction: str                                          # the generator scored (the first exported)
    pairs: Pairs = field(default_factory=list)              # SUPERRES, PAIRS
    sources: list[np.ndarray] = field(default_factory=list)  # UNPAIRED: inputs
    targets: list[np.ndarray] = field(default_factory=list)  # UNPAIRED: real target-domain images
    classes: dict[str, list[np.ndarray]] = field(default_factory=dict)  # FEW_SHOT: held-out class → images
    training_classes: list[list[np.ndarray]] = field(default_factory=list)  # FEW_SHOT: by D's label

    @property
    def count(self) -> int:
        """Held-out pairs, inputs or (FUNIT) held-out class images read."""
        return len(self.pairs) or len(self.sources) or sum(len(images) for images in self.classes.values())


def few_shot_contents(held: HeldOut, target: str) -> list[np.ndarray]:
    """The content images translated into held-out class `target`: the other held-out classes' images,
    taken in turn from each class (at most `count` of them are used by the caller)."""
    others = [images for name, images in held.classes.items() if name != target]
    return [image for group in zip_longest(*others) for image in group if image is not None]


def load_held_out(method: Method, preprocess: Preprocess) -> HeldOut:
    """The held-out images for `method` (test split, else val); an I2IError saying why there are none."""
    recipe = method.recipe
    root, limit = Path(recipe.data.root), recipe.log.eval_limit
    direction = next(iter(method.exported_generators()))
    errors = []
    for split in ("test", "val"):
        try:
            held = LOADERS[method.data_kind](method, root, split, limit, direction, preprocess)
        except I2IError as error:
            errors.append(str(error))
            continue
        if held.count:
            return held
    what = "with ground truth " if method.data_kind in (DataKind.PAIRED, DataKind.SUPERRES) else ""
    raise I2IError(f"log.eval_every needs held-out images {what}in {root} (test or val split): "
                   f"{errors[0] if errors else 'none found'}")


def _read(paths: list[Path]) -> list[np.ndarray]:
    try:
        return [read_image(path)[0] for path in paths]
    except ImageReadError as error:
        raise I2IError(str(error)) from None


def _superres(method: Method, root: Path, split: str, limit: int, direction: str, preprocess: Preprocess) -> HeldOut:
    from i2i.data.superres import held_out_sr_pairs

    return HeldOut(HeldOutKind.SUPERRES, split, direction,
                   pairs=held_out_sr_pairs(root, split, preprocess.scale, limit))


def _paired(method: Method, root: Path, split: str, limit: int, direction: str, preprocess: Preprocess) -> HeldOut:
    from i2i.metrics.evaluation import held_out_pairs

    header = {"method": method.recipe.method, "domains": method.domains()}
    return HeldOut(HeldOutKind.PAIRS, split, direction, pairs=held_out_pairs(header, direction, root, split, limit))


def _unpaired(method: Method, root: Path, split: str, limit: int, direction: str, preprocess: Preprocess) -> HeldOut:
    """Ground truth where the two domains share file names (as `i2i eval` finds it), else both sets as they are."""
    from i2i.data.unpaired import find_domain_files

    if method.recipe.data.layout == "aligned":  # A|B files: every held-out file is a pair
        return _paired(method, root, split, limit, direction, preprocess)
    source, target = direction.split("->")
    files = find_domain_files(root, method.domains(), split)          # an error when the split is missing
    if {p.stem for p in files[source]} & {p.stem for p in files[target]}:
        return _paired(method, root, split, limit, direction, preprocess)
    return HeldOut(HeldOutKind.UNPAIRED, split, direction, sources=_read(files[source][:limit]),
                   targets=_read(files[target][:limit]))


def _classes(method: Method, root: Path, split: str, limit: int, direction: str, preprocess: Preprocess) -> HeldOut:
    from i2i.data.classes import find_class_folders

    held = find_class_folders(root, split)
    if len(held) < 2:
        raise I2IError(f"few-shot evaluation translates held-out classes into each other, but the {split} split "
                       f"of {root} has only {list(held)}")
    small = [name for name, files in held.items() if len(files) < FEW_SHOT_K + 2]
    if small:
        raise I2IError(f"few-shot evaluation shows each held-out class by {FEW_SHOT_K} image and compares the "
                       f"translations with at least 2 others, but {small[0]!r} in the {split} split has fewer")
    training = find_class_folders(root, "train")
    per_class = max(1, limit // len(training))        # D's reals: about `limit` training images in all
    return HeldOut(HeldOutKind.FEW_SHOT, split, direction,
                   classes={name: _read(files[:limit + FEW_SHOT_K]) for name, files in held.items()},
                   training_classes=[_read(training[name][:per_class + 1]) for name in sorted(training)])


LOADERS = {DataKind.SUPERRES: _superres, DataKind.PAIRED: _paired, DataKind.UNPAIRED: _unpaired,
           DataKind.CLASSES: _classes}
