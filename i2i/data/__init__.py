"""Datasets, by the kind of data a method trains on, and the built-in demo data sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch.utils.data import Dataset

from i2i.data.classes import ClassImages, find_class_folders
from i2i.data.paired import PairedImages, find_pairs
from i2i.data.superres import SuperResImages
from i2i.data.unpaired import UnpairedImages, find_domain_files
from i2i.preprocess import Preprocess

if TYPE_CHECKING:
    from i2i.methods.base import DataConfig


def build_dataset(data_kind: str, data: DataConfig, preprocess: Preprocess, split: str, augment: bool) -> Dataset:
    """The dataset a method's `data_kind` names, for one split."""
    if data_kind == "paired":
        return PairedImages(data.root, split, preprocess, augment=augment, load_size=data.load_size,
                            flip=data.flip, layout=data.layout)
    if data_kind == "unpaired":
        return UnpairedImages(data.root, data.domains, split, preprocess, augment=augment,
                              load_size=data.load_size, flip=data.flip, layout=data.layout)
    if data_kind == "superres":
        return SuperResImages(data.root, split, preprocess, augment=augment, flip=data.flip,
                              repeat=data.repeat if augment else 1)
    if data_kind == "classes":
        return ClassImages(data.root, split, preprocess, augment=augment, load_size=data.load_size,
                           flip=data.flip)
    raise ValueError(f"unknown data kind {data_kind!r}")


__all__ = ["ClassImages", "PairedImages", "SuperResImages", "UnpairedImages", "build_dataset",
           "find_class_folders", "find_domain_files", "find_pairs"]
