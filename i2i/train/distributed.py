"""Data-parallel training under `torchrun` (PyTorch's own launcher and process groups).

    torchrun --nproc-per-node N -m i2i train METHOD ...

Each process trains a replica on its share of every batch (`recipe.batch_size` is the global batch,
split evenly by rank); after each backward pass the gradients are averaged over the processes with
one all-reduce, so every replica takes the same optimiser step and stays identical. That is what
DistributedDataParallel does, written out here because a method calls its networks' parts directly
(`gen_a.encode`, `disc(x, labels)`, …), which DDP's forward hooks do not see. NCCL on CUDA, gloo on CPU;
one node or many — torchrun's environment variables say which. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from i2i.errors import I2IError


class Distributed:
    """rank / world size of this process (0 / 1 outside torchrun) and the collective operations."""

    def __init__(self, device: torch.device) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world_size > 1
        self.device = device
        if self.enabled and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend)
            if device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch_size: int) -> tuple[int, int]:
        """(first index, count) of this rank's slice of a global batch."""
        if batch_size % self.world_size:
            raise I2IError(f"--batch-size {batch_size} (the global batch) must be divisible by the number of "
                           f"processes ({self.world_size})")
        per_rank = batch_size // self.world_size
        return self.rank * per_rank, per_rank

    def broadcast(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers to every process (identical replicas from the start)."""
        if self.enabled:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, 0)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        if not self.enabled:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce for the whole network
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def all_finite(self, finite: bool) -> bool:
        """True only if every process saw finite losses: all skip a bad step together, or none does."""
        if not self.enabled:
            return finite
        flag = torch.tensor([1.0 if finite else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
