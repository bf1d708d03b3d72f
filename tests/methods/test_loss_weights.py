"""Loss weights are checked: a weight must name a loss term of its method, and only the trainer applies them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from i2i.cli import app
from i2i.config import override
from i2i.errors import I2IError
from i2i.methods import METHODS, Pix2Pix, Pix2PixRecipe

runner = CliRunner()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_misspelt_weight_names_itself_and_the_valid_terms(name):
    method_cls = METHODS[name]
    recipe = override(method_cls.Recipe(), {"loss_weights": {"l1x": 5.0}, "data": {"root": "unused"}})
    with pytest.raises(I2IError) as raised:
        method_cls(recipe)
    message = str(raised.value)
    assert message.startswith(f"loss_weights.l1x: {name} has no loss term 'l1x'; its terms are ")
    assert message.endswith(", ".join(method_cls.loss_terms()))


def test_a_changed_valid_weight_is_accepted():
    method = Pix2Pix(override(Pix2PixRecipe(), {"loss_weights": {"l1": 10.0}}))
    assert method.recipe.loss_weights["l1"] == 10.0 and method.recipe.loss_weights["adversarial"] == 1.0


def test_cli_refuses_a_misspelt_weight_in_one_line(tmp_path):
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(tmp_path), "--dry-run",
                                 "--set", "loss_weights.l1x=5"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["error: loss_weights.l1x: pix2pix has no loss term 'l1x'; its terms are adversarial, "
                     "disc_fake, disc_real, l1"]


def test_zero_weight_skips_an_optional_term_without_the_method_applying_weights(tmp_path):
    from i2i.methods import CycleGAN, CycleGANRecipe

    method = CycleGAN(override(CycleGANRecipe(), {"loss_weights": {"identity_a2b": 0.0}, "data": {"root": "x"}}))
    assert not method.uses_term("identity_a2b") and method.uses_term("identity_b2a")
