"""The resume state (`state.pt`): what a killed or stopped run needs to continue exactly where it was."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import torch

from i2i.config import to_dict
from i2i.errors import I2IError

if TYPE_CHECKING:
    from i2i.train.trainer import Trainer


def training_state(trainer: Trainer) -> dict[str, Any]:
    """Everything an exact resume needs: the networks, optimisers, schedules, scalers, EMA, image
    pools, RNG states, the step and the best held-out score."""
    state = {
        "step": trainer.step,
        "recipe_json": json.dumps(to_dict(trainer.recipe)),
        "method": trainer.method.state_dict(),
        "optimizer_g": trainer.optimizer_g.state_dict(),
        "optimizer_d": trainer.optimizer_d.state_dict(),
        "scheduler_g": trainer.scheduler_g.state_dict(),
        "scheduler_d": trainer.scheduler_d.state_dict(),
        "scaler_g": trainer.scaler_g.state_dict(),
        "scaler_d": trainer.scaler_d.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_python": list(random.getstate()[1]),
        "skipped_steps": trainer.skipped_steps,
        "best_eval": json.dumps(trainer.held_out.best),
    }
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    if trainer.ema is not None:
        state["ema"] = trainer.ema.state_dict()
    for name, pool in trainer.pools.items():
        state[f"pool_{name}"] = pool.state_dict()
    return state

def restore_training_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put `trainer` where the run that saved `state` stopped."""
    method_state = dict(state["method"])
    for key, value in trainer.method.adversary.state_dict().items():  # runs saved before recipe.gan existed
        method_state.setdefault(f"adversary.{key}", value)
    trainer.method.load_state_dict(method_state)
    trainer.optimizer_g.load_state_dict(state["optimizer_g"])
    trainer.optimizer_d.load_state_dict(state["optimizer_d"])
    trainer.scheduler_g.load_state_dict(state["scheduler_g"])
    trainer.scheduler_d.load_state_dict(state["scheduler_d"])
    for name, scaler in (("scaler_g", trainer.scaler_g), ("scaler_d", trainer.scaler_d)):
        if state.get(name):
            scaler.load_state_dict(state[name])
    # The saved learning rates belong to the saved run's schedule; `--resume --steps N` changes the
    # schedule (its decay spans the new total), so the rates are recomputed for the step reached.
    for scheduler in (trainer.scheduler_g, trainer.scheduler_d):
        rates = [base * rule(scheduler.last_epoch) for base, rule in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
        for group, rate in zip(scheduler.optimizer.param_groups, rates):
            group["lr"] = rate
        scheduler._last_lr = rates
    if trainer.ema is not None:
        if "ema" not in state:
            raise I2IError("the resume state has no EMA weights, but the recipe enables ema_decay")
        trainer.ema.load_state_dict(state["ema"])
    for name, pool in trainer.pools.items():
        pool.load_state_dict(state[f"pool_{name}"], trainer.device)
    torch.set_rng_state(state["rng_torch"])
    random.setstate((3, tuple(state["rng_python"]), None))
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    trainer.step = int(state["step"])
    trainer.skipped_steps = int(state.get("skipped_steps", 0))
    trainer.held_out.best = json.loads(state.get("best_eval", "{}"))
