import pytest

from i2i.config import from_dict, load_preset, override, parse_sets, to_dict
from i2i.errors import I2IError
from i2i.methods import Pix2Pix, Pix2PixRecipe


def test_defaults_are_the_paper_settings():
    recipe = Pix2PixRecipe()
    assert recipe.loss_weights["l1"] == 100.0 and recipe.gan.objective == "vanilla"
    assert (recipe.optimizer.lr_g, recipe.optimizer.beta1, recipe.optimizer.beta2) == (2e-4, 0.5, 0.999)
    assert recipe.batch_size == 1 and recipe.discriminator.n_layers == 3
    assert recipe.generator.dropout == 0.5 and recipe.generator.init_gain == 0.02


@pytest.mark.parametrize("image_size, depth", [(256, 8), (512, 8), (128, 7), (64, 6), (96, 5)])
def test_unet_depth_follows_the_image_size_like_unet_256_and_unet_128(image_size, depth):
    assert Pix2Pix.resolve(override(Pix2PixRecipe(), {"image_size": image_size})).generator.num_downs == depth


def test_explicit_unet_depth_is_kept():
    recipe = override(Pix2PixRecipe(), {"image_size": 256, "generator": {"num_downs": 7}})
    assert Pix2Pix.resolve(recipe).generator.num_downs == 7


def test_set_overrides_are_typed():
    recipe = override(Pix2PixRecipe(), parse_sets(["generator.ngf=32", "optimizer.lr_g=1e-4", "data.flip=false",
                                                   "loss_weights.l1=50", "data.load_size=none"]))
    assert recipe.generator.ngf == 32 and recipe.optimizer.lr_g == 1e-4 and recipe.data.flip is False
    assert recipe.loss_weights == {"adversarial": 1.0, "l1": 50.0, "disc_real": 0.5, "disc_fake": 0.5}
    assert recipe.data.load_size is None


@pytest.mark.parametrize("item, message", [
    ("generator.ngff=3", "unknown recipe key 'generator.ngff'"),
    ("generator.ngf=3.5", "generator.ngf: expected an integer"),
    ("data.flip=maybe", "data.flip: expected true or false"),
    ("steps", "--set expects key=value"),
])
def test_bad_overrides_fail_at_once(item, message):
    with pytest.raises(I2IError, match=message):
        override(Pix2PixRecipe(), parse_sets([item]))


def test_round_trip_through_dict():
    recipe = override(Pix2PixRecipe(), {"generator": {"ngf": 8}, "steps": 7})
    assert from_dict(Pix2PixRecipe, to_dict(recipe)) == recipe


def test_presets_in_the_repository_resolve():
    for name in ("pix2pix-shapes", "pix2pix-facades"):
        preset = load_preset(f"recipes/{name}.toml")
        assert preset.pop("method") == "pix2pix"
        override(Pix2PixRecipe(), preset)
    facades = override(Pix2PixRecipe(), {k: v for k, v in load_preset("recipes/pix2pix-facades.toml").items()
                                         if k != "method"})
    assert facades.data.direction == "BtoA" and facades.steps == 80_000


def test_missing_preset_is_a_clear_error(tmp_path):
    with pytest.raises(I2IError, match="does not exist"):
        load_preset(tmp_path / "nope.toml")


def test_every_preset_resolves_against_its_method():
    from pathlib import Path

    from i2i.methods import METHODS

    presets = sorted(Path("recipes").glob("*.toml"))
    assert len(presets) >= 16
    for path in presets:
        preset = load_preset(path)
        method = preset.pop("method")
        override(METHODS[method].Recipe(), preset)   # unknown keys or wrong types raise
    shoes = override(METHODS["munit"].Recipe(), {k: v for k, v in load_preset("recipes/munit-edges2shoes.toml").items()
                                                 if k != "method"})
    assert shoes.data.layout == "aligned" and shoes.data.domains == ["edges", "shoes"] and shoes.steps == 1_000_000
    faces = override(METHODS["funit"].Recipe(), {k: v for k, v in load_preset("recipes/funit-animal-faces.toml").items()
                                                 if k != "method"})
    assert faces.data.load_size == 140 and faces.batch_size == 64 and faces.ema_decay == 0.999
