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
    data: Path = typer.Option(..., help="Data folder: paired data (pix2pix layouts); HR images (super-resolution); "
                                         "or domain folders — the same file names in both domains' test split "
                                         "give ground truth (stripes demo), otherwise distribution metrics."),
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
    metrics: str = typer.Option("auto", help="Comma-separated: l1, psnr, ssim, lpips (paired and SR); fid, kid, is, "
                                             "1nn (unpaired). auto = every applicable one whose network weights "
                                             "are found (the others are listed as not computed)."),
    feature_weights: Path | None = typer.Option(None, help="Weights of the feature network (LPIPS: torchvision's "
                                                           "AlexNet file; FID/KID/IS/1-NN: the FID Inception file)."),
    seed: int = typer.Option(0, help="MUNIT: seed of the random style drawn for each input."),
    max_megapixels: float | None = typer.Option(None, help="Refuse images over N megapixels (default: those whose "
                                                "decode would not fit in the memory this machine can spare)."),
) -> None:
    """Score a model on held-out data. Paired (ground truth known): L1, PSNR, SSIM, LPIPS beside the
    copy-the-input baseline; super-resolution: PSNR/SSIM (Y, border cropped) and LPIPS beside bicubic;
    unpaired: FID, KID, IS and 1-NN accuracy beside untranslated inputs and a real-vs-real split."""
    from i2i.images import limit_reads
    from i2i.inference.backend import load_backend
    from i2i.inference.codes import CodeKind

    limit_reads(max_megapixels)  # every held-out image is read through it
    runner = load_backend(model, backend, to)
    wanted = _parse_metrics(metrics)
    kind = runner.conditioning.get("kind")
    if kind == CodeKind.CLASS:
        raise I2IError("a FUNIT model translates into classes shown by example images; measure few-shot "
                       "translation with `python benchmarks/funit_fewshot.py RUN --data DIR` (docs/funit.md)")
    if kind == CodeKind.STYLE:
        # One right answer per input does not exist for a multimodal model: each input gets its own random
        # style and the outputs are scored as a distribution (FID/KID/IS/1-NN), never against one target.
        runner = runner.with_random_codes(seed)
        if wanted is not None and wanted - DISTRIBUTION_METRICS:
            raise I2IError(f"--metrics {metrics}: a MUNIT model is scored as a distribution (fid, kid, is, 1nn); "
                           f"its outputs have no single ground truth")
        _evaluate_distribution(runner, model, data, split, limit, wanted, feature_weights, json_path)
        return
    if runner.preprocess.scale > 1:
        extra, skipped = _lpips_metric(wanted, feature_weights)
        _evaluate_superres(runner, model, data, split, limit, y_channel, crop_border, samples, json_path,
                           extra, skipped)
        return
    _evaluate_unimodal(runner, model, data, split, limit, wanted, metrics, feature_weights, samples, json_path)


COLUMNS = {"l1": "L1 ↓", "psnr": "PSNR dB ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓"}
KNOWN_METRICS = ("l1", "psnr", "ssim", "lpips", "fid", "kid", "is", "1nn")


def _parse_metrics(metrics: str) -> set[str] | None:
    """None for auto, else the named set (unknown names are an error)."""
    if metrics.strip() == "auto":
        return None
    names = {name.strip().lower() for name in metrics.split(",") if name.strip()}
    unknown = sorted(names - set(KNOWN_METRICS))
    if unknown or not names:
        given = ", ".join(unknown) if unknown else repr(metrics)
        raise I2IError(f"unknown --metrics {given}; choose from {', '.join(KNOWN_METRICS)} or auto")
    return names


def _lpips_metric(wanted: set[str] | None, weights: Path | None) -> tuple[dict, dict[str, str]]:
    """({"lpips": per-pair metric} or {}, {metric: why it was not computed}). Asked for by name, a
    missing weights file is an error; under auto it is reported as not computed, never replaced."""
    if wanted is not None and "lpips" not in wanted:
        return {}, {}
    from i2i.metrics.lpips import LPIPSMetric

    try:
        metric = LPIPSMetric(weights=weights)
    except I2IError as error:
        if wanted is not None:
            raise
        return {}, {"lpips": str(error)}

    def lpips_pair(output: np.ndarray, target: np.ndarray) -> float:
        return float(metric(output, target)[0])

    lpips_pair.protocol = metric.protocol  # type: ignore[attr-defined]
    return {"lpips": lpips_pair}, {}


def _print_skipped(skipped: dict[str, str]) -> None:
    for name, reason in skipped.items():
        typer.echo(f"not computed: {name} — {reason}", err=True)


def _evaluate_unimodal(runner, model: str, data: Path, split: str, limit: int | None, wanted: set[str] | None,
                       metrics: str, weights: Path | None, samples: Path | None, json_path: Path | None) -> None:
    """One output per input (pix2pix, CycleGAN): the paired metrics where the data gives ground truth, the
    distribution metrics where it does not or where they are named (both kinds named: both are run)."""
    distribution = DISTRIBUTION_METRICS
    has_truth = _has_ground_truth(runner.header, runner.direction, data, split)
    distribution_result: dict | None = None
    if (wanted is not None and wanted & distribution) or (wanted is None and not has_truth):
        only = wanted is None or not wanted - distribution
        distribution_result = _evaluate_distribution(runner, model, data, split, limit, wanted, weights,
                                                     json_path if only else None)
        if only:
            return
    _evaluate_paired(runner, model, data, split, limit, wanted, metrics, weights, samples, json_path,
                     distribution_result)


def _write_json(json_path: Path, result: dict) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))


def _evaluate_paired(runner, model: str, data: Path, split: str, limit: int | None, wanted: set[str] | None,
                     metrics: str, weights: Path | None, samples: Path | None, json_path: Path | None,
                     distribution_result: dict | None) -> None:
    """Ground truth known: the per-pair metrics of the model beside the copy-the-input baseline (and, when
    distribution metrics were named too, their result in the same JSON file)."""
    from i2i.metrics.evaluation import PAIRED_METRICS, evaluate_pairs, held_out_pairs

    pairs = held_out_pairs(runner.header, runner.direction, data, split, limit)
    chosen = {k: f for k, f in PAIRED_METRICS.items() if wanted is None or k in wanted}
    extra, skipped = _lpips_metric(wanted, weights)
    chosen.update(extra)
    if not chosen:
        raise I2IError(f"none of --metrics {metrics} applies to paired data (l1, psnr, ssim, lpips)")
    try:
        scores = evaluate_pairs(runner, pairs, samples_path=samples, metrics=chosen)
    except ValueError as error:  # e.g. images too small for SSIM's or LPIPS's window
        raise I2IError(str(error)) from None

    table = Table(title=f"{runner.direction} on {data}/{split} ({scores.count} pairs)")
    table.add_column("")
    for key in scores.model:
        table.add_column(COLUMNS.get(key, key), justify="right")
    for label, values in (("model", scores.model), ("copy input (baseline)", scores.baseline)):
        table.add_row(label, *(f"{values[key]:.{2 if key == 'psnr' else 4}f}" for key in scores.model))
    Console().print(table)
    _print_skipped(skipped)
    if samples is not None:
        typer.echo(f"input | output | target → {samples}")
    if json_path is not None:
        result = {"model": model, "direction": runner.direction, "data": str(data), "split": split,
                  "count": scores.count, "convention": "RGB in [0, 1], per-image mean; PSNR data range 1; SSIM "
                  "Wang et al. 2004 (11×11 Gaussian σ 1.5, valid region, per channel)",
                  "protocol": {k: getattr(f, "protocol", None) for k, f in extra.items()}, "not_computed": skipped,
                  "scores": scores.model, "baseline_copy_input": scores.baseline,
                  "per_image": [{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                 for k, v in row.items()} for row in scores.per_image]}
        if distribution_result is not None:  # both kinds were named: one file holds both
            result["distribution"] = distribution_result
        _write_json(json_path, result)


def _evaluate_superres(runner, model: str, data: Path, split: str, limit: int | None, y_channel: bool,
                       crop_border: int | None, samples: Path | None, json_path: Path | None,
                       extra: dict, skipped: dict[str, str]) -> None:
    from i2i.data.superres import held_out_sr_pairs
    from i2i.metrics.evaluation import evaluate_superres

    scale = runner.preprocess.scale
    pairs = held_out_sr_pairs(data, split, scale, limit)
    try:
        scores = evaluate_superres(runner, pairs, scale, y_channel=y_channel, crop_border=crop_border,
                                   samples_path=samples, extra=extra)
    except ValueError as error:  # e.g. an image too small for the border crop
        raise I2IError(str(error)) from None
    table = Table(title=f"×{scale} super-resolution on {data} ({scores.count} images)")
    for column in ("", "PSNR dB ↑", "SSIM ↑", "RGB PSNR dB ↑", "RGB SSIM ↑", *(COLUMNS[k] for k in extra)):
        table.add_column(column, justify="right" if column else "left")
    for label, values in (("model", scores.model), ("bicubic (baseline)", scores.baseline)):
        table.add_row(label, f"{values['main_psnr']:.2f}", f"{values['main_ssim']:.4f}",
                      f"{values['rgb_psnr']:.2f}", f"{values['rgb_ssim']:.4f}", *(f"{values[k]:.4f}" for k in extra))
    Console().print(table)
    _print_skipped(skipped)
    typer.echo(f"convention: {scores.convention['main']} (RGB columns: {scores.convention['rgb']}); "
               f"LR = Pillow BICUBIC ÷{scale} of the 8-bit HR (modcropped); outputs rounded to 8 bits")
    if samples is not None:
        typer.echo(f"bicubic | model | HR (centre crops) → {samples}")
    if json_path is not None:
        result = {"model": model, "direction": runner.direction, "data": str(data), "split": split,
                  "scale": scale, "count": scores.count, "convention": scores.convention,
                  "protocol": {k: getattr(f, "protocol", None) for k, f in extra.items()}, "not_computed": skipped,
                  "degradation": f"Pillow BICUBIC ÷{scale} of the 8-bit HR (modcropped), rounded to 8 bits",
                  "scores": scores.model, "baseline_bicubic": scores.baseline, "per_image": scores.per_image}
        _write_json(json_path, result)


def _has_ground_truth(header: dict, direction: str, data: Path, split: str) -> bool:
    from i2i.metrics.evaluation import held_out_pairs

    try:
        held_out_pairs(header, direction, data, split, 1)
    except I2IError:
        return False
    return True


DISTRIBUTION_METRICS = {"fid", "kid", "is", "1nn"}
DISTRIBUTION_COLUMNS = (("fid", "FID ↓"), ("kid", "KID×10³ ↓"), ("is", "IS"), ("1nn", "1-NN acc. (0.5 best)"))


def _evaluate_distribution(runner, model: str, data: Path, split: str, limit: int | None, wanted: set[str] | None,
                           weights: Path | None, json_path: Path | None) -> dict:
    """Unpaired data: translated held-out inputs against real target-domain images, in Inception
    feature space (i2i.metrics.fidelity.PROTOCOL), beside the untranslated inputs and a real-vs-real split."""
    from i2i.metrics.evaluation import evaluate_distribution
    from i2i.metrics.fidelity import PROTOCOL, InceptionExtractor

    try:
        extractor = InceptionExtractor(weights=weights)
    except I2IError as error:
        if wanted is not None:
            raise
        raise I2IError(f"this data has no ground truth to compare with, and the distribution metrics cannot "
                       f"run: {error}") from None
    other_split = "train" if split != "train" else "test"
    sources, targets, others = _distribution_images(runner, data, split, other_split, limit)
    try:
        scores = evaluate_distribution(runner, sources, targets, others, extractor)
    except ValueError as error:
        raise I2IError(str(error)) from None
    _print_distribution(scores, runner.direction, data, split, other_split, wanted)
    result = {"model": model, "direction": runner.direction, "data": str(data), "split": split,
              "count": scores.count, "protocol": {**PROTOCOL, "weights_path": str(extractor.weights_path),
                                                  "weights_sha256": extractor.weights_sha256},
              "scores": scores.model, "baseline_inputs_as_they_are": scores.baselines["inputs_as_they_are"],
              "baseline_real_vs_real": scores.baselines["real_vs_real"], "not_computed": {}}
    if json_path is not None:
        _write_json(json_path, result)
    return result


def _distribution_images(runner, data: Path, split: str, other_split: str,
                         limit: int | None) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(source images, real target images) of `split`, at most `limit` and as many of each, and as many
    target images of `other_split` for the real-vs-real baseline."""
    from i2i.data.unpaired import find_domain_files
    from i2i.images import ImageReadError, read_image

    source, target = runner.direction.split("->")
    domains = runner.header.get("domains") or [source, target]
    held_out = find_domain_files(data, domains, split)
    try:
        other = find_domain_files(data, domains, other_split)[target]
    except I2IError:
        other = []
    count = min(len(held_out[source]), len(held_out[target]), limit or 10**9)
    try:
        sources = [read_image(p)[0] for p in held_out[source][:count]]
        targets = [read_image(p)[0] for p in held_out[target][:count]]
        others = [read_image(p)[0] for p in other[:count]]
    except ImageReadError as error:
        raise I2IError(str(error)) from None
    if len(others) < 2:
        raise I2IError(f"the real-vs-real baseline needs {target!r} images in the {other_split} split of {data}")
    return sources, targets, others


def _print_distribution(scores, direction: str, data: Path, split: str, other_split: str,
                        wanted: set[str] | None) -> None:
    """The model's distribution metrics beside the untranslated inputs and the real-vs-real floor."""
    source, target = direction.split("->")
    shown = [(key, title) for key, title in DISTRIBUTION_COLUMNS if wanted is None or key in wanted]
    table = Table(title=f"{direction} on {data}/{split}: {scores.count} translated vs {scores.count} real "
                        f"{target!r} images (Inception features)")
    table.add_column("")
    for _, title in shown:
        table.add_column(title, justify="right")

    def cells(values: dict) -> list[str]:
        text = {"fid": f"{values['fid']:.2f}", "kid": f"{values['kid_mean'] * 1e3:.2f} ± {values['kid_std'] * 1e3:.2f}",
                "is": f"{values['is_mean']:.3f} ± {values['is_std']:.3f}", "1nn": f"{values['one_nn_accuracy']:.3f}"}
        return [text[key] for key, _ in shown]

    table.add_row("model", *cells(scores.model))
    table.add_row(f"{source} as they are (baseline)", *cells(scores.baselines["inputs_as_they_are"]))
    table.add_row(f"real {target}, {other_split} split (floor)", *cells(scores.baselines["real_vs_real"]))
    Console().print(table)
    typer.echo(f"FID with {scores.count} images is biased upwards (below 2,048 its covariance is singular): compare "
               f"it only at equal counts; KID and 1-NN are the steadier guides on small sets")
