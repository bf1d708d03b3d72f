"""Held-out evaluation: paired translation against the copy-the-input baseline, and super-resolution
against bicubic upscaling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from i2i.errors import I2IError
from i2i.images import write_image
from i2i.inference.backend import Backend
from i2i.metrics.pixel import l1, psnr, ssim
from i2i.preprocess import pad_to_multiple, to_batch


@dataclass
class PairedScores:
    count: int
    model: dict[str, float]
    baseline: dict[str, float]                      # the input copied as output
    per_image: list[dict[str, float | str]] = field(default_factory=list)


PairMetric = Callable[[np.ndarray, np.ndarray], float]
PAIRED_METRICS: dict[str, PairMetric] = {"l1": l1, "psnr": psnr, "ssim": ssim}


def evaluate_pairs(backend: Backend, pairs: list[tuple[np.ndarray, np.ndarray, str]],
                   samples_path: Path | None = None, num_samples: int = 8,
                   metrics: dict[str, PairMetric] | None = None) -> PairedScores:
    """Translate each (input, target, name) at its own size and score output vs target with every
    metric (default L1, PSNR, SSIM; e.g. LPIPS added by the caller); the baseline scores input vs
    target. Optionally writes an input | output | target grid of the first pairs."""
    metrics = PAIRED_METRICS if metrics is None else metrics
    multiple, min_size = backend.preprocess.multiple_of, backend.preprocess.min_size
    per_image, grid_rows = [], []
    for source, target, name in pairs:
        height, width = source.shape[:2]
        output = backend.run(to_batch([pad_to_multiple(source, multiple, min_size)]))[0].transpose(1, 2, 0)
        output = output[:height, :width]
        if target.shape != output.shape:
            raise ValueError(f"{name}: target is {target.shape[:2]}, output {output.shape[:2]}")
        row: dict[str, float | str] = {"name": name}
        for key, metric in metrics.items():
            row[key], row[f"baseline_{key}"] = metric(output, target), metric(source, target)
        per_image.append(row)
        if len(grid_rows) < num_samples:
            grid_rows.append(np.concatenate([source, _gap(height), output, _gap(height), target], axis=1))
    if samples_path is not None and grid_rows:
        _write_rows(samples_path, grid_rows)
    mean = _means(per_image)
    return PairedScores(count=len(per_image), model={key: mean(key) for key in metrics},
                        baseline={key: mean(f"baseline_{key}") for key in metrics}, per_image=per_image)



def evaluate_example_guided(backend: Backend, pairs: list[tuple[np.ndarray, np.ndarray, str]]) -> PairedScores:
    """MUNIT with ground truth: each input translated with the style its own ground-truth image encodes to
    (what `i2i translate --style GROUND_TRUTH` does), scored as `evaluate_pairs` scores it, beside the
    copy-the-input baseline. The target's appearance is given, so this measures content kept and style
    carried over — not the quality of styles drawn from the prior."""
    from i2i.inference.codes import style_code

    per_image: list[dict[str, float | str]] = []
    for source, target, name in pairs:
        guided = backend.with_code(style_code(backend.encode, target, backend.preprocess.size))
        per_image += evaluate_pairs(guided, [(source, target, name)]).per_image
    mean = _means(per_image)
    return PairedScores(count=len(per_image), model={key: mean(key) for key in PAIRED_METRICS},
                        baseline={key: mean(f"baseline_{key}") for key in PAIRED_METRICS}, per_image=per_image)


def translate_images(backend: Backend, images: list[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
    """Each H×W×3 image translated at its own size (padded to the network's multiple, cropped back);
    consecutive images of one size go through the network together, up to `batch_size` at a time
    (the deployed networks normalise per image, so the batch does not change an output)."""
    multiple, min_size, scale = backend.preprocess.multiple_of, backend.preprocess.min_size, backend.preprocess.scale
    outputs: list[np.ndarray] = []
    while len(outputs) < len(images):
        start = len(outputs)
        group = [images[start]]
        while (len(group) < batch_size and start + len(group) < len(images)
               and images[start + len(group)].shape == group[0].shape):
            group.append(images[start + len(group)])
        result = backend.run(to_batch([pad_to_multiple(image, multiple, min_size) for image in group]))
        for image, output in zip(group, result, strict=True):
            height, width = image.shape[:2]
            outputs.append(np.ascontiguousarray(output.transpose(1, 2, 0)[: height * scale, : width * scale]))
    return outputs

def _write_rows(path: Path, grid_rows: list[np.ndarray]) -> None:
    """Stack image rows of different widths into one PNG, white-padded, 2-px white gaps."""
    width = max(row.shape[1] for row in grid_rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in grid_rows]
    write_image(path, np.concatenate(rows, axis=0)[:-2])


def _means(per_image: list[dict[str, float | str]]) -> Callable[[str], float]:
    return lambda key: float(np.mean([row[key] for row in per_image]))


def _gap(height: int, width: int = 2) -> np.ndarray:
    return np.ones((height, width, 3), dtype=np.float32)


@dataclass
class SuperResScores:
    count: int
    convention: dict[str, str]                      # metric space → its convention line
    model: dict[str, float]
    baseline: dict[str, float]                      # bicubic upscaling of the same LR input
    per_image: list[dict[str, float | str]] = field(default_factory=list)


def evaluate_superres(backend: Backend, pairs: list[tuple[np.ndarray, np.ndarray, str]], scale: int, *,
                      y_channel: bool = True, crop_border: int | None = None, samples_path: Path | None = None,
                      num_samples: int = 4, crop: int = 96,
                      extra: dict[str, PairMetric] | None = None) -> SuperResScores:
    """Super-resolve each (LR, HR, name) whole and score it against HR beside bicubic upscaling: PSNR
    and SSIM in the chosen space (Y of BT.601 by default, `scale` px border cropped) and in RGB.
    Outputs are rounded to 8 bits first, as written files (and the papers' numbers) are. `extra`
    metrics (e.g. LPIPS) score the whole RGB image against HR."""
    extra = extra or {}
    from i2i.data.superres import bicubic_upscale, to_uint8
    from i2i.metrics.pixel import sr_scores

    spaces = {"main": y_channel, "rgb": False}
    per_image, grid_rows, conventions = [], [], {}
    for lr, hr, name in pairs:
        height, width = lr.shape[:2]
        output = backend.run(to_batch([pad_to_multiple(lr, backend.preprocess.multiple_of,
                                                       backend.preprocess.min_size)]))[0].transpose(1, 2, 0)
        output = to_uint8(output[: height * scale, : width * scale]).astype(np.float32) / 255.0
        bicubic = bicubic_upscale(to_uint8(lr), scale).astype(np.float32) / 255.0
        row: dict[str, float | str] = {"name": name}
        for space, use_y in spaces.items():
            for label, image in (("", output), ("bicubic_", bicubic)):
                scores = sr_scores(image, hr, scale, y_channel=use_y, crop_border=crop_border)
                conventions[space] = str(scores["convention"])
                row[f"{label}{space}_psnr"], row[f"{label}{space}_ssim"] = scores["psnr"], scores["ssim"]
        for key, metric in extra.items():
            row[key], row[f"bicubic_{key}"] = metric(output, hr), metric(bicubic, hr)
        per_image.append(row)
        if len(grid_rows) < num_samples:
            side = min(crop, hr.shape[0], hr.shape[1])
            top, left = (hr.shape[0] - side) // 2, (hr.shape[1] - side) // 2
            cut = (slice(top, top + side), slice(left, left + side))
            grid_rows.append(np.concatenate([bicubic[cut], _gap(side), output[cut], _gap(side), hr[cut]], axis=1))
    if samples_path is not None and grid_rows:
        _write_rows(samples_path, grid_rows)
    mean = _means(per_image)
    keys = [f"{space}_{metric}" for space in spaces for metric in ("psnr", "ssim")] + list(extra)
    return SuperResScores(count=len(per_image), convention=conventions,
                          model={key: mean(key) for key in keys},
                          baseline={key: mean(f"bicubic_{key}") for key in keys}, per_image=per_image)


@dataclass
class DistributionScores:
    count: int
    model: dict[str, float | int]                   # translated held-out inputs vs real target images
    baselines: dict[str, dict[str, float | int]]    # the inputs as they are; real vs real (another split)


def evaluate_distribution(backend: Backend, sources: list[np.ndarray], targets: list[np.ndarray],
                          other_targets: list[np.ndarray], extractor: Callable) -> DistributionScores:
    """FID/KID/IS/1-NN (i2i.metrics.fidelity) of the translations of held-out `sources` against the held-out
    real `targets`, beside two baselines that make the numbers readable: the untranslated sources
    against the same targets (what translating has to beat), and `other_targets` — real images of the
    target domain from another split — against them (the floor for this many images)."""
    from i2i.metrics.fidelity import distribution_scores

    multiple, min_size = backend.preprocess.multiple_of, backend.preprocess.min_size
    fakes = []
    for source in sources:
        height, width = source.shape[:2]
        output = backend.run(to_batch([pad_to_multiple(source, multiple, min_size)]))[0]
        fakes.append(np.ascontiguousarray(output[:, :height, :width]))

    def chw(images: list[np.ndarray]) -> list[np.ndarray]:
        return [np.ascontiguousarray(image.transpose(2, 0, 1)) for image in images]

    real = chw(targets)
    return DistributionScores(
        count=len(fakes), model=distribution_scores(real, fakes, extractor),
        baselines={"inputs_as_they_are": distribution_scores(real, chw(sources), extractor),
                   "real_vs_real": distribution_scores(real, chw(other_targets), extractor)})


def held_out_pairs(header: dict, direction: str, data: Path, split: str,
                   limit: int | None) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(input, ground truth, name) for the model's direction: pix2pix pairs, or the same file name in
    the two domain folders of an unpaired data set's held-out split."""
    from i2i.data.paired import find_pairs, read_pair
    from i2i.data.unpaired import matched_test_pairs
    from i2i.images import ImageReadError, read_image

    source, target = direction.split("->")
    if header.get("method") == "pix2pix" or {source, target} == {"A", "B"} and is_paired(data, split):
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


def is_paired(data: Path, split: str) -> bool:
    """Whether `data` holds pix2pix pairs for `split`."""
    from i2i.data.paired import find_pairs

    try:
        find_pairs(data, split)
    except I2IError:
        return False
    return True
