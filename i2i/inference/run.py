"""A whole translation run, as `i2i translate` does it: plan it (inputs → jobs, this rank's shard, the
backend, the MUNIT/FUNIT variants and their checked outputs), then run it variant by variant.

Never imports torch at module level: translating an .onnx file works where torch cannot be imported
(the torch backend imports it when it is chosen).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from i2i.errors import I2IError
from i2i.inference.backend import Backend, load_backend, uses_image_statistics
from i2i.inference.jobs import Job, check_output_flags, collect_jobs, prepare_outputs
from i2i.inference.pipeline import translate_files
from i2i.inference.shard import Shard
from i2i.inference.tiling import TileSpec
from i2i.inference.variants import conditioned_variants
from i2i.inference.video_io import VideoOptions, check_video_options


@dataclass
class Variant:
    """One output variant: the backend bound to its code (or the plain one), the jobs to translate and
    the jobs skipped because their output exists (--skip-existing)."""

    backend: Backend
    todo: list[Job]
    skipped: list[Job]


@dataclass
class TranslationResult:
    written: int
    failed: list[str]   # one reason per failed input (each named once)
    seconds: float
    skipped: int = 0    # outputs that appeared, or another translate process claimed, during the run
    clips: list[Any] = field(default_factory=list)  # inference.video.ClipResult of each clip written

    @property
    def frames(self) -> int:
        """Video frames translated."""
        return sum(clip.frames for clip in self.clips if clip.error is None)


@dataclass
class TranslationPlan:
    """Everything checked and loaded, nothing written yet: `run` translates it."""

    backend: Backend
    shard: Shard
    variants: list[Variant]
    batch_size: int = 4
    workers: int = 2
    tile: TileSpec | None = None
    outscale: float | None = None       # resize outputs to this × the input (Lanczos), e.g. 3.5 from a ×4 model
    skip_existing: bool = False         # outputs that appear during the run (another process) are skipped too
    max_megapixels: float | None = None  # refuse larger images (else: those that would not fit in memory)
    video: VideoOptions = field(default_factory=VideoOptions)
    clip_frames: dict[Path, int] = field(default_factory=dict)  # header frame counts, for progress

    @property
    def total(self) -> int:
        """Images and clips to translate, over all variants."""
        return sum(len(variant.todo) for variant in self.variants)

    @property
    def work(self) -> int:
        """Progress units: one per image, one per video frame."""
        return sum(self.clip_frames.get(job.source, 1) if job.video else 1
                   for variant in self.variants for job in variant.todo)

    @property
    def skipped(self) -> int:
        """Images skipped as existing, over all variants."""
        return sum(len(variant.skipped) for variant in self.variants)

    @property
    def tiles_normalised_separately(self) -> bool:
        """Tiling a model that normalises with per-image statistics (InstanceNorm): each tile gets its own,
        so tiled outputs differ slightly from whole-image ones."""
        return self.tile is not None and uses_image_statistics(self.backend)

    def run(self, on_progress: Callable[[int], None] | None = None,
            on_clip: Callable[[Any], None] | None = None) -> TranslationResult:
        """Translate every variant's jobs; `on_progress(count)` as images or video frames are written
        or fail, `on_clip(ClipResult)` as each clip is finished."""
        started = time.perf_counter()
        result = TranslationResult(0, [], 0.0)
        for variant in self.variants:
            images = [job for job in variant.todo if not job.video]
            # Already checked by plan_translation: overwrite (or skip) so the library does not check again.
            report = translate_files(variant.backend, images, batch_size=self.batch_size,
                                     overwrite=not self.skip_existing, skip_existing=self.skip_existing,
                                     workers=self.workers, tile=self.tile, outscale=self.outscale,
                                     max_megapixels=self.max_megapixels, on_progress=on_progress)
            result.written += len(report.written)
            result.skipped += len(report.skipped)
            result.failed += [reason for _, reason in report.failed if reason not in result.failed]
            for job in (job for job in variant.todo if job.video):
                clip = self._run_clip(variant.backend, job, on_progress, result)
                if clip is None:
                    continue  # skipped: another translate has it, or it appeared meanwhile
                result.clips.append(clip)
                if clip.error is None:
                    result.written += 1
                else:
                    result.failed.append(clip.error)
                if on_clip is not None:
                    on_clip(clip)
        result.seconds = time.perf_counter() - started
        return result

    def _run_clip(self, backend: Backend, job: Job, on_progress: Callable[[int], None] | None,
                  result: TranslationResult) -> Any:
        """The clip's ClipResult, or None when it is skipped: it is claimed like every output
        (`claims.py`), so two translate processes never write one clip."""
        from i2i.inference import claims
        from i2i.inference.video import ClipResult, translate_clip  # threads and FFmpeg: only for clips

        expected = self.clip_frames.get(job.source, 0)
        try:
            claim = claims.take(job.target)
        except OSError as error:
            return ClipResult(job, error=f"{job.target}: cannot write ({error})")
        if isinstance(claim, str) or (self.skip_existing and job.target.exists()):
            if not isinstance(claim, str):
                claim.release()
            if self.skip_existing:
                result.skipped += 1
                if on_progress is not None:
                    on_progress(expected)
                return None
            return ClipResult(job, error=claims.busy(job.target, claim))
        try:
            clip = translate_clip(backend, job, self.video, batch_size=self.batch_size, tile=self.tile,
                                  outscale=self.outscale, on_progress=on_progress)
        finally:
            claim.release()
        if on_progress is not None and expected > clip.frames:
            on_progress(expected - clip.frames)  # the header's count was high, or the clip failed
        return clip


def plan_translation(model: str | Path, inputs: Iterable[str], out: str | Path, *, to: str | None = None,
                     backend: str = "auto", device: str = "auto", precision: str = "auto",
                     overwrite: bool = False, skip_existing: bool = False,
                     batch_size: int = 4, workers: int = 2,
                     tile: int | None = None, tile_pad: int = 16, tile_feather: int = 16,
                     style: str | Path | None = None, num_styles: int | None = None, seed: int = 0,
                     class_images: str | Path | None = None, outscale: float | None = None,
                     video: VideoOptions | None = None, max_megapixels: float | None = None) -> TranslationPlan:
    """Check the flags, collect this rank's jobs (RANK, WORLD_SIZE under torchrun; a clip is one job),
    load the backend and bind its MUNIT/FUNIT codes (one code for a whole clip); raises I2IError on a
    usage error, before anything is written."""
    check_output_flags(overwrite, skip_existing)
    video = video or VideoOptions()
    if outscale is not None and not outscale > 0:
        raise I2IError(f"--outscale must be positive, got {outscale}")
    if max_megapixels is not None and not max_megapixels > 0:
        raise I2IError(f"--max-megapixels must be positive, got {max_megapixels}")
    try:
        spec = TileSpec(tile, tile_pad, tile_feather) if tile is not None else None
    except ValueError as error:
        raise I2IError(f"--tile: {error}") from None
    shard = Shard.from_environment()
    jobs = shard.take(collect_jobs(inputs, out))
    if video.temporal_smoothing is not None and not any(job.video for job in jobs):
        raise I2IError("--temporal-smoothing blends consecutive frames of a video: give a video input "
                       "(for a folder of frames, translate the video itself)")
    if any(job.video for job in jobs):
        check_video_options(video)
        if video.frames:
            for job in jobs:
                job.target = job.target.with_suffix("") if job.video else job.target
    runner = load_backend(model, backend, to, device, precision, shard.local_rank,
                          norm_smoothing=video.norm_smoothing)
    # Every variant's outputs are checked (and, with --skip-existing, filtered) before the first is written.
    variants = [Variant(variant, *prepare_outputs(variant_jobs, overwrite=overwrite,
                                                  skip_existing=skip_existing))
                for variant, variant_jobs in conditioned_variants(runner, jobs, style, num_styles, seed,
                                                                  class_images)]
    clip_frames = _clip_frames(jobs) if any(job.video for job in jobs) else {}
    return TranslationPlan(runner, shard, variants, batch_size=batch_size, workers=workers, tile=spec,
                           outscale=outscale, video=video, clip_frames=clip_frames, skip_existing=skip_existing,
                           max_megapixels=max_megapixels)


def _clip_frames(jobs: list[Job]) -> dict[Path, int]:
    from i2i.inference.video import clip_frames

    return {job.source: clip_frames(job) for job in jobs if job.video}
