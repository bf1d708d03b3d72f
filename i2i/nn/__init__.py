"""The shared backbone library: bricks, not networks. Every model in `i2i.models` is built from these.
Imports torch only: nothing else of i2i."""

from i2i.nn.adain import AdaIN, LayerNorm2d, StyleMLP, adaptive_instance_norm, split_adain_params
from i2i.nn.conv import ConvNormAct
from i2i.nn.factory import ACTIVATIONS, NORMS, PADDINGS, get_act, get_norm, get_pad, uses_bias
from i2i.nn.init import INIT_SCHEMES, init_weights
from i2i.nn.resblock import AdaINResBlock, PreActResBlock, ResBlock
from i2i.nn.sampling import ConvTransposeUp, Downsample, NearestUpConv, PixelShuffleUp

__all__ = [
    "ACTIVATIONS", "INIT_SCHEMES", "NORMS", "PADDINGS",
    "AdaIN", "AdaINResBlock", "ConvNormAct", "LayerNorm2d", "PreActResBlock", "StyleMLP", "ConvTransposeUp", "Downsample", "NearestUpConv", "PixelShuffleUp", "ResBlock",
    "adaptive_instance_norm", "get_act", "get_norm", "get_pad", "init_weights", "split_adain_params", "uses_bias",
]
