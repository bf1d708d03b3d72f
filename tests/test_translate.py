import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.images import read_image, write_image
from i2i.inference_model import InferenceModel
from i2i.models import UNetConfig, UNetGenerator
from i2i.preprocess import Preprocess
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4))
    net.train()(torch.randn(4, 3, 32, 32))
    path = tmp_path / "model.safetensors"
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, Preprocess(size=32, multiple_of=32),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(path, {"A->B": net}, header)
    return path, net


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    write_image(folder / "a.png", rng.random((32, 32, 3)))
    write_image(folder / "sub" / "b.jpg", rng.random((45, 70, 3)))   # not a multiple of 32
    write_image(folder / "sub" / "c.png", rng.random((32, 32, 3)))
    return folder


def test_folder_tree_is_mirrored_and_sizes_kept(checkpoint, inputs, tmp_path):
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.jpg", "sub/c.png"]
    assert Image.open(out / "sub" / "b.jpg").size == (70, 45)


def test_output_equals_the_network_on_the_padded_image(checkpoint, inputs, tmp_path):
    path, net = checkpoint
    assert runner.invoke(app, ["translate", str(path), str(inputs / "a.png"), "--out", str(tmp_path / "o")]).exit_code == 0
    image = read_image(inputs / "a.png")[0]
    model = InferenceModel(net, Preprocess(size=32, multiple_of=32), "per_image")
    expected = model(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
    written = read_image(tmp_path / "o" / "a.png")[0]
    assert np.abs(written - expected).max() <= 0.5 / 255 + 1e-6   # 8-bit rounding only


def test_never_overwrites_without_flag(checkpoint, inputs, tmp_path):
    out = tmp_path / "out"
    write_image(out / "a.png", np.zeros((4, 4, 3)))
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output and "--overwrite" in result.output
    assert read_image(out / "a.png")[0].shape == (4, 4, 3)          # untouched
    assert not (out / "sub").exists()                               # nothing written at all
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out), "--overwrite"])
    assert result.exit_code == 0 and read_image(out / "a.png")[0].shape == (32, 32, 3)


def test_corrupt_file_is_named_and_the_rest_written(checkpoint, inputs, tmp_path):
    (inputs / "broken.png").write_bytes(b"\x89PNG but not really")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "out"),
                                 "--batch-size", "2"])
    assert result.exit_code == 1
    assert result.output.count("broken.png") == 1
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a.png", "b.jpg", "c.png"]


def test_globs_and_missing_inputs(checkpoint, inputs, tmp_path):
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs / "sub" / "*.png"),
                                 "--out", str(tmp_path / "g")])
    assert result.exit_code == 0 and (tmp_path / "g" / "c.png").is_file()
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_alpha_and_grayscale_inputs(checkpoint, tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = np.arange(32, dtype=np.uint8)[None, :] * 8
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    Image.fromarray(np.full((32, 32), 90, np.uint8), "L").save(tmp_path / "g.png")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(tmp_path / "t.png"), str(tmp_path / "g.png"),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "t.png").mode == "RGBA"      # alpha carried over
    assert np.array(Image.open(tmp_path / "o" / "t.png"))[0, 5, 3] == 40
    assert Image.open(tmp_path / "o" / "g.png").mode == "RGB"


def test_onnx_backend_runs_without_torch(checkpoint, inputs, tmp_path):
    """An exported model translates with numpy + onnxruntime alone: torch is never imported."""
    from i2i.export import export_onnx

    export_onnx(checkpoint[0], tmp_path / "m.onnx")
    code = ("import sys; from i2i.cli import app; "
            "sys.argv = ['i2i', 'translate', sys.argv[1], sys.argv[2], '--out', sys.argv[3]]\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx"), str(inputs), str(tmp_path / "onnx")],
                   check=True)
    assert runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "torch")]).exit_code == 0
    for name in ("a.png", "sub/c.png"):
        onnx_out = read_image(tmp_path / "onnx" / name)[0]
        torch_out = read_image(tmp_path / "torch" / name)[0]
        assert np.abs(onnx_out - torch_out).max() <= 1 / 255 + 1e-6
