"""Every released model's exported graphs (generators and MUNIT/FUNIT encoders) give PyTorch's output,
to 1e-4 on [0, 1], in onnxruntime, onnx's ReferenceEvaluator, onnxruntime-web (wasm, in Node), OpenCV
DNN 5.x (new engine and ENGINE_CLASSIC) and OpenCV DNN 4.x (its own venv, .venv-opencv4, which
`make test` builds). benchmarks/runtime_matrix.py prints the same matrix as a table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.runtime_matrix import DEFAULT_OPENCV4, RUNTIMES, run_matrix

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def matrix(released_graphs, tmp_path_factory) -> list:
    opencv4 = Path(os.environ.get("I2I_OPENCV4_PYTHON", DEFAULT_OPENCV4))
    if not opencv4.exists():
        pytest.fail(f"no OpenCV 4.x environment at {opencv4}: `make test` builds it (.venv-opencv4), or set "
                    f"I2I_OPENCV4_PYTHON to a python with numpy and opencv-python-headless 4.x")
    for case in released_graphs:
        case.results.clear()
    return run_matrix(released_graphs, tmp_path_factory.mktemp("matrix"), opencv4)


def test_the_matrix_covers_every_method_and_encoder(released_graphs):
    names = {case.name for case in released_graphs}
    assert {"pix2pix-shapes", "cyclegan-stripes", "srresnet-x4-photos", "munit-styles", "funit-classes",
            "munit-styles style encoder", "funit-classes class encoder"} == names


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_graph_matches_pytorch_in(runtime, matrix):
    results = {case.name: case.results[runtime] for case in matrix}
    failing = {name: value for name, value in results.items()
               if not isinstance(value, float) or not value <= TOLERANCE}
    assert not failing, f"{runtime}: {failing}"
