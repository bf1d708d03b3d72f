"""examples/opencv/translate_opencv.py: cv2.dnn + numpy only, with OpenCV 5 (both engines, in this
environment, with onnxruntime, onnx and torch made unimportable) and OpenCV 4.14 (.venv-opencv4, which
has nothing else installed). Its outputs equal `i2i translate`'s to 1/255 for every released model:
pix2pix, CycleGAN, SRResNet ×4, MUNIT with a seeded style and FUNIT with K class images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmarks.runtime_matrix import DEFAULT_OPENCV4, ROOT
from i2i.cli import app

EXAMPLE = ROOT / "examples" / "opencv" / "translate_opencv.py"
POISONED = ("import runpy, sys\n"
            "for name in ('torch', 'i2i', 'onnxruntime', 'onnx'): sys.modules[name] = None\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
OPENCV4 = Path(os.environ.get("I2I_OPENCV4_PYTHON", DEFAULT_OPENCV4))


def photo(path: Path, size: tuple[int, int], name: str = "chelsea.png") -> Path:
    """A real photo (scikit-image's), resized to `size` (W, H): sizes that are not multiples of the
    models' multiple_of, so the example's padding is exercised."""
    import skimage

    image = Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB").resize(size, Image.BICUBIC)
    image.save(path)
    return path


@pytest.fixture(scope="module")
def graphs(released_graphs) -> dict[str, Path]:
    return {case.name: case.path for case in released_graphs if "encoder" not in case.name}


def interpreters() -> list[tuple[str, list[str]]]:
    if not OPENCV4.exists():
        pytest.fail(f"no OpenCV 4.x environment at {OPENCV4}: `make test` builds it (.venv-opencv4)")
    return [("opencv5-new", [sys.executable, "-c", POISONED, str(EXAMPLE), "--engine", "new"]),
            ("opencv5-classic", [sys.executable, "-c", POISONED, str(EXAMPLE), "--engine", "classic"]),
            ("opencv4", [str(OPENCV4), str(EXAMPLE)])]


CASES = {
    "pix2pix-shapes": ([], []),
    "cyclegan-stripes": ([], []),
    "srresnet-x4-photos": ([], []),
    "munit-styles": (["--seed", "3"], ["--seed", "3"]),
    "funit-classes": (["--class-images"], ["--class-images"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_example_matches_i2i_translate(name, graphs, tmp_path):
    size = (40, 30) if name == "srresnet-x4-photos" else (100, 75)
    source = photo(tmp_path / "in.png", size)
    example_args, translate_args = CASES[name]
    if name == "funit-classes":  # K = 2 examples of the target class, at the training size (no resize)
        references = [photo(tmp_path / f"ref{i}.png", (32, 32), n) for i, n in enumerate(("coffee.png", "astronaut.png"))]
        example_args = ["--class-images", *map(str, references)]
        (tmp_path / "class").mkdir()
        for reference in references:
            (tmp_path / "class" / reference.name).write_bytes(reference.read_bytes())
        translate_args = ["--class-images", str(tmp_path / "class")]
    result = CliRunner().invoke(app, ["translate", str(graphs[name]), str(source), "--out", str(tmp_path / "i2i"),
                                      *translate_args])
    assert result.exit_code == 0, result.output
    expected = np.asarray(Image.open(tmp_path / "i2i" / "in.png").convert("RGB"), dtype=np.int16)
    for label, command in interpreters():
        out = tmp_path / f"{label}.png"
        done = subprocess.run([*command, str(graphs[name]), str(source), str(out), *example_args],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{label}: {done.stderr[-2000:]}"
        actual = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
        assert actual.shape == expected.shape, label
        assert np.abs(actual - expected).max() <= 1, f"{label}: max {np.abs(actual - expected).max()} grey levels"


def test_example_reads_the_metadata_without_the_onnx_package(graphs):
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from translate_opencv import read_metadata
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    import onnx

    expected = {entry.key: entry.value for entry in onnx.load(str(graphs["munit-styles"])).metadata_props}
    assert read_metadata(graphs["munit-styles"]) == expected
