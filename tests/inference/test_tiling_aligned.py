"""Tiling networks that are not shift-invariant (pixel-unshuffle ×2/×1 Real-ESRGAN, strided encoders):
the windows start at multiples of the network's multiple, so tiles equal the whole image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2i.inference.tiling import TileSpec, translate_tiled
from i2i.models import RRDBNet, RRDBNetConfig
from i2i.preprocess import pad_to_multiple


def _run(net: torch.nn.Module):
    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch)).clamp(0, 1).numpy()
    return run


@pytest.mark.parametrize("unshuffle, scale", [(2, 2), (4, 1)])
def test_unshuffled_rrdb_tiles_exactly_at_odd_sizes(unshuffle, scale):
    torch.manual_seed(0)
    net = RRDBNet(RRDBNetConfig(scale=scale, unshuffle=unshuffle, channels=8, growth=4, num_blocks=1)).eval()
    image = np.random.default_rng(0).random((301, 263, 3)).astype(np.float32)   # odd: padded to the multiple
    whole = _run(net)(pad_to_multiple(image, unshuffle)[None].transpose(0, 3, 1, 2).copy())[0].transpose(1, 2, 0)
    whole = np.round(whole[:301 * scale, :263 * scale] * 65535).astype(int)
    spec = TileSpec(42, 89, 16)   # windows of 220 (a multiple of 4) whose starts 42k − 89 are odd
    tiled = translate_tiled(_run(net), image, spec, scale=scale, multiple_of=unshuffle, dtype=np.uint16)
    assert tiled.shape == (301 * scale, 263 * scale, 3)
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    # The control: the same windows without the alignment (as if the network had no multiple) differ.
    misaligned = translate_tiled(_run(net), pad_to_multiple(image, unshuffle), spec, scale=scale, multiple_of=1,
                                 dtype=np.uint16)[:301 * scale, :263 * scale]
    assert np.abs(misaligned.astype(int) - whole).max() > 100
