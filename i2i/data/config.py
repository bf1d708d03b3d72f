"""Where a method's training data lives and how it is read: the `data.*` section of every recipe."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    root: str = "data"                  # data folder (layouts: see i2i.data)
    layout: str = "auto"                # paired: auto | aligned (A|B side by side) | folders (A/ and B/); unpaired: auto | aligned (A|B files split into two domains)
    direction: str = "AtoB"             # paired: AtoB or BtoA
    domains: list[str] = field(default_factory=list)  # unpaired: the two domains' folder names ([] = A, B)
    load_size: int | None = None        # resize side before the random crop; None → image_size × 286/256
    flip: bool = True                   # random horizontal flip (same for both images of a pair)
    num_workers: int = 0                # DataLoader worker processes (0 = decode in the training process)
    repeat: int = 1                     # super-resolution: random crops of each image per epoch (few large photos)
