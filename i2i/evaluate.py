"""Held-out evaluation of a paired translation model against the copy-the-input baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from i2i.images import write_image
from i2i.metrics import l1, psnr
from i2i.preprocess import pad_to_multiple, to_batch
from i2i.translate import Backend


@dataclass
class PairedScores:
    count: int
    model: dict[str, float]
    baseline: dict[str, float]                      # the input copied as output
    per_image: list[dict[str, float | str]] = field(default_factory=list)


def evaluate_pairs(backend: Backend, pairs: list[tuple[np.ndarray, np.ndarray, str]],
                   samples_path: Path | None = None, num_samples: int = 8) -> PairedScores:
    """Translate each (input, target, name) at its own size and score output vs target; the baseline
    scores input vs target. Optionally writes an input | output | target grid of the first pairs."""
    multiple, min_size = backend.preprocess.multiple_of, backend.preprocess.min_size
    per_image, grid_rows = [], []
    for source, target, name in pairs:
        height, width = source.shape[:2]
        output = backend.run(to_batch([pad_to_multiple(source, multiple, min_size)]))[0].transpose(1, 2, 0)
        output = output[:height, :width]
        if target.shape != output.shape:
            raise ValueError(f"{name}: target is {target.shape[:2]}, output {output.shape[:2]}")
        per_image.append({"name": name, "l1": l1(output, target), "psnr": psnr(output, target),
                          "baseline_l1": l1(source, target), "baseline_psnr": psnr(source, target)})
        if len(grid_rows) < num_samples:
            grid_rows.append(np.concatenate([source, _gap(height), output, _gap(height), target], axis=1))
    if samples_path is not None and grid_rows:
        width = max(row.shape[1] for row in grid_rows)
        rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in grid_rows]
        write_image(samples_path, np.concatenate(rows, axis=0)[:-2])

    def mean(key: str) -> float:
        return float(np.mean([row[key] for row in per_image]))

    return PairedScores(
        count=len(per_image),
        model={"l1": mean("l1"), "psnr": mean("psnr")},
        baseline={"l1": mean("baseline_l1"), "psnr": mean("baseline_psnr")},
        per_image=per_image,
    )


def _gap(height: int, width: int = 2) -> np.ndarray:
    return np.ones((height, width, 3), dtype=np.float32)
