"""Write faults for real: a file-size limit (RLIMIT_FSIZE, as a full quota behaves) in a subprocess.
Translate names every output it could not write and keeps the others; training keeps the last
checkpoint; no partial file is left under a final name, no temporary is left at all."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import numpy as np
from PIL import Image

from i2i.checkpoint import load_checkpoint, load_state
from tests.conftest import write_pairs, write_tiny_checkpoint


def _limited(limit_bytes: int):
    def apply() -> None:
        # Past the limit the kernel sends SIGXFSZ (which would kill the process); ignored, the write
        # fails with EFBIG instead, which is what i2i must handle.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_translate_over_a_file_size_limit_names_the_outputs_and_keeps_the_rest(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write_tiny_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, side in (("small_a", 32), ("small_b", 32), ("big", 256)):   # noise: PNG barely compresses it
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(inputs / f"{name}.png")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "i2i", "translate", str(checkpoint), str(inputs), "--out", str(out)],
                            capture_output=True, text=True, timeout=300, preexec_fn=_limited(64 * 1024))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"{out / 'big.png'}: cannot write" in errors[0] and "File too large" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["small_a.png", "small_b.png"]   # no partial big.png, no temp
    for name in ("small_a.png", "small_b.png"):
        assert Image.open(out / name).size == (32, 32)


def test_training_over_a_file_size_limit_keeps_the_last_checkpoint(tmp_path):
    data = tmp_path / "data"
    write_pairs(data, "train", 4)
    run = tmp_path / "run"
    base = [sys.executable, "-m", "i2i", "train", "pix2pix", "--data", str(data), "--out", str(run), "--batch-size",
            "2", "--image-size", "32", "--device", "cpu", "--set", "generator.num_downs=5", "--set", "generator.ngf=4",
            "--set", "discriminator.ndf=4", "--set", "log.sample_every=1000", "--set", "log.checkpoint_every=2",
            "--set", "log.tensorboard=false"]
    assert subprocess.run([*base, "--steps", "2"], capture_output=True, timeout=300).returncode == 0
    saved = load_checkpoint(run).path.read_bytes()
    # The resume state (optimiser moments: ~3× the weights) no longer fits; the checkpoint alone would.
    limit = len(saved) + 4096
    result = subprocess.run([*base, "--steps", "4", "--resume"], capture_output=True, text=True, timeout=300,
                            preexec_fn=_limited(limit))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "could not save step 4" in message and "writing state.pt failed" in message
    assert "the previous checkpoint" in message and "step_0000002.safetensors and its state.pt are kept" in message
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000002.safetensors"]
    assert load_state(run / "state.pt")["step"] == 2                   # the previous state is whole
    assert load_checkpoint(run / "checkpoints" / "step_0000002.safetensors").header["trained"]["steps"] == 2
    assert not list(run.rglob("*.i2i-tmp*"))
