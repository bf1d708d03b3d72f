"""A training process killed with SIGKILL leaves a loadable checkpoint and resume state."""

import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint, load_state
from i2i.cli import app
from tests.conftest import write_pairs


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
