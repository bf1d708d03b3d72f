"""`i2i eval MODEL --data DIR`: held-out metrics beside the copy-the-input baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from i2i.cli import app
from i2i.errors import I2IError


@app.command("eval")
def evaluate(
    model: str = typer.Argument(..., help="Run directory, .safetensors checkpoint or .onnx file."),
    data: Path = typer.Option(..., help="Data folder: paired data (pix2pix layouts), or domain folders whose "
                                         "test split holds the same file names in both domains (stripes demo)."),
    split: str = typer.Option("test", help="Which split to score: test, val or train."),
    to: str | None = typer.Option(None, help="Target domain (default: the model's first direction)."),
    backend: str = typer.Option("auto", help="torch, onnx, or auto."),
    samples: Path | None = typer.Option(None, help="Write an input | output | target PNG of the first pairs here."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the scores as JSON."),
    limit: int | None = typer.Option(None, min=1, help="Score only the first N pairs."),
    y_channel: bool = typer.Option(True, "--y-channel/--rgb", help="Super-resolution: score the BT.601 luma "
                                                                  "(the SR papers' convention) or RGB."),
    crop_border: int | None = typer.Option(None, min=0, help="Super-resolution: pixels cropped from each side "
                                                             "before scoring (default: the scale)."),
) -> None:
    """Score a model on held-out data: L1 and PSNR (RGB in [0, 1]) against the ground truth beside the
    copy-the-input baseline; for super-resolution, PSNR and SSIM beside bicubic upscaling."""
    from i2i.evaluate import evaluate_pairs
    from i2i.translate import load_backend

    runner = load_backend(model, backend, to)
    if runner.preprocess.scale > 1:
        _evaluate_superres(runner, model, data, split, limit, y_channel, crop_border, samples, json_path)
        return
    pairs = _held_out_pairs(runner.header, runner.direction, data, split, limit)
    scores = evaluate_pairs(runner, pairs, samples_path=samples)

    table = Table(title=f"{runner.direction} on {data}/{split} ({scores.count} pairs)")
    for column in ("", "L1 ↓", "PSNR dB ↑"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("model", f"{scores.model['l1']:.4f}", f"{scores.model['psnr']:.2f}")
    table.add_row("copy input (baseline)", f"{scores.baseline['l1']:.4f}", f"{scores.baseline['psnr']:.2f}")
    Console().print(table)
    if samples is not None:
        typer.echo(f"input | output | target → {samples}")
    if json_path is not None:
        result = {"model": model, "direction": runner.direction, "data": str(data), "split": split,
                  "count": scores.count, "convention": "RGB in [0, 1], per-image mean; PSNR data range 1",
                  "scores": scores.model, "baseline_copy_input": scores.baseline,
                  "per_image": [{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                 for k, v in row.items()} for row in scores.per_image]}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))


def _evaluate_superres(runner, model: str, data: Path, split: str, limit: int | None, y_channel: bool,
                       crop_border: int | None, samples: Path | None, json_path: Path | None) -> None:
    from i2i.data.superres import held_out_sr_pairs
    from i2i.evaluate import evaluate_superres

    scale = runner.preprocess.scale
    pairs = held_out_sr_pairs(data, split, scale, limit)
    try:
        scores = evaluate_superres(runner, pairs, scale, y_channel=y_channel, crop_border=crop_border,
                                   samples_path=samples)
    except ValueError as error:  # e.g. an image too small for the border crop
        raise I2IError(str(error)) from None
    table = Table(title=f"×{scale} super-resolution on {data} ({scores.count} images)")
    for column in ("", "PSNR dB ↑", "SSIM ↑", "RGB PSNR dB ↑", "RGB SSIM ↑"):
        table.add_column(column, justify="right" if column else "left")
    for label, values in (("model", scores.model), ("bicubic (baseline)", scores.baseline)):
        table.add_row(label, f"{values['main_psnr']:.2f}", f"{values['main_ssim']:.4f}",
                      f"{values['rgb_psnr']:.2f}", f"{values['rgb_ssim']:.4f}")
    Console().print(table)
    typer.echo(f"convention: {scores.convention['main']} (RGB columns: {scores.convention['rgb']}); "
               f"LR = Pillow BICUBIC ÷{scale} of the 8-bit HR (modcropped); outputs rounded to 8 bits")
    if samples is not None:
        typer.echo(f"bicubic | model | HR (centre crops) → {samples}")
    if json_path is not None:
        result = {"model": model, "direction": runner.direction, "data": str(data), "split": split,
                  "scale": scale, "count": scores.count, "convention": scores.convention,
                  "degradation": f"Pillow BICUBIC ÷{scale} of the 8-bit HR (modcropped), rounded to 8 bits",
                  "scores": scores.model, "baseline_bicubic": scores.baseline, "per_image": scores.per_image}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))


def _held_out_pairs(header: dict, direction: str, data: Path, split: str,
                    limit: int | None) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(input, ground truth, name) for the model's direction: pix2pix pairs, or the same file name in
    the two domain folders of an unpaired data set's held-out split."""
    from i2i.data.paired import find_pairs, read_pair
    from i2i.data.unpaired import matched_test_pairs
    from i2i.images import ImageReadError, read_image

    source, target = direction.split("->")
    if header.get("method") == "pix2pix" or {source, target} == {"A", "B"} and _is_paired(data, split):
        if {source, target} != {"A", "B"}:
            raise I2IError(f"paired data has domains A and B; this model translates {direction}")
        _, files = find_pairs(data, split)
        pairs = []
        for a_path, b_path in files[:limit]:
            image_a, image_b = read_pair(a_path, b_path)
            pairs.append((image_a, image_b, a_path.stem) if source == "A" else (image_b, image_a, a_path.stem))
        return pairs
    domains = header.get("domains") or [source, target]
    pairs = []
    try:
        for source_path, target_path in matched_test_pairs(data, domains, source, target, split)[:limit]:
            pairs.append((read_image(source_path)[0], read_image(target_path)[0], source_path.stem))
    except ImageReadError as error:
        raise I2IError(str(error)) from None
    return pairs


def _is_paired(data: Path, split: str) -> bool:
    from i2i.data.paired import find_pairs

    try:
        find_pairs(data, split)
    except I2IError:
        return False
    return True
