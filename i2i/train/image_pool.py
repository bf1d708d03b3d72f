"""History of generated images for the discriminator (Shrivastava et al. 2017; CycleGAN §4).

The discriminator is shown fakes from a buffer of the last `size` generated images rather than only
the newest ones, which damps oscillation. Per image, as the reference implementation does: while
the buffer is not full, the new fake is stored and returned; afterwards, with probability ½ a random
stored fake is returned and replaced by the new one, else the new fake is returned as is.

Draws come from torch's global RNG, which the trainer's resume state restores: a resumed run makes
the same choices. The buffer itself is part of that state (`state_dict`).
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[Tensor] = []

    def query(self, fakes: Tensor) -> Tensor:
        """A batch of the same shape as `fakes` (detached), mixing them with stored history."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        chosen = []
        for fake in fakes:
            if len(self.images) < self.size:
                self.images.append(fake.clone())
                chosen.append(fake)
            elif torch.rand(()).item() > 0.5:
                slot = int(torch.randint(self.size, ()).item())
                chosen.append(self.images[slot])
                self.images[slot] = fake.clone()
            else:
                chosen.append(fake)
        return torch.stack(chosen)

    def state_dict(self) -> dict[str, Tensor]:
        stored = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"images": stored}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device | str = "cpu") -> None:
        self.images = [image.to(device) for image in state["images"]][: self.size]
