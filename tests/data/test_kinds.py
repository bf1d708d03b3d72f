"""The data-kind registry: every kind has a dataset, and every method names a registered kind."""

from __future__ import annotations

import pytest

from i2i.data import DATASETS, DataConfig, DataKind, build_dataset
from i2i.methods import METHODS
from i2i.preprocess import Preprocess


def test_every_kind_has_a_dataset_and_every_method_a_kind():
    assert set(DATASETS) == set(DataKind)
    assert all(isinstance(method.data_kind, DataKind) for method in METHODS.values())


def test_an_unknown_kind_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown data kind 'stereo'; known: paired, unpaired, classes, superres"):
        build_dataset("stereo", DataConfig(root=str(tmp_path)), Preprocess(size=32), "train", augment=False)
