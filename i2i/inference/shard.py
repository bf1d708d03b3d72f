"""This process's share of a translation run under torchrun: disjoint slices, no process group."""

from __future__ import annotations

import os
from dataclasses import dataclass

from i2i.errors import I2IError
from i2i.inference.jobs import Job


@dataclass(frozen=True)
class Shard:
    """This process's share of the inputs. Under `torchrun --nproc-per-node N` (which sets RANK,
    WORLD_SIZE and LOCAL_RANK), rank r takes jobs r, r+N, r+2N, … of the list sorted by output path:
    every rank computes the same list, so the slices are disjoint and cover it, with no communication."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0   # which GPU of this machine the rank uses

    @classmethod
    def from_environment(cls) -> Shard:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
        values = {name: os.environ.get(name, "") for name in names}
        if not values["WORLD_SIZE"]:
            return cls()
        try:
            rank, world_size = int(values["RANK"]), int(values["WORLD_SIZE"])
            local_rank = int(values["LOCAL_RANK"] or 0)
        except ValueError:
            raise I2IError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them), got "
                           f"{', '.join(f'{n}={v!r}' for n, v in values.items())}") from None
        if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
            raise I2IError(f"RANK={rank} WORLD_SIZE={world_size} LOCAL_RANK={local_rank}: need 0 <= RANK < WORLD_SIZE")
        return cls(rank, world_size, local_rank)

    def take(self, jobs: list[Job]) -> list[Job]:
        if self.world_size == 1:
            return jobs
        return sorted(jobs, key=lambda job: str(job.target))[self.rank::self.world_size]

    @property
    def label(self) -> str:
        """"rank 1 of 4: " under torchrun, else "": the prefix of this process's summary line."""
        return f"rank {self.rank} of {self.world_size}: " if self.world_size > 1 else ""
