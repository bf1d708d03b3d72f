"""Images in class folders (FUNIT): one sub-folder per class, nothing pairs them.

Layout under ROOT, per split:
- train: `ROOT/train/<class>/…` if `ROOT/train` exists, else `ROOT/<class>/…`;
- test: `ROOT/test/<class>/…` or `ROOT/unseen/<class>/…` (the first that exists; the `classes` demo
  writes its held-out classes to `unseen/`); any other split: `ROOT/<split>/<class>/…`.
Every sub-folder holding images (searched recursively) is a class; class i is the i-th name in sorted
order, so labels are stable across runs. Held-out classes are labelled among themselves.

Each item pairs a content image with a class image of another class, as FUNIT's trainer does: image
`index` is the content; in training the class image is a random image of a random other class, held
out it is the first image of the next class, so evaluation is repeatable.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from i2i.data.paired import read_rgb, resize_crop_flip, to_tensor
from i2i.errors import I2IError
from i2i.images import images_under, is_image_file
from i2i.preprocess import Preprocess

# Sibling folders of the class folders in a flat `ROOT/<class>` layout that hold other splits.
_SPLIT_FOLDERS = ("train", "test", "unseen", "val")


def _split_folders(root: Path, split: str) -> list[Path]:
    """Folders that may hold the class folders of `split`, in order of preference."""
    if split == "train":
        return [root / "train", root]
    if split == "test":
        return [root / "test", root / "unseen"]
    return [root / split]


def find_class_folders(root: str | Path, split: str) -> dict[str, list[Path]]:
    """{class name: sorted image files} of one split, classes sorted by name. Raises one I2IError
    naming ROOT and what was looked for when there are no classes, or fewer than 2 to train on."""
    root = Path(root)
    if not root.is_dir():
        raise I2IError(f"data folder {root} does not exist")
    candidates = _split_folders(root, split)
    base = next((folder for folder in candidates if folder.is_dir()), None)
    looked = " or ".join(f"{folder.relative_to(root)}/<class>/" if folder != root else "<class>/"
                         for folder in candidates)
    present = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12])
    present = present or "nothing"
    if base is None:
        raise I2IError(f"no {split} classes in {root}: looked for {looked}; {root} holds: {present}")
    loose = sorted(p.name for p in base.iterdir() if p.is_file() and is_image_file(p))
    if loose:
        more = ", …" if len(loose) > 3 else ""
        raise I2IError(f"{base} holds images directly ({', '.join(loose[:3])}{more}); "
                       f"FUNIT data needs one sub-folder per class ({looked})")
    folders = sorted(p for p in base.iterdir() if p.is_dir())
    if base == root:  # flat layout: the other splits' folders are not classes
        folders = [p for p in folders if p.name not in _SPLIT_FOLDERS]
    classes = {p.name: files for p in folders if (files := images_under(p))}
    if not classes:
        raise I2IError(f"no {split} classes in {root}: looked for {looked}, but no sub-folder of {base} "
                       f"holds images; {root} holds: {present}")
    if split == "train" and len(classes) < 2:
        raise I2IError(f"only one training class ({next(iter(classes))!r}) in {base}; FUNIT translates "
                       f"between classes, so it needs at least 2 folders of images ({looked})")
    return classes


class ClassImages(Dataset):
    """Items are {"content", "content_label", "class_image", "class_label"}: two image tensors and
    their 0-d int64 class labels. Index with `(index, seed)` for seeded augmentation and class-image
    choice (the trainer does), or with a plain int (seed 0)."""

    def __init__(self, root: str | Path, split: str, preprocess: Preprocess, *, augment: bool,
                 load_size: int | None = None, flip: bool = True) -> None:
        found = find_class_folders(root, split)
        if augment and len(found) < 2:
            raise I2IError(f"{root}: training pairs images of different classes, but the {split} split has "
                           f"only {list(found)}")
        self.classes: list[str] = list(found)
        self.by_class: list[list[Path]] = [found[name] for name in self.classes]
        self.files: list[tuple[Path, int]] = [(path, label) for label, paths in enumerate(self.by_class)
                                              for path in paths]
        self.augment = augment
        self.preprocess = preprocess
        self.transform = A.Compose(resize_crop_flip(preprocess.size, augment, load_size, flip), seed=0)

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path, seed: int) -> Tensor:
        image = read_rgb(path)
        self.transform.set_random_seed(seed)
        return to_tensor(np.clip(self.transform(image=image)["image"], 0, 1), self.preprocess)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        content_path, content_label = self.files[index % len(self.files)]
        # Independent streams for the class-image choice and for each image's crop/flip, all fixed by `seed`.
        pick_seed, seed_content, seed_class = np.random.SeedSequence(seed).generate_state(3)
        n = len(self.classes)
        if self.augment:
            rng = np.random.default_rng(pick_seed)
            class_label = int(rng.integers(n - 1))
            class_label += int(class_label >= content_label)      # any class but the content's
            candidates = self.by_class[class_label]
            class_path = candidates[int(rng.integers(len(candidates)))]
        else:
            class_label = (content_label + 1) % n
            class_path = self.by_class[class_label][0]
        return {"content": self._load(content_path, int(seed_content)),
                "content_label": torch.tensor(content_label, dtype=torch.int64),
                "class_image": self._load(class_path, int(seed_class)),
                "class_label": torch.tensor(class_label, dtype=torch.int64)}
