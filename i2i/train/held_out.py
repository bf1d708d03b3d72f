"""Periodic held-out evaluation during training (`log.eval_every`), for every method.

Each evaluation scores the deployed generator on the held-out images (`held_out_data.py`: test split,
else val; what is scored per method and data: `held_out_scores.py`), beside its baseline, and the
discriminator's mean output on real held-out target images and on the translations
(`discriminator_gap.py`). It appends a row to eval.csv and `eval/…` TensorBoard scalars, keeps
checkpoints/best.safetensors for the best `log.eval_metric` so far (by the trainer's `exported`, which
owns the checkpoints), prints the warnings of `held_out_warnings.py`, and at the end of training the
best against the last score.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import I2IError
from i2i.methods.base import Method
from i2i.preprocess import Preprocess
from i2i.train.checkpoints import save_best
from i2i.train.discriminator_gap import D_COLUMNS, JUDGES, discriminator_scores
from i2i.train.held_out_data import HeldOut, load_held_out
from i2i.train.held_out_scores import score_held_out, selectable_metrics
from i2i.train.held_out_warnings import best_vs_last, discriminator_streak, lower_is_better, score_drop
from i2i.train.run_files import MetricsLog

if TYPE_CHECKING:
    from i2i.train.trainer import Trainer


class HeldOutEvaluation:
    """The held-out images (loaded once), eval.csv, the metric that picks the best, and the best score
    so far ({"metric", "value", "step"}; saved in state.pt)."""

    def __init__(self, method: Method, preprocess: Preprocess, run_dir: Path) -> None:
        self.method, self.preprocess = method, preprocess
        self.log = MetricsLog(run_dir / "eval.csv")
        self.best: dict[str, Any] = {}
        self.held: HeldOut | None = None
        self.metric = method.recipe.log.eval_metric
        if method.recipe.log.eval_every > 0:
            if method.recipe.method not in JUDGES:
                raise I2IError(f"log.eval_every: held-out evaluation does not know which discriminator of "
                               f"{method.recipe.method!r} judges its outputs (i2i/train/discriminator_gap.py)")
            self.held = load_held_out(method, preprocess)
            self.metric = chosen_metric(method, self.held)

    def improves(self, scores: dict[str, float]) -> bool:
        """Whether `scores` beat the best so far in `log.eval_metric` (the first score always does)."""
        value = scores[self.metric]
        if not self.best or self.best.get("metric") != self.metric:
            return True
        return value < self.best["value"] if lower_is_better(self.metric) else value > self.best["value"]

    def describe(self, step: int, scores: dict[str, float]) -> str:
        return (f"eval at step {step}: " + "  ".join(f"{k}={v:.4g}" for k, v in scores.items())
                + f"  (best {self.metric} {self.best.get('value', float('nan')):.4g} at step "
                  f"{self.best.get('step', '-')})")


def chosen_metric(method: Method, held: HeldOut) -> str:
    """`log.eval_metric`, or for `auto` the default of this method and data (the first selectable)."""
    choices = selectable_metrics(held, method)
    metric = method.recipe.log.eval_metric
    if metric == "auto":
        return choices[0]
    if metric not in choices:
        raise I2IError(f"log.eval_metric {metric!r} is not scored for this {method.recipe.method} run "
                       f"({held.kind.value} held-out data in the {held.split} split); choose auto or one of "
                       f"{', '.join(choices)}")
    return metric


def evaluate_and_keep_best(trainer: Trainer) -> dict[str, float]:
    """Score the trainer's deployed generator on the held-out images (through the same backend object
    `i2i translate` runs) and its discriminator on them, log the row (eval.csv, TensorBoard), warn,
    keep checkpoints/best.safetensors for the best `log.eval_metric` so far, and print best vs last
    when training has reached its last step."""
    from i2i.inference.torch_backend import module_backend

    held_out, step, method = trainer.held_out, trainer.step, trainer.method
    assert held_out.held is not None
    direction = held_out.held.direction
    backend = module_backend(trainer.deployed(direction), trainer.preprocess, direction, "training",
                             {"conditioning": method.header()})
    scores, judged = score_held_out(backend, held_out.held, method)
    # D's numbers mean something only once it has been trained (SRGAN's first stage never trains it).
    if trainer.optimizer_d.state and judged.reals and judged.fakes:
        scores.update(discriminator_scores(method, direction, judged, trainer.device))
    warnings = [w for w in (score_drop(held_out.metric, scores, held_out.best),
                            discriminator_streak(method.recipe.gan.objective, held_out.log.path, scores)) if w]
    untrained = {name: "" for name in D_COLUMNS if name not in scores}   # empty cells: eval.csv's columns stay put
    held_out.log.append({"step": step, **scores, **untrained, "warning": " | ".join(warnings)})
    _tensorboard(trainer, scores, warnings)
    if held_out.improves(scores):
        _keep_best(trainer, scores)
    trainer.console.print(held_out.describe(step, scores))
    for warning in warnings:
        trainer.console.print(f"warning: {warning}")
    if step >= trainer.recipe.steps:
        trainer.console.print(best_vs_last(held_out.metric, held_out.best, step, scores[held_out.metric]))
    return scores


def _tensorboard(trainer: Trainer, scores: dict[str, float], warnings: list[str]) -> None:
    if trainer.events is None:
        return
    for name, value in scores.items():
        trainer.events.add_scalar(f"eval/{name}", value, trainer.step)
    for warning in warnings:
        trainer.events.add_text("eval/warning", warning, trainer.step)


def _keep_best(trainer: Trainer, scores: dict[str, float]) -> None:
    held_out = trainer.held_out
    assert held_out.held is not None
    record = {"split": held_out.held.split, "images": held_out.held.count, "direction": held_out.held.direction,
              "metric": held_out.metric, **scores}
    exported, header = trainer.exported(False, eval=record)
    problem = save_best(trainer.run_dir, exported, header)
    if problem is None:
        held_out.best = {"metric": held_out.metric, "value": scores[held_out.metric], "step": trainer.step}
    else:
        trainer.console.print(f"warning: {problem}")
