"""Style and class codes for the conditioned generators (MUNIT, FUNIT) at translate time.

- Random styles (MUNIT, `--num-styles K --seed S`): K codes from the prior N(0, I), drawn with numpy
  so the torch and onnxruntime backends give the same styles for the same seed. Style k is the same
  for every input file (the official `--synchronized`): column k of a folder shares one look.
- Reference style (MUNIT, `--style IMG`): the target domain's style encoder on that image, its
  shorter side resized to the training crop size (the official test script's `Resize(new_size)`).
- Class code (FUNIT, `--class-images DIR`): the class encoder on each of the K images, resized to the
  training crop size (square, as the official `test_k_shot.py`), averaged: K = the files given.

numpy only (the onnxruntime path must not need torch).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from i2i.errors import I2IError
from i2i.images import ImageReadError, images_under, read_image

Encoder = Callable[[np.ndarray], np.ndarray]  # N×3×H×W float32 in [0, 1] → (N, D) codes


class CodeKind(StrEnum):
    """What the extra input of a conditioned generator is: the checkpoint header's `conditioning.kind`."""

    STYLE = "style"   # MUNIT: a style code, random from N(0, I) or encoded from a reference image
    CLASS = "class"   # FUNIT: the mean class code of K images of the target class


def code_kind(header: dict[str, Any]) -> CodeKind | None:
    """The code a checkpoint's (or exported graph's) generator takes, or None for plain generators."""
    kind = header.get("conditioning", {}).get("kind")
    return CodeKind(kind) if kind in CodeKind.__members__.values() else None


def prior_codes(count: int, code_dim: int, seed: int) -> np.ndarray:
    """`count` style codes (count, code_dim) from N(0, I), fixed by `seed`."""
    if count < 1:
        raise I2IError(f"--num-styles must be at least 1, got {count}")
    return np.random.default_rng(seed).standard_normal((count, code_dim)).astype(np.float32)


def _resize(rgb: np.ndarray, size: int, square: bool) -> np.ndarray:
    height, width = rgb.shape[:2]
    if square:
        new_w, new_h = size, size
    else:  # the shorter side to `size`, aspect kept
        ratio = size / min(height, width)
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]), "F").resize(
        (new_w, new_h), Image.Resampling.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(planes, -1), 0.0, 1.0)


def _read(path: Path) -> np.ndarray:
    try:
        return read_image(path)[0]
    except ImageReadError as error:
        raise I2IError(str(error)) from None


def style_code(encode: Encoder, image: str | Path | np.ndarray, size: int) -> np.ndarray:
    """(1, D): the style code of one reference image (a file, or H×W×3 float RGB in [0, 1])."""
    if not isinstance(image, np.ndarray):
        path = Path(image)
        if not path.is_file():
            raise I2IError(f"--style {path}: no such file")
        image = _read(path)
    rgb = _resize(image, size, square=False)
    return encode(rgb.transpose(2, 0, 1)[None].astype(np.float32))


def class_images(folder: str | Path) -> list[Path]:
    """The K image files of a `--class-images` folder (or a single file), sorted."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise I2IError(f"--class-images {folder}: no such folder")
    files = images_under(folder)
    if not files:
        raise I2IError(f"--class-images {folder} holds no images")
    return files


def class_code(encode: Encoder, files: list[Path] | list[np.ndarray], size: int) -> np.ndarray:
    """(1, D): the mean class code of the K images (files, or H×W×3 float RGB in [0, 1]), each resized
    to size × size."""
    rgbs = [image if isinstance(image, np.ndarray) else _read(image) for image in files]
    batch = np.stack([_resize(rgb, size, square=True).transpose(2, 0, 1) for rgb in rgbs]).astype(np.float32)
    return encode(batch).mean(0, keepdims=True)
