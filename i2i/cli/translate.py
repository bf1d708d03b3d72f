"""`i2i translate MODEL INPUT... --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from i2i.cli import app

if TYPE_CHECKING:  # the library is imported inside the command: `i2i --help` stays light
    from i2i.inference.run import TranslationPlan, TranslationResult
    from i2i.inference.video import ClipResult


# Longer option texts, kept here so the command reads as its list of options.
HELP = {
    "skip_existing": "Keep existing outputs and translate only the missing ones: resumes an interrupted run "
                     "(outputs are written atomically, so an existing one is complete).",
    "device": "auto, cpu, cuda or cuda:N (under torchrun, cuda is the rank's LOCAL_RANK GPU). With "
              "--backend onnx: cpu, or cuda for the CUDA/TensorRT execution provider; auto takes the best "
              "one installed.",
    "precision": "torch backend: fp32, fp16 or bf16 (autocast); auto is fp16 on CUDA and fp32 on the CPU, "
                 "where fp16 is refused. Outputs are float32 either way.",
    "max_megapixels": "Refuse images over N megapixels (default: those that would not fit in the memory this "
                      "machine can spare).",
    "video_codec": "Videos: the encoder (default libx264, libvpx-vp9 for .webm; libx265, libsvtav1, ffv1 … as "
                   "FFmpeg names them).",
    "crf": "Videos: constant-quality factor (default 17, visually lossless for x264; 20 for VP9; lower "
           "is better and larger).",
    "pix_fmt": "Videos: pixel format (default yuv420p; yuv420p10le for 10-bit sources with x264).",
    "frames": "Videos: write numbered PNG frames (OUT/NAME/000001.png …) instead of a video.",
    "temporal_smoothing": "Videos: blend each output frame with the last one warped by the input's optical flow (0…1, "
                          "e.g. 0.7) against flicker.",
    "norm_smoothing": "Videos: average InstanceNorm/AdaIN statistics over frames (0…1, e.g. 0.9); torch backend.",
    "num_styles": "MUNIT: K random styles per input, written as NAME_style0 … NAME_style{K-1} (style k is the "
                  "same for every input). Default 1 (the plain name).",
}


@app.command()
def translate(
    model: str = typer.Argument(..., help="Run directory, .safetensors checkpoint or exported .onnx file."),
    inputs: list[str] = typer.Argument(..., help="Image and video files, folders (recursive) or glob patterns."),
    out: Path = typer.Option(..., help="Output folder; the input tree and file names are kept."),
    to: str | None = typer.Option(None, help="Target domain (default: the model's first direction)."),
    backend: str = typer.Option("auto", help="torch, onnx, or auto (onnx for .onnx files)."),
    batch_size: int = typer.Option(4, min=1, help="Images per forward pass (images of equal size are batched)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help=HELP["skip_existing"]),
    device: str = typer.Option("auto", help=HELP["device"]),
    precision: str = typer.Option("auto", help=HELP["precision"]),
    workers: int = typer.Option(2, min=1, help="Threads decoding and encoding images."),
    tile: int | None = typer.Option(None, min=8, help="Translate images larger than this (input pixels) in "
                                                      "tiles: bounded memory for any size."),
    tile_pad: int = typer.Option(16, min=0, help="Context pixels around each tile (≥ the network's receptive "
                                                 "radius makes tiling exact for networks without InstanceNorm)."),
    tile_feather: int = typer.Option(16, min=0, help="Width of the linear cross-fade between tiles (≤ 2 × pad)."),
    max_megapixels: float | None = typer.Option(None, help=HELP["max_megapixels"]),
    outscale: float | None = typer.Option(None, help="Resize each output to S × its input with Lanczos, as "
                                          "Real-ESRGAN's flag does (e.g. 3.5 from a ×4 model; alpha and 16 bits kept)."),
    style: Path | None = typer.Option(None, help="MUNIT: translate in the style of this image of the target domain."),
    num_styles: int | None = typer.Option(None, min=1, help=HELP["num_styles"]),
    seed: int = typer.Option(0, help="MUNIT: seed of the random styles (same seed, same styles, either backend)."),
    class_images: Path | None = typer.Option(None, help="FUNIT: folder of K images of the target class (K = "
                                                        "the files in it; their class codes are averaged)."),
    video_codec: str | None = typer.Option(None, help=HELP["video_codec"]),
    crf: int | None = typer.Option(None, help=HELP["crf"]),
    pix_fmt: str | None = typer.Option(None, help=HELP["pix_fmt"]),
    frames: bool = typer.Option(False, "--frames", help=HELP["frames"]),
    temporal_smoothing: float | None = typer.Option(None, help=HELP["temporal_smoothing"]),
    norm_smoothing: float | None = typer.Option(None, help=HELP["norm_smoothing"]),
) -> None:
    """Translate images and videos. Exit status 0: all written (or skipped); 1: some inputs failed (each
    named); 2: usage error. Under `torchrun --nproc-per-node N -m i2i translate …` each rank translates a
    disjoint slice of the inputs (RANK, WORLD_SIZE; a video is one input) and prints its own summary."""
    from i2i.inference.run import plan_translation
    from i2i.inference.video_io import VideoOptions

    video = VideoOptions(video_codec, crf, pix_fmt, frames, temporal_smoothing, norm_smoothing)
    plan = plan_translation(model, inputs, out, to=to, backend=backend, device=device, precision=precision,
                            overwrite=overwrite, skip_existing=skip_existing, batch_size=batch_size,
                            workers=workers, tile=tile, tile_pad=tile_pad, tile_feather=tile_feather,
                            style=style, num_styles=num_styles, seed=seed, class_images=class_images,
                            outscale=outscale, video=video, max_megapixels=max_megapixels)
    if plan.tiles_normalised_separately:
        typer.echo("warning: this model looks beyond a tile's context (per-image statistics such as "
                   "InstanceNorm, or attention windows wider than the tile pad), so tiled outputs differ slightly "
                   "from whole-image ones (the cross-fade hides the seams)", err=True)
    result = _run_with_progress(plan)
    _summarise(plan, result, out)
    if result.failed:
        raise typer.Exit(1)


def _summarise(plan: TranslationPlan, result: TranslationResult, out: Path) -> None:
    """Each failed input named on stderr, then one summary line (under torchrun, per rank)."""
    for reason in result.failed:
        typer.echo(f"error: {reason}", err=True)
    written, seconds = result.written, result.seconds
    clips = f", {result.frames} video frames at {result.frames / max(seconds, 1e-9):.1f} frames/s" \
        if result.clips else f", {written / max(seconds, 1e-9):.1f} images/s"
    typer.echo(f"{plan.shard.label}translated {written} of {plan.total + plan.skipped} "
               f"{'files' if plan.clip_frames else 'images'} ({plan.skipped + result.skipped} skipped as existing, "
               f"{len(result.failed)} failed) in {seconds:.1f} s{clips}, with {plan.backend.description} → {out}")


def _run_with_progress(plan: TranslationPlan) -> TranslationResult:
    """Run the plan under a rich progress bar (images done, images/s, ETA) on stderr: shown on a terminal,
    and under torchrun by rank 0 only."""
    console = Console(stderr=True)
    progress = Progress(TextColumn(f"[bold]{plan.shard.label}{plan.backend.direction}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[speed]}"), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console,
                        disable=not console.is_terminal or plan.shard.rank != 0)  # one bar per terminal
    unit = "frames" if plan.clip_frames else "images"  # with videos the bar counts frames (an image is one)
    with progress:
        task = progress.add_task("translate", total=plan.work, speed="")

        def advance(count: int) -> None:
            progress.advance(task, count)
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, speed=f"{progress.tasks[0].completed / elapsed:.1f} {unit}/s")

        return plan.run(on_progress=advance, on_clip=lambda clip: _report_clip(clip, progress.console))


def _report_clip(clip: ClipResult, console: Console) -> None:
    """One line per finished clip (frames, frames/s, flicker), printed above the progress bar."""
    if clip.error is not None:
        return  # named with the other failures at the end
    line = f"{clip.job.target}: {clip.frames} frames in {clip.seconds:.1f} s ({clip.frames / max(clip.seconds, 1e-9):.1f} frames/s)"
    if clip.flicker is not None:
        line += f"; {clip.flicker.describe()}"
    for note in clip.notes:
        line += f"; {note}"
    console.print(line, markup=False, highlight=False, soft_wrap=True)
