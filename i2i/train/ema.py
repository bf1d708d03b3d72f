"""Exponential moving average of generator weights (Karras et al. 2018; Yazıcı et al. 2019)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """θ_ema ← decay·θ_ema + (1 − decay)·θ after every generator step; buffers (BatchNorm running
    statistics) are copied, not averaged."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        for averaged, current in zip(self.module.parameters(), source.parameters(), strict=True):
            averaged.lerp_(current.detach(), 1.0 - self.decay)
        for averaged, current in zip(self.module.buffers(), source.buffers(), strict=True):
            averaged.copy_(current)
