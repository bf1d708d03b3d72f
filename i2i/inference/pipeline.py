"""Jobs → translated files, batched and streamed.

- Any size: each image is reflect-padded to the generator's multiple and the output cropped back —
  never resized. Images of equal size are batched together.
- Streaming: a thread pool decodes ahead (bounded), the model runs in the main thread, another pool
  encodes and writes (atomically). Memory holds at most a few batches whatever the number of files.
- Bad files: each is named once, the rest are still written; the caller exits with status 1.
- With a `TileSpec`, images larger than one tile window are translated tile by tile (`tiling.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.images import ImageInfo, ImageReadError, output_bits, read_image, resize_plane, write_image
from i2i.inference.backend import Backend
from i2i.inference.jobs import Job, prepare_outputs
from i2i.inference.tiling import TileSpec, translate_tiled
from i2i.preprocess import from_batch, pad_to_multiple, to_batch


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)        # outputs that existed (skip_existing)
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class _Decoded:
    job: Job
    rgb: np.ndarray | None = None
    alpha: np.ndarray | None = None
    info: ImageInfo | None = None
    error: str | None = None


def _decode(job: Job) -> _Decoded:
    try:
        rgb, alpha, info = read_image(job.source)
        return _Decoded(job, rgb, alpha, info)
    except ImageReadError as error:
        return _Decoded(job, error=str(error))
    except MemoryError:
        return _Decoded(job, error=f"{job.source}: too large to decode in memory")
    except Exception as error:  # a Pillow plugin's own exception on a mangled file must not end the whole run
        return _Decoded(job, error=f"{job.source}: cannot decode ({type(error).__name__}: {error})")


def _batches(decoded: Iterator[_Decoded], batch_size: int, report: Report,
             tiled: Callable[[_Decoded], bool]) -> Iterator[list[_Decoded]]:
    """Group consecutive images of the same size; a size change or a full batch flushes. An image
    that is translated in tiles is a batch of its own (its tiles are batched inside)."""
    pending: list[_Decoded] = []
    for item in decoded:
        if item.error is not None:
            report.failed.append((item.job.source, item.error))
            continue
        if pending and (tiled(item) or item.rgb.shape != pending[0].rgb.shape or len(pending) == batch_size):
            yield pending
            pending = []
        pending.append(item)
        if tiled(item):
            yield pending
            pending = []
    if pending:
        yield pending


def output_size(height: int, width: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """(H, W) of the file written: the network's × scale, or × `outscale` of the input when given
    (Real-ESRGAN's `--outscale`: int(W · S) × int(H · S))."""
    if outscale is None:
        return height * scale, width * scale
    return max(1, int(height * outscale)), max(1, int(width * outscale))


def rescale(output: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The network's output resized to `size` (H, W) with Lanczos (OpenCV's 8×8 kernel, as Real-ESRGAN
    does); float outputs stay in [0, 1], 8/16-bit ones are saturated by OpenCV."""
    if output.shape[:2] == size:
        return output
    import cv2

    resized = cv2.resize(output, (size[1], size[0]), interpolation=cv2.INTER_LANCZOS4)
    return np.clip(resized, 0.0, 1.0) if resized.dtype.kind == "f" else resized


def fit_output(output: np.ndarray, alpha: np.ndarray | None, height: int, width: int, scale: int,
               outscale: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The network's output of a height × width input with its padding cropped off, resized to
    `outscale` when given, and the input's alpha resized to match (what translate and the Python API
    hand back)."""
    size = output_size(height, width, scale, outscale)
    output = rescale(output[: height * scale, : width * scale], size)
    if alpha is not None and alpha.shape[:2] != size:
        alpha = resize_plane(alpha, size[1], size[0])
    return output, alpha


def _output_options(item: _Decoded, scale: int) -> dict[str, Any]:
    """What the output keeps of its input besides alpha: 16 bits, and — for super-resolution only —
    grey (a translation model may colour a grey input: edges → shoes)."""
    info = item.info
    return {"bits": output_bits(info), "grayscale": bool(scale > 1 and info is not None and info.grayscale)}


_TOO_LARGE = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc", "failed to allocate")


def run_tiled(backend: Backend, rgb: np.ndarray, tile: TileSpec, dtype: type) -> np.ndarray:
    """One image, tile by tile, into a `dtype` output (uint8/uint16; float32 keeps it unquantised). One
    window per forward pass: bounded memory is what tiling is for (an SR network's activations at the
    output size dominate: ~1 GB for a 256-px tile at ×4)."""
    preprocess = backend.preprocess
    return translate_tiled(backend.run, rgb, tile, scale=preprocess.scale, multiple_of=preprocess.multiple_of,
                           min_size=preprocess.min_size, batch_size=1, dtype=dtype)


def run_whole(backend: Backend, rgbs: list[np.ndarray]) -> list[np.ndarray]:
    """Equal-sized images as one batch, each padded to the network's multiple (outputs still padded:
    `fit_output` crops them). Too little memory is a `TooLarge` error suggesting tiles."""
    multiple, min_size = backend.preprocess.multiple_of, backend.preprocess.min_size
    inputs = to_batch([pad_to_multiple(rgb, multiple, min_size) for rgb in rgbs])
    try:
        return from_batch(backend.run(inputs))
    except (MemoryError, RuntimeError) as error:  # torch and onnxruntime report allocation failures so
        text = str(error).lower()
        if not isinstance(error, MemoryError) and not any(marker in text for marker in _TOO_LARGE):
            raise
        height, width = rgbs[0].shape[:2]
        raise TooLarge(f"{width}×{height} is too large to translate whole in this memory"
                        f"{f' (batch of {len(rgbs)})' if len(rgbs) > 1 else ''}; use --tile 512 "
                        f"(or a smaller tile), or --batch-size 1") from None


class TooLarge(I2IError):
    """An image whose activations do not fit in memory whole: translate names the file and goes on;
    the Python API raises it."""


def lookahead(batch_size: int) -> int:
    """How many images are decoded ahead of the model, and how many outputs may wait to be written:
    at most lookahead + 2·batch_size decoded images are alive at once, whatever the number of files."""
    return max(2 * batch_size, 4)


def translate_files(backend: Backend, jobs: list[Job], *, batch_size: int = 4, overwrite: bool = False,
                    skip_existing: bool = False, workers: int = 2, tile: TileSpec | None = None,
                    outscale: float | None = None, on_progress: Callable[[int], None] | None = None) -> Report:
    """Run `backend` over `jobs`, writing each output atomically. Never raises for a bad input file.

    An existing output is an I2IError unless `overwrite` (replace it) or `skip_existing` (leave it,
    listed in `Report.skipped`). With `tile`, images larger than one tile window are translated tile
    by tile (`i2i.inference.tiling`); smaller ones whole, as without it. With `outscale`, each output is
    resized to outscale × its input's size (Lanczos). `on_progress(n)` is called as n more images are
    written or failed."""
    if outscale is not None and not outscale > 0:
        raise I2IError(f"--outscale must be positive, got {outscale}")
    jobs, skipped = prepare_outputs(jobs, overwrite=overwrite, skip_existing=skip_existing)
    report = Report(skipped=[job.target for job in skipped])
    multiple, min_size, scale = backend.preprocess.multiple_of, backend.preprocess.min_size, backend.preprocess.scale
    ahead = lookahead(batch_size)
    window = tile.window(multiple, min_size) if tile is not None else 0

    def tiled(item: _Decoded) -> bool:
        return tile is not None and max(item.rgb.shape[:2]) > window

    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as decoder, \
            ThreadPoolExecutor(workers, thread_name_prefix="encode") as encoder:
        writes: list[tuple[Job, Future]] = []

        def decoded_stream() -> Iterator[_Decoded]:
            queue: list[Future] = []
            for job in jobs:
                queue.append(decoder.submit(_decode, job))
                if len(queue) >= ahead:
                    yield queue.pop(0).result()
            for future in queue:
                yield future.result()

        for batch in _batches(decoded_stream(), batch_size, report, tiled):
            height, width = batch[0].rgb.shape[:2]
            try:
                if tiled(batch[0]):
                    dtype = np.uint16 if output_bits(batch[0].info) == 16 else np.uint8
                    outputs = [run_tiled(backend, batch[0].rgb, tile, dtype)]
                    batch[0].rgb = None  # the input is no longer needed: free it before encoding
                else:
                    outputs = run_whole(backend, [item.rgb for item in batch])
            except TooLarge as error:
                report.failed += [(item.job.source, f"{item.job.source}: {error}") for item in batch]
                continue
            for item, output in zip(batch, outputs, strict=True):
                output, alpha = fit_output(output, item.alpha, height, width, scale, outscale)
                writes.append((item.job, encoder.submit(write_image, item.job.target, output, alpha=alpha,
                                                        **_output_options(item, scale))))
            # Bound memory: wait for writes older than a few batches before decoding further.
            while len(writes) > ahead:
                _finish_write(*writes.pop(0), report, on_progress)
        for job, future in writes:
            _finish_write(job, future, report, on_progress)
    if on_progress is not None and report.failed:
        on_progress(len(report.failed))
    return report


def _finish_write(job: Job, future: Future, report: Report, on_progress: Callable[[int], None] | None) -> None:
    try:
        future.result()
        report.written.append(job.target)
    except OSError as error:
        report.failed.append((job.source, f"{job.target}: cannot write ({error})"))
    if on_progress is not None:
        on_progress(1)
