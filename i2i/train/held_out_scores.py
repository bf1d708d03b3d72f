"""What one periodic held-out evaluation measures, per kind of held-out data (`held_out_data.py`).

Every score is of the deployed generator (EMA weights if enabled, BatchNorm as at inference) through
the backend `i2i translate` runs, on the first exported direction, beside a baseline of the same kind
(the table of columns: docs/train.md#held-out-evaluation-during-training):

- super-resolution: `psnr`, `ssim` (Y, border cropped, as `i2i eval`) beside `bicubic_psnr`, `bicubic_ssim`;
- ground truth, one output per input: `psnr`, `ssim`, `l1` (as `i2i eval`) beside `copy_…`, the input
  itself as the output;
- ground truth, MUNIT: `guided_…`, the style encoded from the ground-truth image, beside `copy_…`; and
  `random_style_pixel_kid`/`_1nn`, a style from N(0, I) per input (the recipe's seed, the same styles
  every evaluation) beside `copy_pixel_…`;
- no ground truth: `pixel_kid`, `pixel_1nn` (`i2i.metrics.pixel_distribution`, not FID) of the
  translations against the real target images (MUNIT: `random_style_…`), beside `copy_pixel_…`;
- FUNIT: the same per held-out class — the other held-out classes' images translated into it with the
  class code of its first image, against the rest of the class — averaged over the classes.

With the translations comes what the discriminator is then shown (`discriminator_gap.Judged`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from i2i.inference.backend import Backend
from i2i.inference.codes import CodeKind
from i2i.methods.base import Method
from i2i.metrics.evaluation import translate_images
from i2i.metrics.pixel_distribution import pixel_features, pixel_scores
from i2i.train.discriminator_gap import Judged
from i2i.train.held_out_data import FEW_SHOT_K, HeldOut, HeldOutKind, few_shot_contents

Scores = dict[str, float]


def selectable_metrics(held: HeldOut, method: Method) -> tuple[str, ...]:
    """The columns `log.eval_metric` may name for this run, the `auto` choice first."""
    style = method.header().get("kind") == CodeKind.STYLE
    if held.kind == HeldOutKind.SUPERRES:
        return ("psnr", "ssim")
    if held.kind == HeldOutKind.PAIRS:
        if style:
            return ("guided_psnr", "guided_ssim", "guided_l1", "random_style_pixel_kid", "random_style_pixel_1nn")
        return ("psnr", "ssim", "l1")
    return ("random_style_pixel_kid", "random_style_pixel_1nn") if style else ("pixel_kid", "pixel_1nn")


def score_held_out(backend: Backend, held: HeldOut, method: Method) -> tuple[Scores, Judged]:
    """(the scores of this evaluation, what D is to be shown)."""
    return SCORERS[held.kind](backend, held, method)


def _prefixed(prefix: str, scores: dict[str, float]) -> Scores:
    return {f"{prefix}{key}": value for key, value in scores.items()}


def _recording(backend: Backend) -> tuple[Backend, list[np.ndarray]]:
    """`backend`, keeping every output it returns (H×W×3, still padded) in the list."""
    from dataclasses import replace

    outputs: list[np.ndarray] = []

    def run(batch: np.ndarray) -> np.ndarray:
        result = backend.run(batch)
        outputs.extend(image.transpose(1, 2, 0) for image in result)
        return result

    return replace(backend, run=run), outputs


def _cropped(outputs: list[np.ndarray], inputs: list[np.ndarray], scale: int) -> list[np.ndarray]:
    return [out[: image.shape[0] * scale, : image.shape[1] * scale] for out, image in zip(outputs, inputs, strict=True)]


def _superres(backend: Backend, held: HeldOut, method: Method) -> tuple[Scores, Judged]:
    from i2i.metrics.evaluation import evaluate_superres

    scale = backend.preprocess.scale
    recorder, outputs = _recording(backend)
    result = evaluate_superres(recorder, held.pairs, scale)
    scores = {"psnr": result.model["main_psnr"], "ssim": result.model["main_ssim"],
              "bicubic_psnr": result.baseline["main_psnr"], "bicubic_ssim": result.baseline["main_ssim"]}
    lrs = [lr for lr, _, _ in held.pairs]
    return scores, Judged([hr for _, hr, _ in held.pairs], _cropped(outputs, lrs, scale))


def _pairs(backend: Backend, held: HeldOut, method: Method) -> tuple[Scores, Judged]:
    from i2i.metrics.evaluation import evaluate_example_guided, evaluate_pairs

    sources, targets = [s for s, _, _ in held.pairs], [t for _, t, _ in held.pairs]
    if backend.conditioning.get("kind") == CodeKind.STYLE:
        guided = evaluate_example_guided(backend, held.pairs)
        random_scores, judged = _distribution(backend, sources, targets, method)
        return {**_prefixed("guided_", guided.model), **_prefixed("copy_", guided.baseline), **random_scores}, judged
    recorder, outputs = _recording(backend)
    result = evaluate_pairs(recorder, held.pairs)
    judged = Judged(targets, _cropped(outputs, sources, 1), conditions=sources)
    return {**result.model, **_prefixed("copy_", result.baseline)}, judged


def _distribution(backend: Backend, sources: list[np.ndarray], targets: list[np.ndarray],
                  method: Method) -> tuple[Scores, Judged]:
    """The pixel distribution score of the translations and of the inputs as they are (MUNIT: a random
    style per input, the same sequence every evaluation)."""
    prefix = ""
    if backend.conditioning.get("kind") == CodeKind.STYLE:
        backend, prefix = backend.with_random_codes(method.recipe.seed), "random_style_"
    outputs = translate_images(backend, sources)
    real = pixel_features(targets)
    scores = {**_prefixed(prefix, pixel_scores(targets, outputs, real)),
              **_prefixed("copy_", pixel_scores(targets, sources, real))}
    return scores, Judged(targets, outputs)


def _unpaired(backend: Backend, held: HeldOut, method: Method) -> tuple[Scores, Judged]:
    return _distribution(backend, held.sources, held.targets, method)


def _few_shot(backend: Backend, held: HeldOut, method: Method) -> tuple[Scores, Judged]:
    """Each held-out class shown by its first FEW_SHOT_K images; the other held-out classes' images
    translated into it and compared with the rest of the class; the mean over the classes."""
    from i2i.inference.codes import class_code

    limit, size = method.recipe.log.eval_limit, backend.preprocess.size
    per_class = []
    for name, images in held.classes.items():
        examples, reals = images[:FEW_SHOT_K], images[FEW_SHOT_K:]
        contents = few_shot_contents(held, name)[:limit]
        outputs = translate_images(backend.with_code(class_code(backend.encode, examples, size)), contents)
        real = pixel_features(reals)
        per_class.append({**pixel_scores(reals, outputs, real),
                          **_prefixed("copy_", pixel_scores(reals, contents, real))})
    scores = {key: float(np.mean([row[key] for row in per_class])) for key in per_class[0]}
    return scores, _training_classes_judged(backend, held)


def _training_classes_judged(backend: Backend, held: HeldOut) -> Judged:
    """FUNIT's D has an output per training class only: held-out content translated into each training
    class (class code of its first image) against that class's next images, labelled with the class."""
    from i2i.inference.codes import class_code

    contents = few_shot_contents(held, "")
    reals, fakes, labels = [], [], []
    for label, images in enumerate(held.training_classes):
        shown = images[1:]
        picked = [contents[(len(reals) + i) % len(contents)] for i in range(len(shown))]
        translator = backend.with_code(class_code(backend.encode, images[:1], backend.preprocess.size))
        reals += shown
        fakes += translate_images(translator, picked)
        labels += [label] * len(shown)
    return Judged(reals, fakes, labels=labels)


SCORERS: dict[HeldOutKind, Callable[[Backend, HeldOut, Method], tuple[Scores, Judged]]] = {
    HeldOutKind.SUPERRES: _superres,
    HeldOutKind.PAIRS: _pairs,
    HeldOutKind.UNPAIRED: _unpaired,
    HeldOutKind.FEW_SHOT: _few_shot,
}
