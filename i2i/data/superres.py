"""Super-resolution data: folders of high-resolution images; the low-resolution inputs are made on
the fly.

The degradation (the same at training, `i2i eval` and in the bicubic baseline): the HR image is
cropped to a multiple of `scale` ("modcrop"), quantised to 8 bits, and reduced with Pillow's BICUBIC
filter (Keys' cubic convolution, a = −0.5, with the kernel widened by `scale`, i.e. antialiased — the
kernel of MATLAB's `imresize`, which SR benchmarks use; the two differ only in rounding and border
handling, by a fraction of a grey level). The LR result is rounded to 8 bits, as LR files on disk are.

Folders: `ROOT/train` or DIV2K's `ROOT/DIV2K_train_HR` (else everything under ROOT, recursive) for
training; `ROOT/test`, `ROOT/val`, `ROOT/valid` or `ROOT/DIV2K_valid_HR` for held-out images (else,
for evaluation, ROOT itself).

Training items: a random `image_size` HR crop with random horizontal flip and 90° rotation (the
dihedral group SR papers augment with), and its LR. Images smaller than a crop are skipped, counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from i2i.data.paired import read_rgb, to_tensor
from i2i.errors import I2IError
from i2i.images import images_under
from i2i.preprocess import Preprocess

TRAIN = ("train", "DIV2K_train_HR")
HELD_OUT = ("test", "val", "valid", "DIV2K_valid_HR")
CACHE_BYTES = 512 * 2**20  # decoded 8-bit training images kept in memory up to this total


def find_hr_files(root: str | Path, split: str, whole_folder_ok: bool = False) -> list[Path]:
    """HR images of a split (see the module docstring). Raises I2IError naming where it looked."""
    root = Path(root)
    if not root.is_dir():
        raise I2IError(f"data folder {root} does not exist")
    held_out = tuple(root / name for name in HELD_OUT if (root / name).is_dir())
    if split == "train":
        folder = next((root / n for n in TRAIN if (root / n).is_dir()), None)
        files = images_under(folder) if folder is not None else images_under(root, exclude=held_out)
        where = f"{root / 'train'} or {root}"
    else:
        names = (split,) + tuple(n for n in HELD_OUT if n != split)
        folder = next((root / n for n in names if (root / n).is_dir()), None)
        files = images_under(folder) if folder is not None else []
        where = " or ".join(str(root / n) for n in names)
        if folder is None and whole_folder_ok:
            files, where = images_under(root), str(root)
    if not files:
        raise I2IError(f"no HR images for split {split!r} in {where}")
    return files


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of `scale` (the HR the LR is made from)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def bicubic_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """8-bit HxWx3 → 8-bit, Pillow BICUBIC (antialiased when reducing)."""
    return np.asarray(Image.fromarray(image, "RGB").resize((width, height), Image.Resampling.BICUBIC))


def make_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The degradation: 8-bit HR (sides multiples of `scale`) → 8-bit LR, bicubic ÷ scale."""
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"HR size {width}×{height} is not a multiple of the scale {scale}: modcrop it first")
    return bicubic_resize(hr, width // scale, height // scale)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The baseline every SR number is read against: 8-bit LR → 8-bit bicubic × scale."""
    height, width = lr.shape[:2]
    return bicubic_resize(lr, width * scale, height * scale)


def _dihedral(image: np.ndarray, flip: bool, quarter_turns: int) -> np.ndarray:
    image = image[:, ::-1] if flip else image
    return np.rot90(image, quarter_turns)


class SuperResImages(Dataset):
    """Items are {"LR": tensor, "HR": tensor, "name": str} normalised with the preprocess mean/std;
    HR is `image_size`×`image_size`, LR is that ÷ scale. Index with `(index, seed)` for seeded crops."""

    def __init__(self, root: str | Path, split: str, preprocess: Preprocess, *, augment: bool,
                 flip: bool = True, repeat: int = 1) -> None:
        if repeat < 1:
            raise I2IError(f"data.repeat must be >= 1, got {repeat}")
        self.repeat = repeat
        self.scale, self.size, self.preprocess = preprocess.scale, preprocess.size, preprocess
        self.augment, self.flip = augment, flip
        if self.size % self.scale:
            raise I2IError(f"image_size {self.size} (the HR crop) must be a multiple of the scale {self.scale}")
        files = find_hr_files(root, split)
        self.files, self.skipped = [], []
        for path in files:
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except OSError as error:
                raise I2IError(f"{path}: not an image Pillow can read ({error})") from None
            (self.files if min(width, height) >= self.size else self.skipped).append(path)
        if not self.files:
            raise I2IError(f"all {len(files)} {split} images in {root} are smaller than the {self.size}-px HR crop; "
                           f"lower --image-size")
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.files) * self.repeat  # each repetition is another random crop

    def _hr(self, index: int) -> np.ndarray:
        if index in self._cache:
            return self._cache[index]
        image = to_uint8(read_rgb(self.files[index]))
        if self._cached_bytes + image.nbytes <= CACHE_BYTES:  # small sets decode once
            self._cache[index] = image
            self._cached_bytes += image.nbytes
        return image

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | str]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        index %= len(self.files)
        image = self._hr(index)
        height, width = image.shape[:2]
        if self.augment:
            rng = np.random.default_rng(seed)
            top, left = int(rng.integers(height - self.size + 1)), int(rng.integers(width - self.size + 1))
            hr = image[top:top + self.size, left:left + self.size]
            hr = _dihedral(hr, self.flip and bool(rng.integers(2)), int(rng.integers(4)))
        else:  # held-out samples: the centre crop
            top, left = (height - self.size) // 2, (width - self.size) // 2
            hr = image[top:top + self.size, left:left + self.size]
        hr = np.ascontiguousarray(hr)
        lr = make_lr(hr, self.scale)
        return {"LR": to_tensor(lr.astype(np.float32) / 255.0, self.preprocess),
                "HR": to_tensor(hr.astype(np.float32) / 255.0, self.preprocess),
                "name": self.files[index].stem}


def held_out_sr_pairs(root: str | Path, split: str, scale: int,
                      limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(LR input, HR ground truth, name) in [0, 1] float32 for every held-out image, whole (modcropped)."""
    pairs = []
    for path in find_hr_files(root, split, whole_folder_ok=True)[:limit]:
        hr = modcrop(to_uint8(read_rgb(path)), scale)
        if min(hr.shape[:2]) < scale:
            raise I2IError(f"{path}: smaller than the scale {scale}")
        pairs.append((make_lr(hr, scale).astype(np.float32) / 255.0, hr.astype(np.float32) / 255.0, path.stem))
    return pairs


__all__ = ["SuperResImages", "bicubic_upscale", "find_hr_files", "held_out_sr_pairs", "make_lr", "modcrop"]
