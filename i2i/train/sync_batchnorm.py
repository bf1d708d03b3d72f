"""Synchronised BatchNorm for data-parallel training on any device.

Under torchrun each process sees a slice of the global batch; plain BatchNorm normalises with that
slice's statistics, so 4 processes × 4 images train differently from one process with 16. PyTorch's
own `nn.SyncBatchNorm` fixes this only on GPUs (it refuses CPU tensors), so this one computes the
per-channel sum and sum of squares, all-reduces them with the differentiable collective
(`torch.distributed.nn.functional.all_reduce`: the backward pass sums the gradients of the shared
statistics over the processes, as the exact gradient of the global batch's normalisation requires),
and normalises with the global mean and (biased) variance. Running statistics get the unbiased global
variance, as BatchNorm's. It is a `BatchNorm2d` subclass with the same parameters and buffers, so
checkpoints, EMA copies and the inference conversion (`i2i.nn.convert`) treat it as BatchNorm.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


class SyncBatchNorm2d(nn.BatchNorm2d):
    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce

        channels = input.shape[1]
        count = torch.tensor([input.numel() / channels], device=input.device, dtype=torch.float32)
        moments = torch.cat([input.sum(dim=(0, 2, 3)), input.pow(2).sum(dim=(0, 2, 3)), count]).float()
        moments = all_reduce(moments)
        total, squares, n = moments[:channels], moments[channels:2 * channels], moments[-1]
        mean = total / n
        var = (squares / n - mean.pow(2)).clamp(min=0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach().to(self.running_mean), momentum)
                unbiased = var.detach() * n / max(float(n) - 1, 1.0)
                self.running_var.lerp_(unbiased.to(self.running_var), momentum)
        output = (input - mean.view(1, -1, 1, 1).to(input.dtype)) * torch.rsqrt(
            var.view(1, -1, 1, 1) + self.eps).to(input.dtype)
        if self.affine:
            output = output * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return output


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in `module` (in place) by a SyncBatchNorm2d holding the same tensors."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = SyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                     child.track_running_stats)
            tensors = list(child.parameters()) + list(child.buffers())
            synced.to(tensors[0].device if tensors else "cpu")
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced)
        else:
            convert_sync_batchnorm(child)
    return module

