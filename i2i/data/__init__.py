"""Training data: `DataConfig` (the recipe's `data.*`), one dataset file per kind of data (paired,
unpaired, classes, super-resolution), the `DataKind` registry that maps a method's `data_kind` to its
dataset, and the built-in demo sets in `demo/`. Imports only the shared modules: never a method or
the trainer."""

from __future__ import annotations

from i2i.data.classes import ClassImages, find_class_folders
from i2i.data.config import DataConfig
from i2i.data.kinds import DATASETS, DataKind, build_dataset
from i2i.data.paired import PairedImages, find_pairs
from i2i.data.superres import SuperResImages
from i2i.data.unpaired import UnpairedImages, find_domain_files

__all__ = ["DATASETS", "ClassImages", "DataConfig", "DataKind", "PairedImages", "SuperResImages", "UnpairedImages",
           "build_dataset", "find_class_folders", "find_domain_files", "find_pairs"]
