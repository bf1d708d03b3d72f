"""Jobs → translated files, batched and streamed.

- Any size: each image is reflect-padded to the generator's multiple and the output cropped back —
  never resized. Images of equal size are batched together.
- Streaming: a thread pool decodes ahead (bounded), the model runs in the main thread, another pool
  encodes and writes (atomically). Memory holds at most a few batches whatever the number of files.
- Memory: what an image will cost on its path is estimated from its header (`budget.py`) before it is
  decoded; one that does not fit what this process can spare (or `max_megapixels`) is named with the
  way out, and the images in flight together stay within the budget (`budget.Ledger`).
- With a `TileSpec`, images larger than one tile window are translated tile by tile (`tiling.py`) from
  their 8/16-bit decode, never a float copy; a PNG output is written band by band (`png_stream.py`).
- Concurrent runs: each output is claimed (`claims.py`) before it is translated and released after its
  atomic rename; an output another live process claims is skipped (`skip_existing`) or named.
- Bad files: each is named once, the rest are still written; the caller exits with status 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.images import (
    Decoded,
    ImageHeader,
    ImageInfo,
    ImageReadError,
    converted,
    decode,
    output_bits,
    unit_float,
    write_image,
)
from i2i.inference import claims
from i2i.inference.backend import Backend
from i2i.inference.budget import Costs, Ledger, network_bytes_per_pixel
from i2i.inference.fit import fit_output, output_size, rescale  # noqa: F401 (re-exported: the video path, the API)
from i2i.inference.jobs import Job, prepare_outputs, remove_stale_temporaries
from i2i.inference.png_stream import write_tiled_png
from i2i.inference.tiling import TileSpec, decoded_block, tiled_rows, translate_tiled
from i2i.memory import MemoryLimit
from i2i.preprocess import from_batch, pad_to_multiple, to_batch


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)        # outputs that existed, or another process writes
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class _Decoded:
    job: Job
    rgb: np.ndarray | None = None
    alpha: np.ndarray | None = None
    info: ImageInfo | None = None
    error: str | None = None
    decoded: Decoded | None = None   # an image translated in tiles, as decoded: converted window by window
    cost: int = 0                    # bytes it holds in the run's ledger until its output is written

    @property
    def size(self) -> tuple[int, int]:
        return self.decoded.shape if self.decoded is not None else self.rgb.shape[:2]


def _output_options(info: ImageInfo | None, scale: int) -> dict[str, Any]:
    """What the output keeps of its input besides alpha: 16 bits, and — for super-resolution only —
    grey (a translation model may colour a grey input: edges → shoes)."""
    return {"bits": output_bits(info), "grayscale": bool(scale > 1 and info is not None and info.grayscale)}


_NO_ROOM = "too large to translate in this memory; use a smaller --tile"
_TOO_LARGE = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc", "failed to allocate")


def run_tiled(backend: Backend, image: np.ndarray | Decoded, tile: TileSpec, dtype: type) -> np.ndarray:
    """One image (float RGB, or a decoded file), tile by tile, into a `dtype` output (uint8/uint16;
    float32 keeps it unquantised). One window per forward pass: bounded memory is what tiling is for
    (an SR network's activations at the output size dominate: ~1 GB for a 256-px tile at ×4)."""
    preprocess = backend.preprocess
    return translate_tiled(backend.run, image, tile, scale=preprocess.scale, multiple_of=preprocess.multiple_of,
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
                    outscale: float | None = None, max_megapixels: float | None = None,
                    on_progress: Callable[[int], None] | None = None) -> Report:
    """Run `backend` over `jobs`, writing each output atomically. Never raises for a bad input file.

    An existing output is an I2IError unless `overwrite` (replace it) or `skip_existing` (leave it,
    listed in `Report.skipped`, as are outputs another live process is writing). With `tile`, images
    larger than one tile window are translated tile by tile; smaller ones whole. With `outscale`, each
    output is resized to outscale × its input's size (Lanczos). An image that would not fit in the
    memory this process can spare (or is over `max_megapixels`) is named in `Report.failed` before it
    is decoded. `on_progress(n)` is called as n more images are written, skipped or failed."""
    if outscale is not None and not outscale > 0:
        raise I2IError(f"--outscale must be positive, got {outscale}")
    try:
        limit = MemoryLimit(max_megapixels=max_megapixels)
    except ValueError as error:
        raise I2IError(str(error)) from None
    jobs, skipped = prepare_outputs(jobs, overwrite=overwrite, skip_existing=skip_existing)
    run = _Run(backend, batch_size=batch_size, workers=workers, tile=tile, outscale=outscale, limit=limit,
               skip_existing=skip_existing, on_progress=on_progress)
    run.report.skipped += [job.target for job in skipped]
    return run.translate(jobs)


class _Run:
    """One `translate_files` call: jobs claimed, decoded within the budget, batched, translated, written."""

    def __init__(self, backend: Backend, *, batch_size: int, workers: int, tile: TileSpec | None,
                 outscale: float | None, limit: MemoryLimit, skip_existing: bool,
                 on_progress: Callable[[int], None] | None) -> None:
        preprocess = backend.preprocess
        self.backend, self.batch_size, self.workers, self.tile = backend, batch_size, workers, tile
        self.scale, self.outscale, self.skip_existing = preprocess.scale, outscale, skip_existing
        self.costs = Costs(preprocess.scale, preprocess.multiple_of, preprocess.min_size,
                           network_bytes_per_pixel(backend.header, preprocess.scale), tile, outscale)
        # What the process can spare is measured once: the ledger shares it among the images in flight.
        budget = None if limit.max_megapixels is not None else limit.budget()
        self.limit = limit if budget is None else MemoryLimit(spare=budget)
        self.ledger = Ledger(budget)
        self.report, self.ahead, self.on_progress = Report(), lookahead(batch_size), on_progress
        self.claims = claims.Held()
        self._writes: list[tuple[Job, Future]] = []   # the items themselves are not kept: memory

    def translate(self, jobs: list[Job]) -> Report:
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="decode") as decoder, \
                    ThreadPoolExecutor(self.workers, thread_name_prefix="encode") as encoder:
                try:
                    for batch in self._batches(self._decoded(jobs, decoder)):
                        self._translate(batch, encoder)
                        while len(self._writes) > self.ahead:  # bound memory: wait for older writes
                            self._finish_write(*self._writes.pop(0))
                    for job, future in self._writes:
                        self._finish_write(job, future)
                except BaseException:
                    self.ledger.close()  # a decode waiting for memory must not block the pools' shutdown
                    raise
        finally:
            self.claims.release()  # all of them, should an error end the run
        # What writers killed during this run left beside its outputs (their claims are free now).
        remove_stale_temporaries(job.target for job in jobs)
        if self.on_progress is not None and self.report.failed:
            self.on_progress(len(self.report.failed))
        return self.report

    # -- claims -------------------------------------------------------------------------------------
    def _claim(self, job: Job) -> bool:
        """Take the claim on `job.target`; False (the job reported as skipped or failed) when another
        live process holds it, or — with skip_existing — the output has appeared since it was planned."""
        try:
            held = self.claims.take(job.target)
        except OSError as error:
            self.report.failed.append((job.source, f"{job.target}: cannot write ({error})"))
            return False
        if held is not None or (self.skip_existing and job.target.exists()):
            self.claims.release(job.target)
            if self.skip_existing:
                self.report.skipped.append(job.target)
                if self.on_progress is not None:
                    self.on_progress(1)
            else:
                reason = claims.busy(job.target, held)
                self.report.failed.append((job.source, reason))
            return False
        return True

    def _done(self, job: Job, cost: int) -> None:
        """The job is written or failed: its memory and its claim are given back."""
        self.ledger.release(cost)
        self.claims.release(job.target)

    def _fail(self, item: _Decoded, reason: str) -> None:
        self.report.failed.append((item.job.source, reason))
        self._done(item.job, item.cost)

    # -- decoding -----------------------------------------------------------------------------------
    def _decoded(self, jobs: list[Job], decoder: ThreadPoolExecutor) -> Iterator[_Decoded | None]:
        """Decoded items in job order, `lookahead` ahead; None asks `_batches` to flush what it holds
        (a decode waits for memory that only the images held in a batch can give back)."""
        queue: list[Future] = []
        tickets = 0
        for job in jobs:
            if not self._claim(job):
                continue
            queue.append(decoder.submit(self._decode, job, tickets))
            tickets += 1
            if len(queue) >= self.ahead:
                yield from self._next(queue)
        while queue:
            yield from self._next(queue)

    def _next(self, queue: list[Future]) -> Iterator[_Decoded | None]:
        future = queue.pop(0)
        while not wait([future], timeout=0.05).done:
            if self.ledger.waiting:
                yield None
        yield future.result()

    def _decode(self, job: Job, ticket: int) -> _Decoded:
        """Decode one image (whole: float RGB; tiled: as decoded), after its header passed the budget
        and the ledger granted its estimate. Never raises: a failure is the item's error."""
        item = _Decoded(job)
        granted, tiled = False, False

        def check(header: ImageHeader) -> None:
            nonlocal granted, tiled
            tiled = self.costs.tiled(header)
            cost = (self.costs.in_tiles(header, self._streamed(job, header.channels in (2, 4))) if tiled
                    else self.costs.whole(header))
            refusal = self.limit.refusal(job.source, header.width, header.height, cost,
                                         "translate it in tiles" if tiled else "translate it whole",
                                         self.costs.way_out(header, self.ledger.total or 0))
            granted = True
            self.ledger.reserve(ticket, 0 if refusal else cost)
            if refusal is not None:
                raise ImageReadError(refusal)
            item.cost = cost

        try:
            decoded = decode(job.source, check)
            if tiled:
                item.decoded, item.info = decoded, decoded.info
            else:
                item.rgb, item.alpha, item.info = converted(job.source, decoded)
        except ImageReadError as error:
            item.error = str(error)
        except MemoryError:
            item.error = f"{job.source}: too large to decode in memory"
        except Exception as error:  # a Pillow plugin's own exception on a mangled file must not end the run
            item.error = f"{job.source}: cannot decode ({type(error).__name__}: {error})"
        finally:
            if not granted:
                self.ledger.reserve(ticket, 0)  # pass the turn
        return item

    def _streamed(self, job: Job, alpha: bool) -> bool:
        """Whether a tiled output goes to its PNG band by band (not resized; alpha only at scale 1)."""
        return job.target.suffix.lower() == ".png" and self.outscale is None and not (alpha and self.scale > 1)

    def _batches(self, decoded: Iterator[_Decoded | None]) -> Iterator[list[_Decoded]]:
        """Group consecutive images of the same size; a size change, a full batch or a flush (None)
        ends a batch. An image translated in tiles is a batch of its own (its tiles are batched inside)."""
        pending: list[_Decoded] = []
        for item in decoded:
            if item is not None and item.error is not None:
                self._fail(item, item.error)
                continue
            if pending and (item is None or item.decoded is not None or item.size != pending[0].size
                            or len(pending) == self.batch_size):
                yield pending
                pending = []
            if item is None:
                continue
            pending.append(item)
            if item.decoded is not None:
                yield pending
                pending = []
        if pending:
            yield pending

    # -- translating and writing --------------------------------------------------------------------
    def _translate(self, batch: list[_Decoded], encoder: ThreadPoolExecutor) -> None:
        height, width = batch[0].size
        try:
            if batch[0].decoded is not None:
                outputs = self._tiled(batch[0])
                if outputs is None:  # streamed into its file
                    return
            else:
                outputs = run_whole(self.backend, [item.rgb for item in batch])
        except TooLarge as error:
            for item in batch:
                self._fail(item, f"{item.job.source}: {error}")
            return
        except MemoryError:
            for item in batch:
                self._fail(item, f"{item.job.source}: {_NO_ROOM}")
            return
        for item, output in zip(batch, outputs, strict=True):
            item.rgb = None  # the write needs only the output
            output, alpha = fit_output(output, item.alpha, height, width, self.scale, self.outscale)
            write = encoder.submit(self._write, item.job, item.cost, item.info, output, alpha)
            self._writes.append((item.job, write))

    def _tiled(self, item: _Decoded) -> list[np.ndarray] | None:
        """Translate a decoded image in tiles: streamed into its PNG (None), or the integer output."""
        dtype = np.uint16 if output_bits(item.info) == 16 else np.uint8
        if self._streamed(item.job, item.info.has_alpha):
            self._stream(item, dtype)
            return None
        output = run_tiled(self.backend, item.decoded, self.tile, dtype)
        if item.info.has_alpha:  # taken band by band: converting the whole image would copy it
            height, width = item.size
            item.alpha = np.concatenate([unit_float(decoded_block(item.decoded, np.arange(top, min(top + 1024, height)),
                                                                  np.arange(width))[:, :, -1])
                                         for top in range(0, height, 1024)])
        item.decoded.close()
        item.decoded = None
        return [output]

    def _stream(self, item: _Decoded, dtype: type) -> None:
        """Tiles → rows → the PNG, in this thread; the output is never whole in memory."""
        options, preprocess = _output_options(item.info, self.scale), self.backend.preprocess
        rows = tiled_rows(self.backend.run, item.decoded, self.tile, scale=self.scale,
                          multiple_of=preprocess.multiple_of, min_size=preprocess.min_size, batch_size=1,
                          dtype=dtype)
        try:
            write_tiled_png(item.job.target, rows, item.decoded, scale=self.scale, alpha=item.info.has_alpha,
                            **options)
            self.report.written.append(item.job.target)
            if self.on_progress is not None:
                self.on_progress(1)
        except OSError as error:
            self.report.failed.append((item.job.source, f"{item.job.target}: cannot write ({error})"))
        except MemoryError:
            self.report.failed.append((item.job.source, f"{item.job.source}: {_NO_ROOM}"))
        finally:
            item.decoded.close()
            self._done(item.job, item.cost)

    def _write(self, job: Job, cost: int, info: ImageInfo | None, output: np.ndarray,
               alpha: np.ndarray | None) -> None:
        try:
            write_image(job.target, output, alpha=alpha, **_output_options(info, self.scale))
        finally:
            self._done(job, cost)

    def _finish_write(self, job: Job, future: Future) -> None:
        try:
            future.result()
        except OSError as error:  # counted with the other failures at the end
            self.report.failed.append((job.source, f"{job.target}: cannot write ({error})"))
            return
        self.report.written.append(job.target)
        if self.on_progress is not None:
            self.on_progress(1)
