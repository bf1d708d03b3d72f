"""The Python API's translator: `i2i.load(MODEL)` → `Translator`; `t(image)` returns the kind it was given.

The conversions are `i2i translate`'s, so that `t(pil)` saved as PNG is the file translate writes:
- a Pillow image is read as `i2i.images.read_image` reads a file (grey replicated, alpha split off and
  the colour composited onto white, 16-bit data ÷ 65535), padded to the generator's multiple and
  cropped back; it returns RGB (RGBA with its alpha resized like the image), grey (L, LA, I;16) only
  for super-resolution models — a translation model may colour a grey input —, 16-bit stays 16-bit;
- a numpy array (H×W or H×W×C, C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; uint8, uint16 or float in
  [0, 1]) returns the same dtype and channel count (grey outputs are BT.601 luma, as translate writes);
- a torch tensor (C×H×W or N×C×H×W, float in [0, 1]) returns the same layout, dtype and device.
Outputs are the input's size × the model's scale, or × `outscale` (Lanczos). numpy + Pillow only at
module level: torch is imported only when a tensor is given, so an .onnx model runs without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from i2i.errors import I2IError
from i2i.images import from_pil, luma, output_bits, quantise, split_alpha
from i2i.inference import codes
from i2i.inference.backend import Backend, load_backend
from i2i.inference.codes import CodeKind
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import Report, fit_output, run_tiled, run_whole, translate_files
from i2i.inference.tiling import TileSpec

ImageLike = Any  # a PIL.Image.Image, a numpy array or a torch tensor (torch is not imported here)
Reference = Any  # a style or class image: a file path, or an ImageLike


@dataclass
class _Item:
    """One image on its way through: the network's input, and how to hand the output back."""

    rgb: np.ndarray                     # H×W×3 float32 in [0, 1], alpha composited onto white
    alpha: np.ndarray | None            # H×W float32 in [0, 1]
    dtype: type                         # what a tiled output is quantised to (uint8, uint16; float32: not)
    finish: Callable[[np.ndarray, np.ndarray | None], Any]   # (output H'×W'×3, alpha H'×W') → the user's kind


class Translator:
    """A loaded model that translates images in memory (`t(image)`) or files (`t.translate_files`).

    Made by `i2i.load`; `backend` is already bound to its MUNIT style or FUNIT class code."""

    def __init__(self, backend: Backend, *, tile: TileSpec | None = None, outscale: float | None = None,
                 batch_size: int = 4, unbound: Backend | None = None) -> None:
        if outscale is not None and not outscale > 0:
            raise I2IError(f"outscale must be positive, got {outscale}")
        if batch_size < 1:
            raise I2IError(f"batch_size must be at least 1, got {batch_size}")
        self.backend, self.tile, self.outscale, self.batch_size = backend, tile, outscale, batch_size
        self._unbound = unbound or backend

    @property
    def scale(self) -> int:
        """Output side / input side of the network (1 for translation, e.g. 4 for super-resolution)."""
        return self.backend.preprocess.scale

    @property
    def direction(self) -> str:
        """The direction translated, e.g. "A->B"."""
        return self.backend.direction

    def __repr__(self) -> str:
        return f"Translator({self.direction}, ×{self.scale}, {self.backend.description})"

    def conditioned(self, style: Reference | None = None, seed: int | None = None,
                    class_images: str | Path | Sequence[Reference] | None = None) -> Translator:
        """This translator with another MUNIT style (`style` image or random `seed`) or FUNIT class
        (`class_images`); the model is not loaded again."""
        return Translator(bind_code(self._unbound, style, seed, class_images), tile=self.tile,
                          outscale=self.outscale, batch_size=self.batch_size, unbound=self._unbound)

    def __call__(self, images: ImageLike | list[ImageLike]) -> Any:
        """Translate one image (PIL, numpy or torch: the same kind comes back) or a list of them (a list
        comes back; images of equal size run in batches of `batch_size`)."""
        if isinstance(images, (list, tuple)):
            groups = [self._items(image) for image in images]
            outputs = iter(self._translate([item for group in groups for item in group]))
            return [_regroup(image, [next(outputs) for _ in group]) for image, group in zip(images, groups)]
        return _regroup(images, self._translate(self._items(images)))

    def translate_files(self, inputs: str | Path | Iterable[str | Path], out: str | Path, *,
                        overwrite: bool = False, skip_existing: bool = False, batch_size: int = 4,
                        workers: int = 2) -> Report:
        """Translate image files, folders (recursive) or glob patterns into the folder `out` exactly as
        `i2i translate` does (names and tree kept, written atomically). An existing output is an
        I2IError unless `overwrite` or `skip_existing`; a bad input file is listed in
        `Report.failed` (the others are still written); `Report.written`, `.skipped` list the outputs."""
        inputs = [inputs] if isinstance(inputs, (str, Path)) else inputs
        jobs = collect_jobs([str(item) for item in inputs], out)
        return translate_files(self.backend, jobs, batch_size=batch_size, overwrite=overwrite,
                               skip_existing=skip_existing, workers=workers, tile=self.tile,
                               outscale=self.outscale)

    # -- the network over prepared items -----------------------------------------------------------
    def _items(self, image: ImageLike) -> list[_Item]:
        if isinstance(image, Image.Image):
            return [_pil_item(image, self.scale)]
        if isinstance(image, np.ndarray):
            return [_array_item(image)]
        if _is_tensor(image):
            return [_array_item(plane) for plane in _tensor_images(image)]
        raise I2IError(f"a Translator takes a PIL image, a numpy array or a torch tensor (or a list of them), "
                       f"got {type(image).__name__}" + (": for files use translate_files(inputs, out)"
                                                        if isinstance(image, (str, Path)) else ""))

    def _translate(self, items: list[_Item]) -> list[Any]:
        """Each item's output in its user's kind; items of one size are batched, large ones tiled."""
        preprocess = self.backend.preprocess
        window = self.tile.window(preprocess.multiple_of, preprocess.min_size) if self.tile is not None else 0
        by_size: dict[tuple[int, ...], list[int]] = {}
        for index, item in enumerate(items):
            by_size.setdefault(item.rgb.shape, []).append(index)
        outputs: list[Any] = [None] * len(items)
        for shape, indices in by_size.items():
            if self.tile is not None and max(shape[:2]) > window:
                for index in indices:
                    outputs[index] = self._finish(items[index], self._run_tiled(items[index]))
                continue
            for first in range(0, len(indices), self.batch_size):
                chunk = indices[first:first + self.batch_size]
                for index, output in zip(chunk, self._run_whole([items[i].rgb for i in chunk]), strict=True):
                    outputs[index] = self._finish(items[index], output)
        return outputs

    def _run_whole(self, rgbs: list[np.ndarray]) -> list[np.ndarray]:
        return run_whole(self.backend, rgbs)

    def _run_tiled(self, item: _Item) -> np.ndarray:
        return run_tiled(self.backend, item.rgb, self.tile, item.dtype)

    def _finish(self, item: _Item, output: np.ndarray) -> Any:
        """Crop the padding off, resize to `outscale` and resize the alpha, as the pipeline does."""
        height, width = item.rgb.shape[:2]
        return item.finish(*fit_output(output, item.alpha, height, width, self.scale, self.outscale))


# -- Pillow images ------------------------------------------------------------------------------------
_EIGHT_BIT_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _pil_item(image: Image.Image, scale: int) -> _Item:
    try:
        rgb, alpha, info = from_pil(image)
    except ValueError as error:
        raise I2IError(f"PIL image ({image.mode}): {error}") from None
    if rgb.size == 0:
        raise I2IError("PIL image has zero size")
    bits, grey = output_bits(info), scale > 1 and info.grayscale   # translate's rules: 16 bits, grey for SR only
    if bits == 16 and not grey:
        raise I2IError(f"a {image.mode} image translates to 16-bit colour, which Pillow cannot hold: pass it as "
                       f"a numpy array (np.asarray(image)) for uint16 RGB, or convert it to 'L' for 8 bits")
    mode = image.mode

    def finish(output: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
        pixels = quantise(output, bits)
        planes = [luma(pixels)[:, :, None] if grey else pixels]
        if alpha is not None:
            planes.append(quantise(alpha, bits).astype(pixels.dtype)[:, :, None])
        data = np.concatenate(planes, axis=2)
        if bits == 8:
            return Image.fromarray(data[:, :, 0] if data.shape[2] == 1 else data, _EIGHT_BIT_MODES[data.shape[2]])
        grey16 = data[:, :, 0]
        if mode == "F":
            return Image.fromarray(grey16.astype(np.float32) / 65535.0, "F")
        return Image.fromarray(grey16 if mode.startswith("I;16") else grey16.astype(np.int32))  # I;16 or I

    return _Item(rgb, alpha, np.uint16 if bits == 16 else np.uint8, finish)


# -- numpy arrays (and tensors, as float arrays) --------------------------------------------------------
def _array_item(array: np.ndarray) -> _Item:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise I2IError(f"an image array must be H×W or H×W×C with C = 1, 2, 3 or 4 channels, got shape {array.shape}"
                       + (" (channels first? use array.transpose(1, 2, 0))" if array.ndim == 3 and
                          array.shape[0] in (1, 3, 4) else ""))
    if array.size == 0:
        raise I2IError(f"an image array must not be empty, got shape {array.shape}")
    dtype = array.dtype
    if dtype == np.uint8 or dtype == np.uint16:
        data = array.astype(np.float32) / float(np.iinfo(dtype).max)
    elif dtype.kind == "f":
        if not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise I2IError(f"a float image array must hold values in [0, 1], found {np.nanmin(array):.3g}.."
                           f"{np.nanmax(array):.3g}")
        data = array.astype(np.float32)
    else:
        raise I2IError(f"an image array must be uint8, uint16 or float in [0, 1], got {dtype}")
    squeeze = array.ndim == 2
    data = data[:, :, None] if squeeze else data
    channels = data.shape[2]
    rgb, alpha = split_alpha(data)

    def finish(output: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
        if dtype.kind == "u":
            bits = 16 if dtype == np.uint16 else 8
            pixels = quantise(output, bits)
            alpha = None if alpha is None else quantise(alpha, bits)
        else:
            pixels = np.clip(output, 0.0, 1.0).astype(np.float32)
        planes = [luma(pixels)[:, :, None] if channels in (1, 2) else pixels]
        if alpha is not None:
            planes.append(alpha.astype(pixels.dtype)[:, :, None])
        result = np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]
        return (result[:, :, 0] if squeeze else result).astype(dtype, copy=False)

    return _Item(rgb, alpha, dtype.type if dtype.kind == "u" else np.float32, finish)


def _is_tensor(value: object) -> bool:
    if type(value).__module__.split(".")[0] != "torch":
        return False
    import torch  # a tensor was given, so torch is there

    return isinstance(value, torch.Tensor)


def _tensor_images(tensor: Any) -> list[np.ndarray]:
    """C×H×W or N×C×H×W float in [0, 1] → H×W×C float32 arrays."""
    if tensor.ndim not in (3, 4) or tensor.shape[-3] not in (1, 2, 3, 4):
        raise I2IError(f"an image tensor must be C×H×W or N×C×H×W with C = 1, 2, 3 or 4, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise I2IError(f"an image tensor must be float in [0, 1], got {tensor.dtype} (divide by 255 first)")
    batch = tensor.detach().float().cpu().numpy()
    batch = batch[None] if tensor.ndim == 3 else batch
    return [np.ascontiguousarray(image.transpose(1, 2, 0)) for image in batch]


def _regroup(given: ImageLike, outputs: list[Any]) -> Any:
    """One input's outputs as its kind: a tensor restacked in its layout, dtype and device."""
    if not _is_tensor(given):
        return outputs[0]
    import torch

    batch = torch.from_numpy(np.stack([output.transpose(2, 0, 1) for output in outputs]))
    batch = batch.to(device=given.device, dtype=given.dtype)
    return batch[0] if given.ndim == 3 else batch


# -- loading and conditioning ---------------------------------------------------------------------------
def _reference_rgb(image: Reference) -> str | Path | np.ndarray:
    """A style/class reference: a path stays a path (read as translate reads it), an image becomes RGB."""
    if isinstance(image, (str, Path)):
        return Path(image)
    if isinstance(image, Image.Image):
        try:
            return from_pil(image)[0]
        except ValueError as error:
            raise I2IError(f"PIL image ({image.mode}): {error}") from None
    if isinstance(image, np.ndarray):
        return _array_item(image).rgb
    if _is_tensor(image):
        return _array_item(_tensor_images(image)[0]).rgb
    raise I2IError(f"a style or class image must be a path, a PIL image, a numpy array or a tensor, "
                   f"got {type(image).__name__}")


def bind_code(backend: Backend, style: Reference | None = None, seed: int | None = None,
              class_images: str | Path | Sequence[Reference] | None = None) -> Backend:
    """`backend` bound to its code: MUNIT a reference `style` or a random one (`seed`, default 0, as
    translate's default), FUNIT the mean class code of `class_images`; plain generators take none."""
    kind = backend.conditioning.get("kind")
    given = [f"{name}=" for name, value in (("style", style), ("seed", seed), ("class_images", class_images))
             if value is not None]
    if kind is None:
        if given:
            raise I2IError(f"{', '.join(given)}: {backend.description} is not a MUNIT/FUNIT model (it takes no code)")
        return backend
    size = backend.preprocess.size
    if kind == CodeKind.CLASS:
        if class_images is None or style is not None or seed is not None:
            raise I2IError("a FUNIT model translates into the class shown by class_images= (a folder or a list of "
                           "K images of one class); style= and seed= are for MUNIT")
        references = (codes.class_images(class_images) if isinstance(class_images, (str, Path))
                      else [_reference_rgb(image) for image in class_images])
        if not references:
            raise I2IError("class_images= is an empty list: give K ≥ 1 images of the target class")
        return backend.with_code(codes.class_code(backend.encode, references, size))
    if class_images is not None or (style is not None and seed is not None):
        raise I2IError("a MUNIT model takes either style= (a reference image) or seed= (a random style); "
                       "class_images= is for FUNIT")
    if style is not None:
        return backend.with_code(codes.style_code(backend.encode, _reference_rgb(style), size))
    return backend.with_code(codes.prior_codes(1, int(backend.conditioning["code_dim"]), seed or 0))


def load_translator(model: str | Path, *, device: str = "auto", backend: str = "auto", precision: str = "fp32",
                    to: str | None = None, tile: int | None = None, tile_pad: int = 16, tile_feather: int = 16,
                    style: Reference | None = None, seed: int | None = None,
                    class_images: str | Path | Sequence[Reference] | None = None,
                    outscale: float | None = None, batch_size: int = 4) -> Translator:
    """`i2i.load`: the model (checkpoint, run directory, imported checkpoint or .onnx file) as a Translator."""
    try:
        spec = TileSpec(tile, tile_pad, tile_feather) if tile is not None else None
    except ValueError as error:
        raise I2IError(f"tile: {error}") from None
    if outscale is not None and not outscale > 0:  # before the model loads
        raise I2IError(f"outscale must be positive, got {outscale}")
    runner = load_backend(model, backend, to, device, precision)
    return Translator(bind_code(runner, style, seed, class_images), tile=spec, outscale=outscale,
                      batch_size=batch_size, unbound=runner)
