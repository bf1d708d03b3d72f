"""Layer swaps applied to a trained network before inference or export."""

from __future__ import annotations

from torch import nn


def batchnorm_to_instancenorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by an affine InstanceNorm2d with the same scale, shift and eps.

    For one image, BatchNorm in training mode normalises with that image's own per-channel
    statistics — exactly InstanceNorm. This is how the reference pix2pix runs at test time (train
    mode, batch 1), made batch-independent and exportable (ONNX InstanceNormalization). In place;
    returns `module`.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            replacement = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=True,
                                            track_running_stats=False)
            replacement.weight.data.copy_(child.weight.data)
            replacement.bias.data.copy_(child.bias.data)
            replacement.to(child.weight.device)
            setattr(module, name, replacement)
        else:
            batchnorm_to_instancenorm(child)
    return module
