"""Batches as a pure function of (seed, step): what makes `--resume` continue exactly; and their
split into micro-batches for gradient accumulation.

Epoch e visits the dataset in the order `randperm(n)` drawn from a generator seeded by (seed, e);
step t takes batch t mod (n // batch_size) of epoch t // (n // batch_size) (the last partial batch of
an epoch is dropped). Each sample carries its own augmentation seed, derived from (seed, epoch,
index), so crops and flips do not depend on worker processes or on where a run was resumed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from i2i.errors import I2IError


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for steps `start` … `stop − 1`, a list of (dataset index, augmentation seed)."""

    def __init__(self, dataset_size: int, batch_size: int, seed: int, start: int, stop: int,
                 share: tuple[int, int] | None = None) -> None:
        if dataset_size < batch_size:
            raise I2IError(f"batch size {batch_size} is larger than the training set ({dataset_size} items); lower "
                           f"--batch-size (super-resolution: or crop each image several times per epoch with "
                           f"--set data.repeat=N)")
        self.dataset_size, self.batch_size, self.seed = dataset_size, batch_size, seed
        self.start, self.stop = start, stop
        self.steps_per_epoch = dataset_size // batch_size
        # Under torchrun: (first, count) of this process's slice of each global batch.
        self.share = share or (0, batch_size)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]))
        return torch.randperm(self.dataset_size, generator=generator)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, order, seeds = -1, None, None
        for step in range(self.start, self.stop):
            step_epoch, offset = divmod(step, self.steps_per_epoch)
            if step_epoch != epoch:
                epoch, order = step_epoch, self._order(step_epoch)
                seeds = np.random.SeedSequence([self.seed, epoch, 1]).generate_state(self.dataset_size)
            indices = order[offset * self.batch_size:(offset + 1) * self.batch_size].tolist()
            first, count = self.share
            yield [(index, int(seeds[index])) for index in indices[first:first + count]]


def micro_batches(batch: dict[str, Tensor], count: int) -> list[dict[str, Tensor]]:
    """`batch` split along its first dimension into `count` equal micro-batches."""
    if count == 1:
        return [batch]
    size = next(iter(batch.values())).shape[0] // count
    return [{k: v[i * size:(i + 1) * size] for k, v in batch.items()} for i in range(count)]


def accumulate(row: dict[str, float], values: dict[str, float], count: int) -> None:
    """Add the mean over `count` micro-batches of each value into `row`."""
    for name, value in values.items():
        row[name] = row.get(name, 0.0) + value / count
