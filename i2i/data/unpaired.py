"""Unpaired images of two domains (CycleGAN): a folder of images per domain, nothing pairs them.

Domains are found by name under ROOT (`--domains horse zebra`), for each split:
- `ROOT/horse/train/…` (a domain folder with `train/` and `test/` inside), or
- `ROOT/horse/…` (a plain folder of images, recursive: all of it is the training split), or
- the reference CycleGAN layout `ROOT/trainA`, `ROOT/testA`, … (the first domain name is A), or
- with `data.layout = "aligned"`, pix2pix's side-by-side A|B files in `ROOT/train/` (edges2shoes as
  MUNIT trains on it): the left halves are the first domain, the right halves the second.
Without names the domains are `A` and `B` (so `ROOT/trainA` or `ROOT/A` is found as above).

Training items pair image i mod |A| of domain A with a random image of domain B (as the reference's
`unaligned` mode), each with its own random resize → crop → flip. Held-out items take image
i mod |B| of B instead, so a test split whose two domains hold the same file names (the `stripes`
demo) lines up pair by pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from i2i.data.paired import SPLITS, find_pairs, read_pair, read_rgb, resize_crop_flip, to_tensor
from i2i.errors import I2IError
from i2i.images import images_under
from i2i.preprocess import Preprocess


def domain_names(domains: Sequence[str]) -> list[str]:
    """The two domain names (default A, B); raises I2IError for anything else."""
    names = list(domains) or ["A", "B"]
    if len(names) != 2 or names[0] == names[1] or any(not n or "->" in n or "/" in n for n in names):
        raise I2IError(f"--domains needs two different names (no '/' or '->'), got {names}")
    return names


def domain_candidates(root: Path, name: str, letter: str, split: str) -> list[Path]:
    """Folders that may hold `split` images of domain `name` (reference letter `letter`), in order."""
    folders = [root / name / split]
    has_splits = any((root / name / s).is_dir() for s in SPLITS)
    if split == "train" and not has_splits:
        folders.append(root / name)       # a flat folder of images is the training split
    folders.append(root / f"{split}{letter}")  # reference: trainA, testB, …
    return folders


def find_domain_files(root: str | Path, domains: Sequence[str], split: str) -> dict[str, list[Path]]:
    """{domain name: sorted image files} of one split. Raises one I2IError naming what was looked
    for and what ROOT holds when a domain has no images."""
    root = Path(root)
    if not root.is_dir():
        raise I2IError(f"data folder {root} does not exist")
    found: dict[str, list[Path]] = {}
    for name, letter in zip(domain_names(domains), "AB"):
        candidates = domain_candidates(root, name, letter, split)
        files = next((f for f in map(images_under, candidates) if f), [])
        if not files:
            present = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:16]
            looked = ", ".join(str(c.relative_to(root)) + "/" for c in candidates)
            raise I2IError(f"no {split} images of domain {name!r} in {root} (looked in {looked}); "
                           f"{root} holds: {', '.join(present) or 'nothing'}")
        found[name] = files
    return found


class UnpairedImages(Dataset):
    """Items are {"A": tensor, "B": tensor} (A = first domain). Index with `(index, seed)` for seeded
    augmentation and B choice (the trainer does), or with a plain int (seed 0)."""

    def __init__(self, root: str | Path, domains: Sequence[str], split: str, preprocess: Preprocess, *,
                 augment: bool, load_size: int | None = None, flip: bool = True, layout: str = "auto") -> None:
        names = domain_names(domains)
        if layout == "aligned":
            # pix2pix-style A|B files (edges2shoes, edges2handbags as MUNIT trains on them): domain A is
            # every file's left half, B its right half; training draws B from another random file.
            _, pairs = find_pairs(root, split, "aligned")
            self.files_a = self.files_b = [a for a, _ in pairs]
        elif layout in ("auto", "folders"):
            files = find_domain_files(root, names, split)
            self.files_a, self.files_b = files[names[0]], files[names[1]]
        else:
            raise I2IError(f"data.layout must be auto (domain folders) or aligned (A|B side by side) for unpaired "
                           f"data, got {layout!r}")
        self.aligned = layout == "aligned"
        self.augment = augment
        self.preprocess = preprocess
        self.transform = A.Compose(resize_crop_flip(preprocess.size, augment, load_size, flip), seed=0)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def _load(self, path: Path, seed: int, half: int = 0) -> Tensor:
        image = read_pair(path, None)[half] if self.aligned else read_rgb(path)
        self.transform.set_random_seed(seed)
        return to_tensor(np.clip(self.transform(image=image)["image"], 0, 1), self.preprocess)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        # Independent streams for B's choice and for each image's crop/flip, all fixed by `seed`.
        pick_seed, seed_a, seed_b = np.random.SeedSequence(seed).generate_state(3)
        if self.augment:
            b_index = int(np.random.default_rng(pick_seed).integers(len(self.files_b)))
        else:
            b_index = index % len(self.files_b)
        return {"A": self._load(self.files_a[index % len(self.files_a)], int(seed_a)),
                "B": self._load(self.files_b[b_index], int(seed_b), half=1)}


def matched_test_pairs(root: str | Path, domains: Sequence[str], source: str, target: str,
                       split: str) -> list[tuple[Path, Path]]:
    """(source file, target file) pairs of a split whose domains hold the same file names (e.g. the
    `stripes` demo's test split), for scoring against ground truth. Raises I2IError if none match."""
    files = find_domain_files(root, domains, split)
    by_name = {p.stem: p for p in files[target]}
    pairs = [(p, by_name[p.stem]) for p in files[source] if p.stem in by_name]
    if not pairs:
        raise I2IError(f"the {split} images of {source!r} and {target!r} in {root} share no file names, so "
                       f"there is no ground truth to score against (unpaired data has none)")
    return pairs
