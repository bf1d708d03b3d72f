"""Translate processes sharing an output folder: with --skip-existing, two live runs write every output
exactly once between them, complete; a killed run's leftovers are taken over by the next; a live
process's claim and temporaries are never touched (`i2i.inference.claims`)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from i2i.cli import app
from i2i.images import read_image, write_image
from i2i.inference import claims
from i2i.inference.jobs import remove_stale_temporaries
from tests.conftest import write_tiny_checkpoint

SUMMARY = re.compile(r"translated (\d+) of (\d+) images \((\d+) skipped as existing, (\d+) failed\)")


def _inputs(folder: Path, count: int, side: int = 128) -> None:
    write_image(folder / "x000.png", np.random.default_rng(0).random((side, side, 3)))
    for index in range(1, count):  # copies: as slow to translate as distinct images, instant to make
        shutil.copy(folder / "x000.png", folder / f"x{index:03d}.png")


# `python -m i2i …` that imports torch and the CLI first, says it is ready, then waits for the file `go`:
# two processes started so begin translating at the same moment, whatever their start-up times.
_AT_THE_SIGNAL = """
import os, pathlib, runpy, sys, time
import torch, i2i.cli
go = pathlib.Path(sys.argv[1])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["i2i", *sys.argv[2:]]
runpy.run_module("i2i", run_name="__main__", alter_sys=True)
"""


def _translate(checkpoint: Path, source: Path, out: Path, *flags: str, go: Path | None = None) -> subprocess.Popen:
    start = [sys.executable, "-c", _AT_THE_SIGNAL, str(go)] if go is not None else [sys.executable, "-m", "i2i"]
    return subprocess.Popen([*start, "translate", str(checkpoint), str(source), "--out", str(out), "--batch-size",
                             "1", "--device", "cpu", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".i2i-tmp" in p.name or p.name.endswith(claims.SUFFIX))


def _complete(out: Path, names: list[str], side: int) -> None:
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        assert read_image(out / name)[0].shape == (side, side, 3)


def test_two_live_runs_write_every_output_exactly_once(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write_tiny_checkpoint(checkpoint)
    source, out, count, go = tmp_path / "in", tmp_path / "out", 48, tmp_path / "go"
    _inputs(source, count)
    first = _translate(checkpoint, source, out, "--skip-existing", go=go)
    second = _translate(checkpoint, source, out, "--skip-existing", go=go)
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    summaries = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        summaries.append([int(n) for n in SUMMARY.search(stdout).groups()])
    written = [summary[0] for summary in summaries]
    assert sum(written) == count, summaries                        # each output by one of them, once
    assert all(summary[1] == count and summary[0] + summary[2] == count for summary in summaries), summaries
    assert min(written) > 0, summaries                             # they did run side by side
    _complete(out, [f"x{index:03d}.png" for index in range(count)], 128)
    assert not _leftovers(out)


def test_a_killed_run_is_taken_over_and_its_finished_outputs_kept(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write_tiny_checkpoint(checkpoint)
    source, out, count = tmp_path / "in", tmp_path / "out", 40
    _inputs(source, count)
    process = _translate(checkpoint, source, out)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(out.glob("x*.png")) if out.exists() else []) < 5:
            time.sleep(0.01)
        time.sleep(np.random.default_rng().uniform(0, 0.1))   # land anywhere in a decode, forward or write
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("x*.png")}
    assert 5 <= len(finished) < count
    assert any(name.endswith(claims.SUFFIX) for name in _leftovers(out))   # the dead run's claims are there
    # and what a writer killed mid-write leaves: a temporary of a missing output
    (out / ".x039.png.deadbeef.i2i-tmp.png").write_bytes(b"partial")
    result = CliRunner().invoke(app, ["translate", str(checkpoint), str(source), "--out", str(out), "--skip-existing",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"translated {count - len(finished)} of {count} images ({len(finished)} skipped" in result.output
    _complete(out, [f"x{index:03d}.png" for index in range(count)], 128)
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished   # not written again
    assert not _leftovers(out)


_HOLDER = """
import sys
from pathlib import Path
from i2i.inference import claims
claim = claims.take(Path(sys.argv[1]))
assert not isinstance(claim, str), claim
print("held", flush=True)
sys.stdin.read()   # until the test closes the pipe
claim.release()
"""


def test_a_live_claim_and_its_temporaries_are_left_alone(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write_tiny_checkpoint(checkpoint)
    source, out = tmp_path / "in", tmp_path / "out"
    _inputs(source, 3, side=32)
    out.mkdir()
    temporary = out / ".x001.png.abcd1234.i2i-tmp.png"   # the other process is writing it
    temporary.write_bytes(b"half an image")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out / "x001.png")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        runner = CliRunner()
        base = ["translate", str(checkpoint), str(source), "--out", str(out), "--device", "cpu"]
        result = runner.invoke(app, [*base, "--skip-existing"])
        assert result.exit_code == 0, result.output
        assert "translated 2 of 3 images (1 skipped as existing, 0 failed)" in result.output
        assert not (out / "x001.png").exists() and temporary.exists()
        result = runner.invoke(app, [*base, "--overwrite"])
        assert result.exit_code == 1
        assert f"error: {out / 'x001.png'}: being written by another translate (pid {holder.pid} on " in \
            " ".join(result.output.split())
        assert temporary.exists() and (out / ".x001.png.i2i-claim").exists()
    finally:
        holder.communicate("")
    result = CliRunner().invoke(app, [*base, "--skip-existing"])
    assert result.exit_code == 0 and "translated 1 of 3 images (2 skipped as existing" in result.output
    _complete(out, ["x000.png", "x001.png", "x002.png"], 32)
    assert not _leftovers(out)


_TAKE_AND_DIE = """
import os, sys
from pathlib import Path
from i2i.inference import claims
claims.take(Path(sys.argv[1]))
os._exit(0)   # no release: as kill -9 leaves it
"""


def test_claims_are_exclusive_and_a_dead_holders_claim_is_free(tmp_path):
    target = tmp_path / "a.png"
    claim = claims.take(target)
    assert isinstance(claim, claims.Claim) and claims.claim_path(target).exists()
    assert claims.take(target) == f"pid {os.getpid()} on {socket.gethostname()}"   # one holder, even here
    claim.release()
    assert not claims.claim_path(target).exists()
    subprocess.run([sys.executable, "-c", _TAKE_AND_DIE, str(target)], check=True)
    assert claims.claim_path(target).exists()                  # left behind, but its lock died with it
    claim = claims.take(target)
    assert isinstance(claim, claims.Claim)
    claim.release()
    assert claims.claimed_name(".a.png.i2i-claim") == "a.png" and claims.claimed_name("a.png") is None
    # remove_stale_temporaries: a dead writer's temporary and claim go, a live one's stay
    subprocess.run([sys.executable, "-c", _TAKE_AND_DIE, str(target)], check=True)
    (tmp_path / ".a.png.0123abcd.i2i-tmp.png").write_bytes(b"x")
    live = claims.take(tmp_path / "b.png")
    (tmp_path / ".b.png.0123abcd.i2i-tmp.png").write_bytes(b"x")
    assert remove_stale_temporaries([target, tmp_path / "b.png"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.png.0123abcd.i2i-tmp.png", ".b.png.i2i-claim"]
    live.release()
