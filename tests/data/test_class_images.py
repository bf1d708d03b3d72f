"""The FUNIT dataset (i2i.data.classes): class discovery and layouts, labels, class-image choice,
seeded determinism, user errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from i2i.data import build_dataset
from i2i.data.classes import ClassImages, find_class_folders
from i2i.data.config import DataConfig
from i2i.data.demo.classes import make_classes
from i2i.errors import I2IError
from i2i.images import write_image
from i2i.preprocess import Preprocess

PRE = Preprocess(size=16)


@pytest.fixture
def classes_data(tmp_path: Path) -> Path:
    """4 classes × 3 images at 32 px: class00-02 under train/, class03 under unseen/."""
    make_classes(tmp_path / "c", num_per_class=3, num_classes=4, num_held_out=1, size=32)
    return tmp_path / "c"


def _image(path: Path, value: float = 0.5) -> None:
    write_image(path, torch.full((8, 8, 3), value).numpy())


def test_classes_files_and_labels(classes_data):
    data = ClassImages(classes_data, "train", PRE, augment=False)
    assert data.classes == ["class00", "class01", "class02"] and len(data) == 9
    assert [label for _, label in data.files] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert all(path.parent.name == data.classes[label] for path, label in data.files)
    test = ClassImages(classes_data, "test", PRE, augment=False)     # held out: unseen/
    assert test.classes == ["class03"] and len(test) == 3


def test_training_items_pair_different_classes(classes_data):
    data = ClassImages(classes_data, "train", PRE, augment=True, load_size=18)
    seen = set()
    for seed in range(12):
        item = data[(seed % len(data), seed)]
        assert item["content"].shape == item["class_image"].shape == (3, 16, 16)
        assert item["content_label"].dtype == torch.int64 and item["content_label"].dim() == 0
        assert item["content_label"].item() == data.files[seed % len(data)][1]
        assert item["class_label"].item() != item["content_label"].item()
        seen.add(item["class_label"].item())
    assert seen == {0, 1, 2}                                         # every class gets drawn


def test_same_index_and_seed_same_item(classes_data):
    data = ClassImages(classes_data, "train", PRE, augment=True, load_size=24)
    first, again = data[(4, 7)], data[(4, 7)]
    assert all(torch.equal(first[k], again[k]) for k in first)
    others = [data[(4, seed)] for seed in range(8, 14)]
    assert any(not torch.equal(first["class_image"], o["class_image"]) for o in others)
    assert torch.equal(data[4]["content"], data[(4, 0)]["content"])  # a plain int is seed 0


def test_held_out_items_are_deterministic_next_class_first_image(classes_data):
    data = ClassImages(classes_data, "train", PRE, augment=False)
    for index in (0, 4, 8):
        item = data[(index, 123)]
        label = data.files[index][1]
        assert item["class_label"].item() == (label + 1) % 3
        first_of_next = data.files.index((data.by_class[(label + 1) % 3][0], (label + 1) % 3))
        assert torch.equal(item["class_image"], data[first_of_next]["content"])


def test_flat_layout_and_split_folders_are_not_classes(tmp_path):
    for name in ("cats", "dogs"):
        _image(tmp_path / name / "sub" / "a.png")                  # found recursively
        _image(tmp_path / name / "b.jpg")
    _image(tmp_path / "unseen" / "foxes" / "a.png")
    (tmp_path / "empty").mkdir()                                    # no images: not a class
    found = find_class_folders(tmp_path, "train")
    assert list(found) == ["cats", "dogs"] and all(len(files) == 2 for files in found.values())
    assert list(find_class_folders(tmp_path, "test")) == ["foxes"]
    (tmp_path / "test" / "wolves").mkdir(parents=True)
    _image(tmp_path / "test" / "wolves" / "a.png")
    assert list(find_class_folders(tmp_path, "test")) == ["wolves"]  # test/ before unseen/


def test_build_dataset_classes_kind(classes_data):
    config = DataConfig(root=str(classes_data), load_size=20)
    data = build_dataset("classes", config, PRE, "train", augment=True)
    assert isinstance(data, ClassImages) and len(data.classes) == 3


@pytest.mark.parametrize("setup, split, message", [
    (lambda root: None, "train", "does not exist"),
    (lambda root: root.mkdir(), "train", "no train classes in"),
    (lambda root: (root / "train" / "empty").mkdir(parents=True), "train", "looked for train/<class>/"),
    (lambda root: _image(root / "only" / "a.png"), "train", "only one training class ('only')"),
    (lambda root: _image(root / "a.png"), "train", "holds images directly"),
    (lambda root: _image(root / "train" / "a" / "x.png"), "test",
     "looked for test/<class>/ or unseen/<class>/"),
])
def test_user_errors_name_root_and_what_was_looked_for(tmp_path, setup, split, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(I2IError, match=r"data") as error:
        ClassImages(root, split, PRE, augment=split == "train")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unreadable_image_is_a_user_error(classes_data):
    (classes_data / "train" / "class00" / "00000.png").write_bytes(b"not a png")
    data = ClassImages(classes_data, "train", PRE, augment=False)
    with pytest.raises(I2IError, match="00000.png"):
        data[0]
