"""A training process killed with SIGKILL leaves a loadable checkpoint and resume state."""

import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint, load_state
from i2i.cli import app
from tests.conftest import kill_after_progress, write_pairs


def test_sigkill_during_training_leaves_the_last_checkpoint_usable(tmp_path):
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "i2i", "train", "pix2pix", "--data", str(data), "--out", str(run),
               "--steps", "100000", "--batch-size", "2", "--image-size", "32", "--device", "cpu",
               "--set", "generator.num_downs=5", "--set", "generator.ngf=4", "--set", "discriminator.ndf=4",
               "--set", "log.checkpoint_every=1", "--set", "log.sample_every=1000", "--set", "log.keep_checkpoints=2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((run / "checkpoints").glob("*.safetensors"))) < 2:
            time.sleep(0.2)
        time.sleep(0.37)  # land somewhere inside a step or a save
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    checkpoint = load_checkpoint(run)                        # newest file is complete and loads strictly
    checkpoint.generator(checkpoint.direction())
    state = load_state(run / "state.pt")
    assert state["step"] >= 1
    result = CliRunner().invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps",
                                      str(state["step"] + 2)])
    assert result.exit_code == 0, result.output
    assert f"trained {state['step'] + 2} steps" in result.output
    assert not list(run.rglob("*.i2i-tmp*"))                 # temporary files a kill left behind are cleared


def test_repeated_sigkill_and_resume_reach_the_uninterrupted_weights(tmp_path):
    """Kill -9 at random moments three times, resume each time: the final weights equal those of a run
    that was never interrupted (data order, augmentation and RNG are restored from state.pt)."""
    import random

    import torch

    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    steps = 40
    train = ["train", "pix2pix", "--steps", str(steps), "--batch-size", "2", "--image-size", "32", "--device", "cpu",
             "--set", "generator.num_downs=5", "--set", "generator.ngf=4", "--set", "discriminator.ndf=4",
             "--set", "log.checkpoint_every=1", "--set", "log.sample_every=1000", "--set", "log.keep_checkpoints=1"]

    def run_cli(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "i2i", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)

    straight = tmp_path / "straight"
    assert run_cli([*train, "--data", str(data), "--out", str(straight)]).wait() == 0

    killed = tmp_path / "killed"
    rng = random.Random(7)
    first = True
    for _ in range(3):
        args = [*train, "--data", str(data), "--out", str(killed)] if first else \
            ["train", "pix2pix", "--out", str(killed), "--resume"]
        process = run_cli(args)
        kill_after_progress(process, killed, 3, rng)
        assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        first = False
    assert load_state(killed / "state.pt")["step"] < steps
    assert run_cli(["train", "pix2pix", "--out", str(killed), "--resume"]).wait() == 0

    a = load_checkpoint(straight)
    b = load_checkpoint(killed)
    assert a.header["trained"]["steps"] == b.header["trained"]["steps"] == steps
    wa, wb = a.generator(a.direction()).state_dict(), b.generator(b.direction()).state_dict()
    assert all(torch.equal(wa[key], wb[key]) for key in wa)
    sa, sb = load_state(straight / "state.pt")["method"], load_state(killed / "state.pt")["method"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[key], sb[key]) for key in sa)   # D as well
