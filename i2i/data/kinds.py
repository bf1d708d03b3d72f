"""The kinds of training data, and the dataset that reads each: the one registry a method names with
its `data_kind` (a new kind is one line here and one dataset file)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from torch.utils.data import Dataset

from i2i.data.classes import ClassImages
from i2i.data.config import DataConfig
from i2i.data.paired import PairedImages
from i2i.data.superres import SuperResImages
from i2i.data.unpaired import UnpairedImages
from i2i.preprocess import Preprocess


class DataKind(StrEnum):
    PAIRED = "paired"        # A and B images that correspond (pix2pix)
    UNPAIRED = "unpaired"    # two domains of unrelated images (CycleGAN, MUNIT)
    CLASSES = "classes"      # one folder per class (FUNIT)
    SUPERRES = "superres"    # high-resolution images; the low-resolution input is made on the fly (SRGAN)


def _paired(data: DataConfig, preprocess: Preprocess, split: str, augment: bool) -> Dataset:
    return PairedImages(data.root, split, preprocess, augment=augment, load_size=data.load_size,
                        flip=data.flip, layout=data.layout)


def _unpaired(data: DataConfig, preprocess: Preprocess, split: str, augment: bool) -> Dataset:
    return UnpairedImages(data.root, data.domains, split, preprocess, augment=augment,
                          load_size=data.load_size, flip=data.flip, layout=data.layout)


def _classes(data: DataConfig, preprocess: Preprocess, split: str, augment: bool) -> Dataset:
    return ClassImages(data.root, split, preprocess, augment=augment, load_size=data.load_size, flip=data.flip)


def _superres(data: DataConfig, preprocess: Preprocess, split: str, augment: bool) -> Dataset:
    return SuperResImages(data.root, split, preprocess, augment=augment, flip=data.flip,
                          repeat=data.repeat if augment else 1)


DATASETS: dict[DataKind, Callable[[DataConfig, Preprocess, str, bool], Dataset]] = {
    DataKind.PAIRED: _paired,
    DataKind.UNPAIRED: _unpaired,
    DataKind.CLASSES: _classes,
    DataKind.SUPERRES: _superres,
}


def build_dataset(data_kind: DataKind | str, data: DataConfig, preprocess: Preprocess, split: str,
                  augment: bool) -> Dataset:
    """The dataset a method's `data_kind` names, for one split."""
    if data_kind not in DataKind.__members__.values():
        raise ValueError(f"unknown data kind {data_kind!r}; known: {', '.join(DataKind)}")
    return DATASETS[DataKind(data_kind)](data, preprocess, split, augment)
