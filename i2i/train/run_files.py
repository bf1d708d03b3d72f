"""The files of a run directory besides checkpoints: metrics.csv and sample grids."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from i2i.files import atomic_write
from i2i.images import write_image


class MetricsLog:
    """metrics.csv with one row per logged step. Columns come from the first row; a later row with new
    columns rewrites the header (older rows get empty cells). On resume, rows after the resumed step
    are dropped so the file reads as one uninterrupted run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.exists():
            with path.open(newline="") as handle:
                reader = csv.reader(handle)
                self.columns = next(reader, None)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists() or self.columns is None:
            return
        with self.path.open(newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        kept = [row for row in rows if row and int(row[0]) <= step]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows(kept)
        atomic_write(self.path, lambda temporary: temporary.write_text(buffer.getvalue()))

    def _add_columns(self, names: list[str]) -> None:
        """Rewrite the file with `names` appended to the header; earlier rows get empty cells."""
        with self.path.open(newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        self.columns = [*self.columns, *names]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows(row + [""] * len(names) for row in rows)
        atomic_write(self.path, lambda temporary: temporary.write_text(buffer.getvalue()))

    def append(self, row: dict[str, float]) -> None:
        new_file = self.columns is None
        if new_file:
            self.columns = list(row)
        missing = [c for c in row if c not in self.columns]
        if missing:  # e.g. the discriminator's losses once SRGAN's second stage starts
            self._add_columns(missing)
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(self.columns)
            writer.writerow([_format(row.get(column, "")) for column in self.columns])
            handle.flush()


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def image_grid(columns: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Columns of N×H×W×3 images in [0, 1] → one image: a row per sample, a column per entry, white gaps."""
    count, height, width, _ = columns[0].shape
    grid = np.ones((count * (height + gap) - gap, len(columns) * (width + gap) - gap, 3), dtype=np.float32)
    for column_index, column in enumerate(columns):
        for row_index in range(count):
            top, left = row_index * (height + gap), column_index * (width + gap)
            grid[top:top + height, left:left + width] = column[row_index]
    return grid


def write_grid(path: Path, columns: list[np.ndarray]) -> None:
    write_image(path, image_grid(columns))
