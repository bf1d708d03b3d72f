"""SRGAN's stage-1 learning-rate decay: linear (the trainer's rule) or half a cosine (`stage1_decay`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from i2i.errors import I2IError
from i2i.methods import SRGAN
from tests.conftest import tiny_srgan as recipe


def test_cosine_decay_after_the_constant_part(hr_data: Path) -> None:
    method = SRGAN(recipe(hr_data, steps=100, stage="srresnet", stage1_decay="cosine", schedule={"decay_start": 0.5}))
    schedule = method.lr_schedule()
    assert [schedule(s) for s in (0, 48)] == [1.0, 1.0]
    # progress (step + 1 − 50) / 51, the linear rule's, through half a cosine
    for step in (49, 60, 75, 99):
        assert schedule(step) == pytest.approx(0.5 * (1 + math.cos(math.pi * (step - 49) / 51)))
    values = [schedule(s) for s in range(100)]
    assert all(a >= b for a, b in zip(values, values[1:])) and 0.0 < values[-1] < 0.01


def test_linear_stays_the_default_and_unknown_decays_are_refused(hr_data: Path) -> None:
    linear = SRGAN(recipe(hr_data, steps=10, stage="srresnet", schedule={"decay_start": 0.0})).lr_schedule()
    assert [round(linear(s), 6) for s in (0, 9)] == [round(1 - 1 / 11, 6), round(1 - 10 / 11, 6)]
    with pytest.raises(I2IError, match="stage1_decay must be one of linear, cosine"):
        SRGAN(recipe(hr_data, stage="srresnet", stage1_decay="step")).validate()
