"""Making a failing run visible: the warnings of periodic held-out evaluation, their thresholds, and the
best-vs-last line printed when training ends.

Two warnings, each printed, written to eval.csv's `warning` column and to TensorBoard (`eval/warning`):

1. The chosen score (`log.eval_metric`) fell far below its best so far (SCORE_DROP):
   PSNR more than 1 dB below the best; SSIM more than 0.05 below; L1 more than 25 % above; a pixel KID
   that has lost more than half of its gain over the copy-the-input baseline
   (value − best > ½ (copy − best); not checked while the best is no better than copying); a 1-NN
   accuracy more than 0.1 above its best.
2. The discriminator wins completely on held-out data — D(real) ≈ 1 and D(fake) ≈ 0 — at
   D_WINS_EVALUATIONS (3) evaluations in a row. "≈" per objective, on the mean outputs (D_DECIDED):
   vanilla/minimax: mean logits ≥ 2.197 on reals and ≤ −2.197 on fakes (σ 0.9 / 0.1); lsgan:
   ≥ 0.9 / ≤ 0.1; hinge: the means past both margins (≥ 1 / ≤ −1); ragan: D(real) − D(fake) ≥ 2.197
   (σ of the relative score ≥ 0.9); ralsgan: D(real) − D(fake) ≥ 1.8 (both relative targets within 0.1).
   WGAN's scores are unbounded: no such rule for wgan/wgan_gp.

Both are functions of eval.csv and the best score (in state.pt), so they hold across `--resume`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

LOGIT_09 = math.log(9.0)          # σ(2.197) = 0.9
# metric suffix → (how "far below the best" is measured, threshold)
SCORE_DROP: dict[str, tuple[str, float]] = {
    "psnr": ("below", 1.0),         # dB
    "ssim": ("below", 0.05),
    "l1": ("ratio_above", 0.25),    # 25 % higher than the best
    "pixel_kid": ("gain_lost", 0.5),
    "pixel_1nn": ("above", 0.1),
}
D_WINS_EVALUATIONS = 3
# objective → (mean D(real) at least, mean D(fake) at most) or ("gap", D(real) − D(fake) at least)
D_DECIDED: dict[str, tuple[Any, float]] = {
    "vanilla": (LOGIT_09, -LOGIT_09),
    "minimax": (LOGIT_09, -LOGIT_09),
    "lsgan": (0.9, 0.1),
    "hinge": (1.0, -1.0),
    "ragan": ("gap", LOGIT_09),
    "ralsgan": ("gap", 1.8),
}


def lower_is_better(metric: str) -> bool:
    return metric.endswith(("l1", "kid", "1nn"))


def _suffix(metric: str) -> str:
    return next(key for key in SCORE_DROP if metric.endswith(key))


def score_drop(metric: str, scores: dict[str, float], best: dict[str, Any]) -> str | None:
    """The warning when `scores[metric]` is far below the best so far, else None."""
    if not best or best.get("metric") != metric:
        return None
    value, best_value, suffix = scores[metric], float(best["value"]), _suffix(metric)
    rule, threshold = SCORE_DROP[suffix]
    where = f"its best {best_value:.4g} (step {best['step']}, checkpoints/best.safetensors)"
    if rule == "below" and best_value - value > threshold:
        unit = " dB" if suffix == "psnr" else ""
        return (f"held-out {metric} {value:.4g} is {best_value - value:.3g}{unit} below {where}; "
                f"threshold {threshold:g}{unit}")
    if rule == "above" and value - best_value > threshold:
        return f"held-out {metric} {value:.4g} is {value - best_value:.3g} above {where}; threshold {threshold:g}"
    if rule == "ratio_above" and value > best_value * (1 + threshold):
        return f"held-out {metric} {value:.4g} is {value / best_value - 1:.0%} above {where}; threshold {threshold:.0%}"
    copy = scores.get(f"copy_{suffix}")
    if rule == "gain_lost" and copy is not None and copy > best_value:
        lost = (value - best_value) / (copy - best_value)
        if lost > threshold:
            return (f"held-out {metric} {value:.4g} has lost {lost:.0%} of its gain over copying the input "
                    f"({copy:.4g}) since {where}; threshold {threshold:.0%}")
    return None


def discriminator_wins(objective: str, d_real: float, d_fake: float) -> bool:
    """Whether mean held-out D outputs say D separates real from fake completely (D_DECIDED)."""
    rule = D_DECIDED.get(objective)
    if rule is None or math.isnan(d_real) or math.isnan(d_fake):
        return False
    if rule[0] == "gap":
        return d_real - d_fake >= rule[1]
    return d_real >= rule[0] and d_fake <= rule[1]


def _cell(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return math.nan


def discriminator_streak(objective: str, eval_csv: Path, scores: dict[str, float]) -> str | None:
    """The warning when D has won completely at this and the previous D_WINS_EVALUATIONS − 1 evaluations
    (the earlier ones read from eval.csv), else None."""
    if "d_real" not in scores or not discriminator_wins(objective, scores["d_real"], scores["d_fake"]):
        return None
    rows: list[dict[str, str]] = []
    if eval_csv.exists():
        with eval_csv.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    earlier = rows[-(D_WINS_EVALUATIONS - 1):] if D_WINS_EVALUATIONS > 1 else []
    if len(earlier) < D_WINS_EVALUATIONS - 1 or not all(
            discriminator_wins(objective, _cell(r, "d_real"), _cell(r, "d_fake")) for r in earlier):
        return None
    return (f"the discriminator wins completely on held-out data at {D_WINS_EVALUATIONS} evaluations in a row "
            f"(D(real) {scores['d_real']:.3g}, D(fake) {scores['d_fake']:.3g}, {objective}): the generator is "
            f"getting no useful gradient — see 'When training goes wrong' in docs/train.md")


def best_vs_last(metric: str, best: dict[str, Any], step: int, value: float) -> str:
    """The line printed at the end of training: the best and the last score and how far apart."""
    if not best:
        return f"held-out {metric}: last {value:.4g} at step {step} (no best checkpoint was written)"
    best_value = float(best["value"])
    worse = value - best_value if lower_is_better(metric) else best_value - value
    unit = " dB" if metric.endswith("psnr") else ""
    side = "above" if lower_is_better(metric) else "below"
    if best["step"] == step or worse <= 0:
        gap = "the last is the best"
    else:
        gap = f"the last is {worse:.4g}{unit} {side} the best"
        gap += " (lower is better)" if lower_is_better(metric) else ""
    return (f"held-out {metric}: best {best_value:.4g} at step {best['step']} (checkpoints/best.safetensors), "
            f"last {value:.4g} at step {step}: {gap}")
