"""Requeue-safe runs: `--resume` accepts the run's own options again and refuses only differing ones;
`--resume auto` lets one command line start, continue and finish a job however often it is killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import torch
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint, load_state
from i2i.cli import app
from tests.conftest import kill_after_progress, write_pairs

runner = CliRunner()
TINY = ["--batch-size", "2", "--image-size", "32", "--device", "cpu", "--set", "generator.num_downs=5",
        "--set", "generator.ngf=4", "--set", "discriminator.ndf=4", "--set", "log.sample_every=1000"]


def test_resume_accepts_the_same_options_and_names_the_differing_ones(tmp_path):
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    run = tmp_path / "run"
    first = ["train", "pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *TINY]
    assert runner.invoke(app, first).exit_code == 0
    again = runner.invoke(app, [*first[:-len(TINY)], *TINY, "--resume", "--steps", "3"])
    assert again.exit_code == 0, again.output
    assert "trained 3 steps" in again.output
    changed = runner.invoke(app, ["train", "pix2pix", "--data", str(data), "--out", str(run), "--resume",
                                  "--steps", "4", "--batch-size", "4", "--set", "generator.ngf=8"])
    assert changed.exit_code == 2
    text = " ".join(changed.output.split())
    assert "batch_size is 2 in the run, 4 now" in text and "generator.ngf is 4 in the run, 8 now" in text
    assert text.count("error:") == 1
    assert load_state(run / "state.pt")["step"] == 3   # nothing was trained by the refused command


def test_resume_auto_starts_a_fresh_run_and_needs_an_out(tmp_path):
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    run = tmp_path / "run"
    command = ["train", "pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *TINY, "--resume", "auto"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0 and "trained 2 steps" in result.output, result.output
    result = runner.invoke(app, [*command[:command.index("--steps") + 1], "3", *command[command.index("--steps") + 2:]])
    assert result.exit_code == 0 and "trained 3 steps" in result.output, result.output
    no_out = runner.invoke(app, ["train", "pix2pix", "--data", str(data), "--resume", "auto"])
    assert no_out.exit_code == 2 and "--resume auto needs --out" in no_out.output


def test_the_same_command_killed_and_rerun_reaches_the_uninterrupted_weights(tmp_path):
    """One command line, run, SIGKILLed at random moments and rerun three times, then run to the end:
    the weights equal those of a run that was never interrupted."""
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    steps = 40

    def command(out) -> list[str]:
        return [sys.executable, "-m", "i2i", "train", "pix2pix", "--data", str(data), "--out", str(out),
                "--steps", str(steps), *TINY, "--set", "log.checkpoint_every=1", "--set", "log.keep_checkpoints=1",
                "--set", "log.log_every=1",
                "--resume", "auto"]

    straight = tmp_path / "straight"
    assert subprocess.run(command(straight), env=env, capture_output=True).returncode == 0
    job = tmp_path / "job"
    rng = random.Random(3)
    for _ in range(3):
        process = subprocess.Popen(command(job), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        kill_after_progress(process, job, 3, rng)
        assert process.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert load_state(job / "state.pt")["step"] < steps
    finished = subprocess.run(command(job), env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    a, b = load_checkpoint(straight), load_checkpoint(job)
    assert a.header["trained"]["steps"] == b.header["trained"]["steps"] == steps
    wa, wb = a.generator("A->B").state_dict(), b.generator("A->B").state_dict()
    assert all(torch.equal(wa[key], wb[key]) for key in wa)
    rows = (job / "metrics.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, steps + 1))   # one row per step, no repeats
