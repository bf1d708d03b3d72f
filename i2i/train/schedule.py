"""Learning-rate schedules (multipliers of the base rate, by 0-based step)."""

from __future__ import annotations

from collections.abc import Callable


def constant_then_linear(total_steps: int, decay_start: float) -> Callable[[int], float]:
    """Constant for the first `decay_start` fraction of the steps, then linear decay.

    The reference pix2pix/CycleGAN rule per epoch, 1 − max(0, e + 1 − n_const) / (n_decay + 1), applied
    per step: the last step runs at base/(n_decay + 1), never exactly 0.
    """
    if not 0.0 <= decay_start <= 1.0:
        raise ValueError(f"schedule.decay_start must be in [0, 1], got {decay_start}")
    constant_steps = round(total_steps * decay_start)
    decay_steps = total_steps - constant_steps

    def multiplier(step: int) -> float:
        return 1.0 - max(0, step + 1 - constant_steps) / (decay_steps + 1)

    return multiplier
