"""The one "images in a folder" rule and the one 16-bit output rule (i2i.images)."""

from __future__ import annotations

import numpy as np

from i2i.images import ImageInfo, images_under, output_bits, write_image


def test_images_under_lists_images_only_sorted_and_recursive(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png", "skip/d.png"):
        write_image(tmp_path / name, np.zeros((4, 4, 3)))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".e.png.abcdefgh.i2i-tmp.png").write_bytes(b"half-written")
    assert [p.relative_to(tmp_path).as_posix() for p in images_under(tmp_path)] == \
        ["a.jpg", "b.png", "skip/d.png", "sub/c.png"]
    assert [p.name for p in images_under(tmp_path, recursive=False)] == ["a.jpg", "b.png"]
    assert [p.name for p in images_under(tmp_path, exclude=(tmp_path / "skip",))] == ["a.jpg", "b.png", "c.png"]
    assert images_under(tmp_path / "missing") == []


def test_output_bits():
    assert output_bits(None) == 8
    assert output_bits(ImageInfo("I;16", 16, True, False)) == 16
    assert output_bits(ImageInfo("F", 32, True, False)) == 16
    assert output_bits(ImageInfo("RGB", 8, False, False)) == 8
