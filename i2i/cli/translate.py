"""`i2i translate MODEL INPUT... --out DIR`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from i2i.cli import app


@app.command()
def translate(
    model: str = typer.Argument(..., help="Run directory, .safetensors checkpoint or exported .onnx file."),
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive) or glob patterns."),
    out: Path = typer.Option(..., help="Output folder; the input tree and file names are kept."),
    to: str | None = typer.Option(None, help="Target domain (default: the model's first direction)."),
    backend: str = typer.Option("auto", help="torch, onnx, or auto (onnx for .onnx files)."),
    batch_size: int = typer.Option(4, min=1, help="Images per forward pass (images of equal size are batched)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    device: str = typer.Option("auto", help="auto, cpu or cuda (torch backend)."),
    workers: int = typer.Option(2, min=1, help="Threads decoding and encoding images."),
    tile: int | None = typer.Option(None, min=8, help="Translate images larger than this (input pixels) in "
                                                      "tiles: bounded memory for any size."),
    tile_pad: int = typer.Option(16, min=0, help="Context pixels around each tile (≥ the network's receptive "
                                                 "radius makes tiling exact for networks without InstanceNorm)."),
    tile_feather: int = typer.Option(16, min=0, help="Width of the linear cross-fade between tiles (≤ 2 × pad)."),
    style: Path | None = typer.Option(None, help="MUNIT: translate in the style of this image of the target domain."),
    num_styles: int | None = typer.Option(None, min=1, help="MUNIT: K random styles per input, written as "
                                                            "NAME_style0 … NAME_style{K-1} (style k is the same "
                                                            "for every input). Default 1 (the plain name)."),
    seed: int = typer.Option(0, help="MUNIT: seed of the random styles (same seed, same styles, either backend)."),
    class_images: Path | None = typer.Option(None, help="FUNIT: folder of K images of the target class (K = "
                                                        "the files in it; their class codes are averaged)."),
) -> None:
    """Translate images. Exit status 0: all written; 1: some inputs failed (each named); 2: usage error."""
    from i2i.errors import I2IError
    from i2i.tiling import TileSpec
    from i2i.translate import collect_jobs, conditioned_variants, load_backend, translate_files, uses_image_statistics

    try:
        spec = TileSpec(tile, tile_pad, tile_feather) if tile is not None else None
    except ValueError as error:
        raise I2IError(f"--tile: {error}") from None
    jobs = collect_jobs(inputs, out)
    runner = load_backend(model, backend, to, device)
    variants = conditioned_variants(runner, jobs, style, num_styles, seed, class_images)
    if not overwrite:  # all variants checked before the first file is written
        existing = [job.target for _, variant_jobs in variants for job in variant_jobs if job.target.exists()]
        if existing:
            raise I2IError(f"{existing[0]} already exists ({len(existing)} outputs would be overwritten); "
                           f"pass --overwrite or choose another --out")
    total = sum(len(variant_jobs) for _, variant_jobs in variants)
    if spec is not None and uses_image_statistics(runner):
        typer.echo("warning: this model normalises with per-image statistics (InstanceNorm), so tiles are "
                   "normalised separately: tiled outputs differ slightly from whole-image ones "
                   "(the cross-fade hides the seams)", err=True)
    console = Console(stderr=True)
    progress = Progress(TextColumn(f"[bold]{runner.direction}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, disable=not console.is_terminal)
    with progress:
        task = progress.add_task("translate", total=total, speed="")

        def advance(count: int) -> None:
            progress.advance(task, count)
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, speed=f"{progress.tasks[0].completed / elapsed:.1f} img/s")

        written, failed = 0, []
        for variant, variant_jobs in variants:
            report = translate_files(variant, variant_jobs, batch_size=batch_size, overwrite=True, workers=workers,
                                     tile=spec, on_progress=advance)
            written += len(report.written)
            failed += [reason for _, reason in report.failed if reason not in failed]
    for reason in failed:
        typer.echo(f"error: {reason}", err=True)
    typer.echo(f"translated {written} of {total} images with {runner.description} → {out}")
    if failed:
        raise typer.Exit(1)
