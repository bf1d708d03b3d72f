"""Training procedures, one file per paper. A method = Recipe (paper defaults) + losses."""

from i2i.methods.base import Method, Recipe
from i2i.methods.pix2pix import Pix2Pix, Pix2PixRecipe

METHODS: dict[str, type[Method]] = {
    "pix2pix": Pix2Pix,
}

__all__ = ["METHODS", "Method", "Pix2Pix", "Pix2PixRecipe", "Recipe"]
