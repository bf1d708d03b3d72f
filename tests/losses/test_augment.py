"""DiffAugment operations (i2i.losses.augment): exact shifts, the cut-out square, shared colour changes for
paired inputs, gradients through every operation, probability p."""

from __future__ import annotations

import pytest
import torch

from i2i.losses.augment import cutout, diff_augment, translation


def test_translation_is_an_integer_shift_with_zero_fill():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 24) + 1.0          # > 0 everywhere: zero fill is visible
    y = translation(x)
    for image, moved in zip(x, y):
        # Find the shift whose zero-filled copy equals the output (limit: 1/8 of the side → 3 and 2).
        found = []
        for dy in range(-2, 3):
            for dx in range(-3, 4):
                expected = torch.zeros_like(image)
                src = image[:, max(0, -dy):16 - max(0, dy), max(0, -dx):24 - max(0, dx)]
                expected[:, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
                if torch.allclose(moved, expected, atol=1e-4):
                    found.append((dy, dx))
        assert len(found) == 1, found
    assert not torch.allclose(x, y)             # six images: some shift happened


def test_cutout_zeroes_one_square_of_half_the_side():
    torch.manual_seed(1)
    x = torch.ones(8, 3, 16, 16)
    y = cutout(x)
    zero = (y == 0).all(dim=1)                   # every channel of a cut pixel is zero
    assert torch.equal(zero, (y == 0).any(dim=1))
    for mask in zero:
        rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8     # ≤ 8×8, cut by the border if it reaches over
        assert mask.sum() == len(rows) * len(cols)               # one rectangle
    assert (zero.sum(dim=(1, 2)) == 64).any()


def test_colour_is_the_same_for_both_images_of_a_pair():
    """pix2pix's D sees input and output concatenated (6 channels): the two get one colour change."""
    torch.manual_seed(2)
    image = torch.rand(4, 3, 8, 8)
    pair = torch.cat([image, image], dim=1)
    out = diff_augment(pair, ["color"])
    assert torch.allclose(out[:, :3], out[:, 3:])
    assert not torch.allclose(out[:, :3], image)


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_every_operation_passes_gradients(policy):
    torch.manual_seed(3)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    diff_augment(x, policy).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_probability_zero_is_the_identity_and_seeded_draws_repeat():
    x = torch.rand(4, 3, 16, 16)
    assert torch.equal(diff_augment(x, ["color", "translation", "cutout"], p=0.0), x)
    torch.manual_seed(4)
    a = diff_augment(x, ["color", "translation", "cutout"], p=0.5)
    torch.manual_seed(4)
    b = diff_augment(x, ["color", "translation", "cutout"], p=0.5)
    assert torch.equal(a, b)


def test_probability_applies_per_image():
    torch.manual_seed(5)
    x = torch.rand(400, 3, 4, 4)
    changed = (diff_augment(x, ["color"], p=0.25) != x).flatten(1).any(dim=1).float().mean().item()
    assert 0.18 < changed < 0.32


def test_unknown_operation_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentation"):
        diff_augment(torch.zeros(1, 3, 4, 4), ["colour"])
