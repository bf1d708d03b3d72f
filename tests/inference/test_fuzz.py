"""Fuzzing the image readers: mangled PNG/JPEG/TIFF/WebP files through `translate` and the training data
reader. Every file is either translated or named with a reason; nothing raises, nothing crashes.

Seeded and bounded: I2I_FUZZ_FILES files (default 240) from I2I_FUZZ_SEED (default 0), each a real
small image with random byte flips, a truncation, or header edits (the first bytes, where formats keep
sizes and chunk lengths), or two of those together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.data.paired import read_rgb
from i2i.errors import I2IError
from i2i.inference.backend import Backend
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import translate_files
from i2i.preprocess import Preprocess
from tests.conftest import write_tiny_checkpoint

FILES = int(os.environ.get("I2I_FUZZ_FILES", "240"))
SEED = int(os.environ.get("I2I_FUZZ_SEED", "0"))
FORMATS = {".png": {}, ".jpg": {"quality": 90}, ".tif": {}, ".webp": {"quality": 80}}


def _originals(folder: Path, rng: np.random.Generator) -> list[bytes]:
    """One small image per format and mode (RGB, RGBA where the format has alpha, grey, 16-bit PNG)."""
    pixels = (rng.random((37, 29, 3)) * 255).astype(np.uint8)
    images = [Image.fromarray(pixels), Image.fromarray(pixels).convert("L"),
              Image.fromarray(np.dstack([pixels, pixels[..., :1]]), "RGBA")]
    blobs = []
    for suffix, options in FORMATS.items():
        for image in images:
            if image.mode == "RGBA" and suffix == ".jpg":
                continue
            path = folder / f"original{suffix}"
            image.save(path, **options)
            blobs.append((suffix, path.read_bytes()))
    Image.fromarray((rng.random((21, 17)) * 65535).astype(np.uint16)).save(folder / "sixteen.png")
    blobs.append((".png", (folder / "sixteen.png").read_bytes()))
    return blobs


def _mangle(data: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(data)
    for edit in rng.choice(["flip", "truncate", "header"], size=int(rng.integers(1, 3)), replace=False):
        if edit == "flip" and data:
            for index in rng.integers(0, len(data), size=int(rng.integers(1, 24))):
                data[index] ^= 1 << int(rng.integers(0, 8))
        elif edit == "truncate" and data:
            data = data[:int(rng.integers(0, len(data)))]
        elif edit == "header" and len(data) > 8:
            start = int(rng.integers(0, min(64, len(data) - 4)))
            data[start:start + 4] = rng.integers(0, 256, size=4, dtype=np.uint8).tobytes()
    return bytes(data)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Path:
    rng = np.random.default_rng(SEED)
    folder = tmp_path_factory.mktemp("fuzz")
    originals = _originals(folder, rng)
    out = folder / "in"
    out.mkdir()
    for index in range(FILES):
        suffix, blob = originals[index % len(originals)]
        (out / f"{index:04d}{suffix}").write_bytes(_mangle(blob, rng))
    return out


def test_translate_names_every_bad_file_and_writes_the_rest(fuzzed, tmp_path):
    backend = Backend(lambda batch: batch, Preprocess(size=32), "A->B", "identity")
    jobs = collect_jobs([str(fuzzed)], tmp_path / "out")
    assert len(jobs) == FILES
    report = translate_files(backend, jobs, batch_size=3)   # never raises for a bad input
    assert len(report.written) + len(report.failed) == FILES
    for source, reason in report.failed:
        assert reason.startswith(str(source)) and "Traceback" not in reason, reason
    for target in report.written:
        assert Image.open(target).size[0] > 0   # what was written is a readable image
    print(f"fuzz: {FILES} files, {len(report.written)} translated, {len(report.failed)} named; reasons: "
          f"{sorted({reason.split(': ', 1)[1].split(' (')[0] for _, reason in report.failed})}")


def test_the_training_reader_raises_only_named_usage_errors(fuzzed):
    read, named = 0, 0
    for path in sorted(fuzzed.iterdir()):
        try:
            rgb = read_rgb(path)
            assert rgb.ndim == 3 and rgb.shape[2] == 3 and np.isfinite(rgb).all()
            read += 1
        except I2IError as error:
            assert str(error).startswith(str(path)), str(error)
            named += 1
    assert read + named == FILES


def test_the_cli_prints_no_traceback(fuzzed, tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write_tiny_checkpoint(checkpoint)
    files = sorted(fuzzed.iterdir())[:60]
    result = subprocess.run([sys.executable, "-m", "i2i", "translate", str(checkpoint), *map(str, files),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace("error:", "")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    written = list((tmp_path / "out").iterdir())
    assert len(errors) + len(written) == len(files), result.stderr
