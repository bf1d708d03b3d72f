"""One clip → one translated clip, streamed: decode → batch → infer → encode in three threads.

The decoder thread reads frames (and the audio/subtitle packets) ahead into a bounded queue, the
model runs in the caller's thread, the encoder thread muxes. At most `lookahead(batch_size)` frames
wait on each side, so an hour of 4K costs the memory of a minute. The clip is written to a
temporary file beside its target and renamed when complete: a kill leaves no partial output, and
`--skip-existing` finishes the clips that are missing. A bad clip is one `ClipResult.error`.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.images import quantise, write_image
from i2i.inference.backend import Backend
from i2i.inference.jobs import Job
from i2i.inference.pipeline import TooLarge, fit_output, lookahead, run_tiled, run_whole
from i2i.inference.temporal import Flicker, FlickerMeter, TemporalSmoother
from i2i.inference.tiling import TileSpec
from i2i.inference.video_io import ClipWriter, Frame, VideoOptions, probe, read_clip, writer_muxer

_END = object()


@dataclass
class ClipResult:
    job: Job
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    flicker: Flicker | None = None


def clip_frames(job: Job) -> int:
    """The frame count the header announces (for the progress bar), 0 if the clip cannot be probed."""
    try:
        return probe(job.source).frames
    except I2IError:
        return 0


def translate_clip(backend: Backend, job: Job, options: VideoOptions, *, batch_size: int = 4,
                   tile: TileSpec | None = None, outscale: float | None = None,
                   on_progress: Callable[[int], None] | None = None) -> ClipResult:
    """Translate every frame of `job.source` into `job.target` (a video, or a folder of PNG frames
    with `options.frames`). Never raises for a bad clip: the reason is in `ClipResult.error`."""
    started = time.perf_counter()
    result = ClipResult(job)
    try:
        info = probe(job.source)
        if backend.reset_state is not None:
            backend.reset_state()  # normalisation smoothing starts afresh with each clip
        smoother = TemporalSmoother(options.temporal_smoothing) if options.temporal_smoothing else None
        stream = _Stream(backend, info.bits, batch_size, tile, outscale, on_progress, smoother)
        if options.frames:
            for stale in stale_frame_folders(job.target):  # a killed run's (the caller holds the claim)
                shutil.rmtree(stale, ignore_errors=True)
            _atomic_folder(job.target, lambda folder: stream.run(job.source, _FrameFolder(folder, info.bits)))
        else:
            def write(temporary: Path) -> None:
                stream.run(job.source, lambda container, size: ClipWriter(
                    temporary, writer_muxer(job.target), container, size, options, info.bits))
            atomic_write(job.target, write, suffix=job.target.suffix)
        result.frames, result.notes, result.flicker = stream.frames, stream.notes, stream.meter.result()
    except TooLarge as error:
        result.error = f"{job.source}: frames of {error}"
    except I2IError as error:
        result.error = str(error)
    except OSError as error:
        result.error = f"{job.target}: cannot write ({error})"
    except Exception as error:  # an FFmpeg failure on one clip must not end the whole run
        result.error = f"{job.source}: cannot translate ({type(error).__name__}: {error})"
    result.seconds = time.perf_counter() - started
    return result


class _Stream:
    """The three-thread pipeline of one clip."""

    def __init__(self, backend: Backend, bits: int, batch_size: int, tile: TileSpec | None,
                 outscale: float | None, on_progress: Callable[[int], None] | None,
                 smoother: TemporalSmoother | None = None) -> None:
        self.backend, self.bits, self.batch_size, self.smoother = backend, bits, batch_size, smoother
        self.dtype = np.uint16 if bits > 8 else np.uint8  # what the encoder takes: 16-bit for 10-bit sources
        self.tile, self.outscale, self.on_progress = tile, outscale, on_progress
        preprocess = backend.preprocess
        self.window = tile.window(preprocess.multiple_of, preprocess.min_size) if tile is not None else 0
        self.depth = lookahead(batch_size)
        self.stop = threading.Event()
        self.frames = 0
        self.notes: list[str] = []
        self.meter = FlickerMeter()

    def run(self, source: Path, open_writer: Callable[[Any, tuple[int, int]], Any]) -> None:
        container, events = read_clip(source, self.bits)
        decoded: queue.Queue = queue.Queue(self.depth)
        encoded: queue.Queue = queue.Queue(self.depth)
        failures: list[BaseException] = []
        with container:
            reader = threading.Thread(target=self._produce, args=(events, decoded, failures), daemon=True)
            reader.start()
            writer: list[Any] = []
            encoder = threading.Thread(target=self._consume, args=(encoded, writer, container, open_writer,
                                                                     failures), daemon=True)
            encoder.start()
            try:
                self._infer(decoded, encoded, failures)
            finally:
                self._put(encoded, _END)
                encoder.join()
                self.stop.set()
                reader.join()
        if failures:
            raise failures[0]
        if writer and hasattr(writer[0], "notes"):
            self.notes += writer[0].notes

    def _put(self, target: queue.Queue, item: Any) -> None:
        """Put unless the pipeline is stopping (a failed side must not leave the other blocked)."""
        while not self.stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _produce(self, events: Iterator[Any], decoded: queue.Queue, failures: list[BaseException]) -> None:
        try:
            for event in events:
                if self.stop.is_set():
                    return
                self._put(decoded, event)
        except BaseException as error:  # handed to the caller's thread, raised there
            failures.append(error)
        self._put(decoded, _END)

    def _infer(self, decoded: queue.Queue, encoded: queue.Queue, failures: list[BaseException]) -> None:
        pending: list[Frame] = []
        while not failures:
            try:
                event = decoded.get(timeout=0.1)
            except queue.Empty:
                continue  # a failed encoder stops the reader without an end marker: `failures` says so
            if event is _END:
                break
            if not isinstance(event, Frame):
                self._put(encoded, event)  # an audio or subtitle packet, muxed as it is
                continue
            if pending and (event.rgb.shape != pending[0].rgb.shape or len(pending) == self.batch_size
                            or self._tiled(event)):
                self._translate(pending, encoded)
                pending = []
            pending.append(event)
        if pending and not failures:
            self._translate(pending, encoded)

    def _tiled(self, frame: Frame) -> bool:
        return self.tile is not None and max(frame.rgb.shape[:2]) > self.window

    def _translate(self, frames: list[Frame], encoded: queue.Queue) -> None:
        height, width = frames[0].rgb.shape[:2]
        scale = self.backend.preprocess.scale
        if self._tiled(frames[0]):
            outputs = [run_tiled(self.backend, _as_float(frame.rgb), self.tile, self.dtype) for frame in frames]
        else:
            outputs = run_whole(self.backend, [_as_float(frame.rgb) for frame in frames])
        for frame, output in zip(frames, outputs, strict=True):
            output, _ = fit_output(output, None, height, width, scale, self.outscale)
            if self.smoother is None:  # quantised here, else after smoothing (in the encoder thread)
                output = self._quantised(output)
            self._put(encoded, (frame, output))

    def _quantised(self, output: np.ndarray) -> np.ndarray:
        return output if output.dtype == self.dtype else quantise(output, 16 if self.dtype == np.uint16 else 8)

    def _consume(self, encoded: queue.Queue, writer: list[Any], container: Any,
                 open_writer: Callable[[Any, tuple[int, int]], Any], failures: list[BaseException]) -> None:
        held: list[Any] = []  # packets that arrive before the first frame fixes the output size
        try:
            while (item := encoded.get()) is not _END:
                if failures:
                    continue
                if not isinstance(item, tuple):
                    writer[0].pass_packet(item) if writer else held.append(item)
                    continue
                frame, output = item
                if self.smoother is not None:
                    output = self._quantised(self.smoother(frame.rgb, output))
                if not writer:
                    writer.append(open_writer(container, output.shape[:2]))
                    for packet in held:
                        writer[0].pass_packet(packet)
                writer[0].write(output, frame.pts)
                self.meter.add(frame.rgb, output)
                self.frames += 1
                if self.on_progress is not None:
                    self.on_progress(1)
            if writer and not failures:
                writer[0].close()
        except BaseException as error:
            failures.append(error)
            self.stop.set()


def _as_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / (65535.0 if rgb.dtype == np.uint16 else 255.0)


class _FrameFolder:
    """`--frames`: numbered PNGs (16-bit for high-bit-depth sources) in place of a video."""

    def __init__(self, folder: Path, bits: int) -> None:
        self.folder, self.bits, self.count = folder, bits, 0

    def __call__(self, container: Any, size: tuple[int, int]) -> _FrameFolder:
        return self

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        self.count += 1
        write_image(self.folder / f"{self.count:06d}.png", rgb, bits=16 if rgb.dtype == np.uint16 else 8)

    def pass_packet(self, packet: Any) -> None:
        pass  # frames carry no sound

    def close(self) -> None:
        pass


def _atomic_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary folder beside `target`, then rename it to `target` (replacing an existing one,
    which was checked by the caller's --overwrite): a kill leaves no partial frame folder under its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".i2i-tmp", dir=target.parent))
    try:
        fill(folder)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".i2i-tmp", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(folder, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(folder, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def stale_frame_folders(target: Path) -> list[Path]:
    """Temporary frame folders a killed `--frames` run left for `target` (an old frame folder being
    replaced under --overwrite is one too, its contents moved into it)."""
    if not target.parent.is_dir():
        return []
    return [entry for entry in target.parent.glob(f".{target.name}.*.i2i-tmp") if entry.is_dir()]

