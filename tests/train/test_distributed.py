"""Data-parallel training under torchrun with 2 gloo processes on CPU: the replicas stay identical,
the result equals one process with the same global batch, only rank 0 writes, and resume works."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from i2i.checkpoint import load_checkpoint, load_state
from tests.conftest import write_domain

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("h2z")
    write_domain(root / "horse" / "train", 8, (0.6, 0.4, 0.2), seed=0, noise=0.3)
    write_domain(root / "zebra" / "train", 8, (0.1, 0.1, 0.1), seed=1, noise=0.3)
    return root


def train(data: Path, out: Path, processes: int, steps: int, resume: bool = False) -> subprocess.CompletedProcess:
    """CycleGAN on 16 px images, without an image pool (its coin flips are per process) and without
    InstanceNorm: the conv biases before an InstanceNorm get a gradient of exactly 0 in theory, float noise
    in practice, which Adam's normalisation turns into full-size steps that differ with summation order."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] \
        if processes > 1 else [sys.executable]
    args = ["-m", "i2i", "train", "cyclegan", "--out", str(out), "--steps", str(steps)]
    if not resume:
        args += ["--data", str(data), "--domains", "horse", "zebra", "--batch-size", "4", "--image-size", "16",
                 "--device", "cpu", "--set", "generator.ngf=4", "--set", "generator.num_blocks=1",
                 "--set", "discriminator.ndf=4", "--set", "discriminator.n_layers=2", "--set", "pool_size=0",
                 "--set", "generator.norm=none", "--set", "discriminator.norm=none",
                 "--set", "schedule.decay_start=1.0",  # constant LR: a 2-step run is the first half of a 4-step one
                 "--set", "data.load_size=16", "--set", "log.log_every=1", "--set", "log.checkpoint_every=2",
                 "--set", "log.sample_every=100"]
    else:
        args += ["--resume"]
    result = subprocess.run([*launcher, *args], capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = load_state(run / "state.pt")["method"]
    return {k: v for k, v in state.items() if k.startswith(("generators.", "discriminators."))}


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(data, tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    train(data, one, 1, 4)
    result = train(data, two, 2, 4)
    assert result.stdout.count("trained 4 steps") == 1          # only rank 0 reports
    a, b = weights(one), weights(two)
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, worst                                  # same maths, another summation order
    with (two / "metrics.csv").open() as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4"]   # written once
    assert load_checkpoint(two).header["trained"]["steps"] == 4


def test_resume_under_torchrun_continues_exactly(data, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(data, straight, 2, 4)
    train(data, split, 2, 2)
    train(data, split, 2, 4, resume=True)
    a, b = weights(straight), weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)


def train_pix2pix(data: Path, out: Path, processes: int, sync: bool) -> None:
    """pix2pix with BatchNorm in G and D (no dropout: its masks are drawn per process), 2 steps."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] \
        if processes > 1 else [sys.executable]
    args = ["-m", "i2i", "train", "pix2pix", "--out", str(out), "--steps", "2", "--data", str(data),
            "--batch-size", "4", "--image-size", "32", "--device", "cpu", "--set", "generator.num_downs=5",
            "--set", "generator.ngf=4", "--set", "generator.dropout=0", "--set", "discriminator.ndf=4",
            "--set", "discriminator.n_layers=2", "--set", "data.load_size=32", "--set", "data.flip=false",
            "--set", f"sync_batchnorm={str(sync).lower()}", "--set", "log.sample_every=100"]
    result = subprocess.run([*launcher, *args], capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_synchronised_batchnorm_makes_two_processes_equal_one(tmp_path):
    from tests.conftest import write_pairs

    data = tmp_path / "pairs"
    write_pairs(data, "train", 8)
    train_pix2pix(data, tmp_path / "one", 1, sync=False)
    train_pix2pix(data, tmp_path / "synced", 2, sync=True)
    train_pix2pix(data, tmp_path / "unsynced", 2, sync=False)
    one, synced, unsynced = (weights(tmp_path / name) for name in ("one", "synced", "unsynced"))

    def worst(other: dict[str, torch.Tensor]) -> float:
        return max((one[k] - other[k]).abs().max().item() for k in one if one[k].is_floating_point())

    assert one.keys() == synced.keys()                       # checkpoints keep BatchNorm's keys
    assert worst(synced) < 1e-4, worst(synced)               # global-batch statistics: the same training
    assert worst(unsynced) > 1e-3, worst(unsynced)           # each slice's own statistics: another one
