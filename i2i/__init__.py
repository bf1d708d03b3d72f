"""i2i: image-to-image translation with GANs (pix2pix and more) — train, translate, export.

The Python API is `load`: `t = i2i.load(MODEL)`, then `t(image)` returns the kind it was given (PIL,
numpy, torch). Everything is imported inside it, so `import i2i` stays light (no torch, no numpy).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag, without importing typing: `import i2i` stays light
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from i2i.inference.translator import Translator

__version__ = "0.1.0"
__all__ = ["__version__", "load"]


def load(model: str | Path, device: str = "auto", backend: str = "auto", precision: str = "fp32",
         to: str | None = None, tile: int | None = None, tile_pad: int = 16, tile_feather: int = 16,
         style: Any = None, seed: int | None = None, class_images: str | Path | Sequence[Any] | None = None,
         outscale: float | None = None) -> Translator:
    """Load MODEL — a checkpoint, a run directory, an imported checkpoint or an exported `.onnx` file —
    as a `Translator` (`i2i.inference.translator`); `t(image)` returns the kind it was given.

    The options mirror `i2i translate`'s: `device` auto/cpu/cuda[:N]; `backend` auto (onnxruntime for
    .onnx files, else torch), torch or onnx; `precision` fp32/fp16/bf16/auto (torch autocast); `to` the
    target domain (default: the model's first direction); `tile` (with `tile_pad`, `tile_feather`)
    translates images larger than a tile window tile by tile; `style` (a path, PIL image or array) or
    `seed` (a random style; default 0) for MUNIT; `class_images` (a folder or a list of images) for
    FUNIT; `outscale` resizes outputs to that × the input (Lanczos). Raises I2IError on a usage error."""
    from i2i.inference.translator import load_translator

    return load_translator(model, device=device, backend=backend, precision=precision, to=to, tile=tile,
                           tile_pad=tile_pad, tile_feather=tile_feather, style=style, seed=seed,
                           class_images=class_images, outscale=outscale)
