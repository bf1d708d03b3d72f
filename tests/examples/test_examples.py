"""examples/python/translate_onnx.py: numpy + Pillow + onnxruntime only, same files as `i2i translate`."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.export.onnx import export_onnx
from i2i.images import write_image
from i2i.models import UNetConfig, UNetGenerator
from i2i.preprocess import Preprocess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "translate_onnx.py"

# Run the example in a process where `import torch` and `import i2i` raise ImportError.
POISONED = ("import runpy, sys\n"
            "sys.modules['torch'] = None; sys.modules['i2i'] = None\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """A 5-level U-Net of 4 base channels (multiple_of 32) exported by `i2i export`, once per session
    (tests/examples/test_web_example.py uses it too)."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4))
    net.train()(torch.randn(4, 3, 32, 32))
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, Preprocess(size=32, multiple_of=32),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(folder / "model.safetensors", {"A->B": net}, header)
    export_onnx(folder / "model.safetensors", folder / "model.onnx")
    return folder / "model.onnx"


@pytest.fixture
def inputs(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    write_image(folder / "a.png", rng.random((32, 32, 3)))
    write_image(folder / "b.png", rng.random((32, 32, 3)))                # same size as a: one batch
    write_image(folder / "sub" / "c.jpg", rng.random((45, 70, 3)))        # padded to 64×96
    write_image(folder / "sub" / "d.png", rng.random((12, 20, 3)))        # pad larger than the image
    rgba = (rng.random((33, 40, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "e.png")
    Image.fromarray((rng.random((32, 40)) * 255).astype(np.uint8), "L").save(folder / "f.png")
    return folder


def run_example(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", POISONED, str(EXAMPLE), *args], capture_output=True, text=True)


def test_the_example_process_cannot_import_torch_or_i2i():
    for module in ("torch", "i2i"):
        probe = subprocess.run([sys.executable, "-c", POISONED.replace("runpy.run_path(sys.argv[0], run_name='__main__')",
                                                                       f"import {module}")], capture_output=True, text=True)
        assert probe.returncode != 0 and "None in sys.modules" in probe.stderr, module


def test_example_writes_what_i2i_translate_writes(model, inputs, tmp_path):
    result = run_example(str(model), str(inputs), "--out", str(tmp_path / "example"), "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert "A->B" in result.stdout and "multiples of 32" in result.stdout
    cli = CliRunner().invoke(app, ["translate", str(model), str(inputs), "--backend", "onnx",
                                   "--out", str(tmp_path / "i2i")])
    assert cli.exit_code == 0, cli.output

    names = sorted(str(p.relative_to(tmp_path / "i2i")) for p in (tmp_path / "i2i").rglob("*") if p.is_file())
    assert names == ["a.png", "b.png", "e.png", "f.png", "sub/c.jpg", "sub/d.png"]
    assert sorted(str(p.relative_to(tmp_path / "example")) for p in (tmp_path / "example").rglob("*")
                  if p.is_file()) == names
    for name in names:
        ours, theirs = Image.open(tmp_path / "example" / name), Image.open(tmp_path / "i2i" / name)
        assert (ours.mode, ours.size) == (theirs.mode, theirs.size), name
        difference = np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16)).max()
        assert difference <= 1, (name, difference)                        # ≤ 1/255


def save_plain_onnx(path: Path) -> Path:
    """An identity graph with the right input/output names but no i2i metadata."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["translated"])], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("translated", TensorProto.FLOAT, [1, 3, 4, 4])])
    onnx.save(helper.make_model(graph), path)
    return path


def test_example_refuses_a_model_without_i2i_metadata(tmp_path):
    save_plain_onnx(tmp_path / "plain.onnx")
    write_image(tmp_path / "x.png", np.zeros((4, 4, 3)))
    result = run_example(str(tmp_path / "plain.onnx"), str(tmp_path / "x.png"), "--out", str(tmp_path / "o"))
    assert result.returncode != 0 and "no i2i metadata" in result.stderr


@pytest.mark.parametrize("variant", ["int8", "fp16"])
def test_example_runs_the_int8_and_fp16_files_like_i2i_translate(variant, model, inputs, tmp_path):
    """The files `i2i export --quantize int8` and `--precision fp16` write go through the example as the
    float32 one does, with the pixels `i2i translate` writes from the same file."""
    checkpoint = model.with_suffix(".safetensors")
    if variant == "int8":
        export_onnx(checkpoint, tmp_path / "m.onnx", quantize="int8", calibration=inputs)
        graph = tmp_path / "m.int8.onnx"
    else:
        from i2i.export.fp16 import export_fp16

        export_fp16(checkpoint, tmp_path / "m.fp16.onnx", photos=inputs)
        graph = tmp_path / "m.fp16.onnx"
    result = run_example(str(graph), str(inputs), "--out", str(tmp_path / "example"))
    assert result.returncode == 0, result.stderr
    cli = CliRunner().invoke(app, ["translate", str(graph), str(inputs), "--out", str(tmp_path / "i2i")])
    assert cli.exit_code == 0, cli.output
    for name in ["a.png", "b.png", "sub/c.jpg", "sub/d.png"]:
        ours = np.asarray(Image.open(tmp_path / "example" / name), np.int16)
        theirs = np.asarray(Image.open(tmp_path / "i2i" / name), np.int16)
        assert np.abs(ours - theirs).max() <= 1, name
