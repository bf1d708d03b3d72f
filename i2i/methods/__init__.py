"""Training procedures, one file per paper. A method = Recipe (paper defaults) + losses."""

from i2i.methods.base import Method, Recipe
from i2i.methods.cyclegan import CycleGAN, CycleGANRecipe
from i2i.methods.funit import FUNIT, FUNITRecipe
from i2i.methods.munit import MUNIT, MUNITRecipe
from i2i.methods.pix2pix import Pix2Pix, Pix2PixRecipe
from i2i.methods.srgan import SRGAN, SRGANRecipe

METHODS: dict[str, type[Method]] = {
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "srgan": SRGAN,
    "munit": MUNIT,
    "funit": FUNIT,
}

__all__ = ["FUNIT", "FUNITRecipe", "METHODS", "MUNIT", "MUNITRecipe", "CycleGAN", "CycleGANRecipe", "Method", "Pix2Pix", "Pix2PixRecipe", "Recipe", "SRGAN", "SRGANRecipe"]
