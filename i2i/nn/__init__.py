"""The shared backbone library: bricks, not networks. Every model in `i2i.models` is built from these."""

from i2i.nn.conv import ConvNormAct
from i2i.nn.factory import ACTIVATIONS, NORMS, PADDINGS, get_act, get_norm, get_pad, uses_bias
from i2i.nn.init import INIT_SCHEMES, init_weights
from i2i.nn.resblock import ResBlock
from i2i.nn.sampling import ConvTransposeUp, Downsample, NearestUpConv, PixelShuffleUp

__all__ = [
    "ACTIVATIONS", "INIT_SCHEMES", "NORMS", "PADDINGS",
    "ConvNormAct", "ConvTransposeUp", "Downsample", "NearestUpConv", "PixelShuffleUp", "ResBlock",
    "get_act", "get_norm", "get_pad", "init_weights", "uses_bias",
]
