"""Periodic held-out evaluation during training (`log.eval_every`): the deployed generator scored on
held-out pairs exactly as `i2i eval` scores it, appended to eval.csv, with the best score so far kept
as checkpoints/best.safetensors (by the trainer, which owns the checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from i2i.data.kinds import DataKind
from i2i.errors import I2IError
from i2i.inference.backend import Backend
from i2i.inference.codes import code_kind
from i2i.methods.base import Method
from i2i.preprocess import Preprocess
from i2i.train.checkpoints import save_best
from i2i.train.run_files import MetricsLog

if TYPE_CHECKING:
    from i2i.train.trainer import Trainer

EVAL_METRICS = ("psnr", "ssim", "l1")   # l1: lower is better; the others higher

Pairs = list[tuple[np.ndarray, np.ndarray, str]]


class HeldOutEvaluation:
    """The pairs (loaded once), eval.csv and the best score so far ({"metric", "value", "step"})."""

    def __init__(self, method: Method, preprocess: Preprocess, run_dir: Path) -> None:
        self.method, self.preprocess = method, preprocess
        self.metric = method.recipe.log.eval_metric
        self.log = MetricsLog(run_dir / "eval.csv")
        self.best: dict[str, Any] = {}
        self.pairs: Pairs = held_out_pairs_for(method, preprocess) if method.recipe.log.eval_every > 0 else []

    def score(self, backend: Backend) -> dict[str, float]:
        """The scores `i2i eval` prints for this backend on the held-out pairs."""
        from i2i.metrics.evaluation import evaluate_pairs, evaluate_superres

        if self.method.data_kind == DataKind.SUPERRES:
            model_scores = evaluate_superres(backend, self.pairs, self.preprocess.scale).model
            return {"psnr": model_scores["main_psnr"], "ssim": model_scores["main_ssim"]}
        return evaluate_pairs(backend, self.pairs).model

    def improves(self, scores: dict[str, float]) -> bool:
        """Whether `scores` beat the best so far in `log.eval_metric` (the first score always does)."""
        value = scores[self.metric]
        return not self.best or (value < self.best["value"] if self.metric == "l1" else value > self.best["value"])

    def describe(self, step: int, scores: dict[str, float]) -> str:
        return (f"eval at step {step}: " + "  ".join(f"{k}={v:.4g}" for k, v in scores.items())
                + f"  (best {self.metric} {self.best.get('value', float('nan')):.4g} at step "
                  f"{self.best.get('step', '-')})")


def evaluate_and_keep_best(trainer: Trainer) -> dict[str, float]:
    """Score the trainer's deployed generator on the held-out pairs (as `i2i eval` does, through the
    same backend object `i2i translate` runs), append to eval.csv (and TensorBoard), and keep
    checkpoints/best.safetensors for the best `log.eval_metric` so far."""
    from i2i.inference.torch_backend import module_backend

    held_out, step = trainer.held_out, trainer.step
    direction = next(iter(trainer.method.exported_generators()))
    scores = held_out.score(module_backend(trainer.deployed(direction), trainer.preprocess, direction, "training"))
    held_out.log.append({"step": step, **{k: round(v, 6) for k, v in scores.items()}})
    if trainer.events is not None:
        for name, value in scores.items():
            trainer.events.add_scalar(f"eval/{name}", value, step)
    if held_out.improves(scores):
        exported, header = trainer.exported(False, eval={"split_pairs": len(held_out.pairs), **scores})
        problem = save_best(trainer.run_dir, exported, header)
        if problem is None:
            held_out.best = {"metric": held_out.metric, "value": scores[held_out.metric], "step": step}
        else:
            trainer.console.print(f"warning: {problem}")
    trainer.console.print(held_out.describe(step, scores))
    return scores


def held_out_pairs_for(method: Method, preprocess: Preprocess) -> Pairs:
    """Ground-truth pairs for periodic evaluation (test split, else val), or an error saying why none."""
    from i2i.metrics.evaluation import held_out_pairs

    recipe = method.recipe
    if recipe.log.eval_metric not in EVAL_METRICS:
        raise I2IError(f"log.eval_metric must be one of {', '.join(EVAL_METRICS)}, got {recipe.log.eval_metric!r}")
    if code_kind({"conditioning": method.header()}) is not None:
        raise I2IError(f"log.eval_every: a {recipe.method} model has no single right output to score during "
                       f"training (score it with `i2i eval` or benchmarks/ after training)")
    errors = []
    for split in ("test", "val"):
        try:
            if method.data_kind == DataKind.SUPERRES:
                from i2i.data.superres import held_out_sr_pairs

                pairs = held_out_sr_pairs(Path(recipe.data.root), split, preprocess.scale, recipe.log.eval_limit)
            else:
                direction = next(iter(method.exported_generators()))
                header = {"method": recipe.method, "domains": method.domains()}
                pairs = held_out_pairs(header, direction, Path(recipe.data.root), split, recipe.log.eval_limit)
            if pairs:
                return pairs
        except I2IError as error:
            errors.append(str(error))
    raise I2IError(f"log.eval_every needs held-out images with ground truth in {recipe.data.root} (test or val "
                   f"split): {errors[0] if errors else 'none found'}")
