"""Paired images (pix2pix): every input image A has its target B.

Layouts, found automatically under ROOT (or forced with `data.layout`):
- `folders`: `ROOT/<split>/A/x.png` + `ROOT/<split>/B/x.png`, or `ROOT/A/<split>/…` + `ROOT/B/<split>/…`
  (the reference's input to combine_A_and_B), or plain `ROOT/A` + `ROOT/B` (all used for training);
  pairs are matched by file name without extension.
- `aligned`: the reference format, one file per pair with A on the left half and B on the right,
  in `ROOT/train`, `ROOT/val`, `ROOT/test`.

Augmentation (training split): resize to `load_size` (bicubic) → random `image_size` crop → random
horizontal flip, with one set of random parameters for both images (albumentations, seeded per
sample so that a resumed run sees exactly the same crops).
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from i2i.errors import I2IError
from i2i.images import ImageReadError, images_under, read_image
from i2i.preprocess import Preprocess

SPLITS = ("train", "val", "test")


def _match_by_name(folder_a: Path, folder_b: Path) -> list[tuple[Path, Path | None]]:
    files_a = {p.relative_to(folder_a).with_suffix(""): p for p in images_under(folder_a)}
    files_b = {p.relative_to(folder_b).with_suffix(""): p for p in images_under(folder_b)}
    only_a = sorted(set(files_a) - set(files_b))
    only_b = sorted(set(files_b) - set(files_a))
    if only_a or only_b:
        lonely = [f"{folder_a / n}" for n in only_a[:3]] + [f"{folder_b / n}" for n in only_b[:3]]
        raise I2IError(f"paired folders {folder_a} and {folder_b} do not match: {len(only_a)} files only in A, "
                       f"{len(only_b)} only in B (e.g. {', '.join(lonely)}); pairs are matched by file name")
    return [(files_a[name], files_b[name]) for name in sorted(files_a)]


def find_pairs(root: str | Path, split: str, layout: str = "auto") -> tuple[str, list[tuple[Path, Path | None]]]:
    """(layout found, [(A file, B file)]) — B is None in the aligned layout. Raises I2IError if none."""
    root = Path(root)
    if not root.is_dir():
        raise I2IError(f"data folder {root} does not exist")
    if layout not in ("auto", "folders", "aligned"):
        raise I2IError(f"data.layout must be auto, folders or aligned, got {layout!r}")
    if layout in ("auto", "folders"):
        candidates = [(root / split / "A", root / split / "B"), (root / "A" / split, root / "B" / split)]
        if split == "train":
            candidates.append((root / "A", root / "B"))
        for folder_a, folder_b in candidates:
            if images_under(folder_a) and folder_b.is_dir():
                if folder_a == root / "A" and any((root / "A" / s).is_dir() for s in SPLITS):
                    continue  # ROOT/A/<split> exists: ROOT/A is not a flat folder of pairs
                return "folders", _match_by_name(folder_a, folder_b)
    if layout in ("auto", "aligned"):
        folder = root / split
        files = images_under(folder, recursive=False)
        if files:
            return "aligned", [(path, None) for path in files]
    found = sorted(str(p.relative_to(root)) for p in root.iterdir())[:12]
    raise I2IError(f"no paired {split} images in {root} (layout {layout}); expected {split}/A + {split}/B, "
                   f"A/{split} + B/{split}, or side-by-side images in {split}/; found: {', '.join(found) or 'nothing'}")


def resize_crop_flip(size: int, augment: bool, load_size: int | None = None, flip: bool = True) -> list:
    """The reference's training augmentation: resize to `load_size` (bicubic; default size × 286/256)
    → random `size` crop → random horizontal flip; without `augment`, a plain resize to `size`."""
    if not augment:
        return [A.Resize(size, size, interpolation=cv2.INTER_CUBIC)]
    load_size = load_size or round(size * 286 / 256)
    if load_size < size:
        raise I2IError(f"data.load_size {load_size} is smaller than image_size {size}")
    steps = [A.Resize(load_size, load_size, interpolation=cv2.INTER_CUBIC), A.RandomCrop(size, size)]
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return steps


def read_rgb(path: Path) -> np.ndarray:
    """A training or held-out image as float RGB in [0, 1]; an unreadable file is one I2IError naming it
    (a bad data set is the user's to fix, as a bad option is)."""
    try:
        return read_image(path)[0]
    except ImageReadError as error:
        raise I2IError(str(error)) from None


def read_pair(a_path: Path, b_path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Both images of a pair as float RGB in [0, 1]; an aligned file is split at half its width."""
    image_a = read_rgb(a_path)
    if b_path is not None:
        return image_a, read_rgb(b_path)
    width = image_a.shape[1]
    if width % 2:
        raise I2IError(f"{a_path}: aligned pair images hold A|B side by side, so their width must be even "
                       f"(got {width})")
    return image_a[:, : width // 2], image_a[:, width // 2:]


def to_tensor(image: np.ndarray, preprocess: Preprocess) -> Tensor:
    """HxWxC [0, 1] → CxHxW normalised with the preprocess mean/std (what the network sees)."""
    mean = np.asarray(preprocess.mean, dtype=np.float32)
    std = np.asarray(preprocess.std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(((image - mean) / std).transpose(2, 0, 1)))


class PairedImages(Dataset):
    """Items are {"A": tensor, "B": tensor, "name": str}. Index with `(index, seed)` for seeded
    augmentation (the trainer does), or with a plain int (seed 0)."""

    def __init__(self, root: str | Path, split: str, preprocess: Preprocess, *, augment: bool,
                 load_size: int | None = None, flip: bool = True, layout: str = "auto") -> None:
        self.layout, self.pairs = find_pairs(root, split, layout)
        self.preprocess = preprocess
        self.transform = A.Compose(resize_crop_flip(preprocess.size, augment, load_size, flip),
                                   additional_targets={"target": "image"}, seed=0)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | str]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        a_path, b_path = self.pairs[index]
        image_a, image_b = read_pair(a_path, b_path)
        self.transform.set_random_seed(seed)
        # One call with both images: albumentations draws the crop/flip parameters once for both.
        out = self.transform(image=image_a, target=image_b)
        return {"A": to_tensor(np.clip(out["image"], 0, 1), self.preprocess),
                "B": to_tensor(np.clip(out["target"], 0, 1), self.preprocess),
                "name": a_path.stem}
