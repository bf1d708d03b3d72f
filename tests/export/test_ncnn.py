"""NCNN export (pnnx → NAME.param/.bin): parity against PyTorch with the ncnn package, the sidecar JSON,
the blob and file names the SR apps load, and nothing written on a failed check."""

import json
from pathlib import Path

import ncnn
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint, make_header, save_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.export.ncnn import TOLERANCE, export_ncnn, ncnn_name, rename_blobs
from i2i.inference.deployed import CodeEncoderModel, InferenceModel
from i2i.methods import MUNIT
from i2i.models import build
from i2i.preprocess import Preprocess
from tests.conftest import photo, tiny_munit, write_styles, write_tiny_checkpoint

runner = CliRunner()


def _run(param: Path, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
    """The written pair on ncnn's defaults (float16 storage where the CPU has it), as an app runs it."""
    net = ncnn.Net()
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    extractor = net.create_extractor()
    arrays = {name: np.ascontiguousarray(value, np.float32) for name, value in inputs.items()}  # kept alive
    for name, array in arrays.items():
        extractor.input(name, ncnn.Mat(array))
    status, result = extractor.extract(output)
    assert status == 0
    return np.array(result)


def _deployed(checkpoint: Path) -> InferenceModel:
    loaded = load_checkpoint(checkpoint)
    direction = loaded.directions[0]
    return InferenceModel(loaded.generator(direction), loaded.preprocess).eval()


def _image(seed: int, height: int, width: int) -> np.ndarray:
    return (photo(seed, height, width).astype(np.float32) / 255).transpose(2, 0, 1).copy()


@pytest.fixture(scope="module")
def sr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ×2 SRResNet of 8 channels and one block, its weights nudged off the zero-initialised last conv."""
    torch.manual_seed(0)
    net = build("srresnet", {"scale": 2, "channels": 8, "num_blocks": 1, "norm": "none", "output": "linear",
                             "upsample_skip": "bicubic"}).eval()
    for parameter in net.parameters():
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net}, Preprocess(size=32, scale=2),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    path = tmp_path_factory.mktemp("sr") / "tiny-sr.safetensors"
    save_checkpoint(path, {"LR->HR": net}, header)
    return path


def test_pix2pix_through_the_cli_matches_torch_with_its_sidecar(tmp_path):
    write_tiny_checkpoint(tmp_path / "shapes.safetensors")
    result = runner.invoke(app, ["export", str(tmp_path / "shapes.safetensors"), "--format", "ncnn",
                                 "--out", str(tmp_path / "ncnn")])
    assert result.exit_code == 0, result.output
    assert "ncnn vs torch max |diff|" in result.output and "float32 conversion check" in result.output
    written = sorted(p.name for p in (tmp_path / "ncnn").iterdir())
    assert written == ["shapes.bin", "shapes.json", "shapes.param"]
    sidecar = json.loads((tmp_path / "ncnn" / "shapes.json").read_text())
    assert sidecar["multiple_of"] == 32 and sidecar["scale"] == 1 and sidecar["i2i"]["method"] == "pix2pix"
    graph = sidecar["graphs"]["generator"]
    assert (graph["inputs"], graph["output"], graph["param"]) == (["image"], "translated", "shapes.param")
    assert graph["float32_conversion_max_abs"] < 1e-4
    assert all(diff <= TOLERANCE for _, diff in graph["max_diff_vs_torch"]) and sidecar["apps"] is None
    # Independently of the export's check: a third size, against the torch module.
    x = _image(3, 96, 64)
    with torch.no_grad():
        expected = _deployed(tmp_path / "shapes.safetensors")(torch.from_numpy(x)[None])[0].numpy()
    actual = _run(tmp_path / "ncnn" / "shapes.param", {"image": x}, "translated")
    assert actual.shape == expected.shape and np.abs(actual - expected).max() <= TOLERANCE


def test_sr_model_gets_the_blob_and_file_names_the_upscaler_apps_load(tmp_path, sr):
    report = export_ncnn(sr, tmp_path / "models")
    assert report.name == "tiny-sr-x2"  # Upscayl reads ×2 from "x2" in the name; without it, ×4
    assert report.graphs[0].inputs == ["data"] and report.graphs[0].output == "output"
    param = (tmp_path / "models" / "tiny-sr-x2.param").read_text().splitlines()
    assert param[2].split()[:2] == ["Input", "data"] and "output" in param[-1].split()[4:]
    assert "-n tiny-sr-x2 -s 2" in report.apps and "realesrgan-ncnn-vulkan" in report.describe()
    assert max(d for _, d in report.graphs[0].conversion) < 1e-4
    # realesrgan-ncnn-vulkan feeds tiles of any size (its tile size plus 10 px of padding): not multiples.
    x = _image(4, 23, 37)
    with torch.no_grad():
        expected = _deployed(sr)(torch.from_numpy(x)[None])[0].numpy()
    actual = _run(tmp_path / "models" / "tiny-sr-x2.param", {"data": x}, "output")
    assert actual.shape == (3, 46, 74) and np.abs(actual - expected).max() <= TOLERANCE


def test_munit_writes_generator_and_style_encoder_that_work_together(tmp_path):
    method = MUNIT(tiny_munit(write_styles(tmp_path / "styles")))
    exported = method.exported_generators()
    header = make_header("munit", method.domains(), exported, method.preprocess(), {"batchnorm": "per_image"},
                         {}, {"steps": 0}, conditioning=method.header())
    save_checkpoint(tmp_path / "munit.safetensors", exported, header)
    report = export_ncnn(tmp_path / "munit.safetensors", tmp_path / "out", name="munit")
    assert [g.role for g in report.graphs] == ["generator", "style_encoder"]
    assert report.graphs[0].inputs == ["image", "style_code"] and report.graphs[1].output == "style_code"
    assert report.end_to_end is not None and report.end_to_end <= TOLERANCE
    sidecar = json.loads((tmp_path / "out" / "munit.json").read_text())
    assert sidecar["graphs"]["style_encoder"]["param"] == "munit.style_encoder.param"
    # A reference's style from ncnn's encoder into ncnn's generator, against torch doing both.
    model = _deployed(tmp_path / "munit.safetensors")
    reference, content = _image(5, 32, 32), _image(6, 16, 24)
    code = _run(tmp_path / "out" / "munit.style_encoder.param", {"image": reference}, "style_code")
    actual = _run(tmp_path / "out" / "munit.param", {"image": content, "style_code": code}, "translated")
    with torch.no_grad():
        torch_code = CodeEncoderModel(model, average=False)(torch.from_numpy(reference)[None])
        expected = model(torch.from_numpy(content)[None], torch_code)[0].numpy()
    assert code.shape == (torch_code.shape[1],) and np.abs(actual - expected).max() <= TOLERANCE


def test_a_failed_check_writes_nothing_and_bad_options_are_named(tmp_path, sr):
    with pytest.raises(I2IError, match=r"ncnn with its default options differs .*no file written") as caught:
        export_ncnn(sr, tmp_path / "out", tolerance=0.0)
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()
    with pytest.raises(I2IError, match="--out must name a directory, got .*x.onnx"):
        export_ncnn(sr, tmp_path / "x.onnx")
    with pytest.raises(I2IError, match="--name 'a b'"):
        export_ncnn(sr, tmp_path / "out", name="a b")
    with pytest.raises(I2IError, match="--precision for --format ncnn"):
        export_ncnn(sr, tmp_path / "out", precision="int8")


def test_names_follow_the_upscayl_scale_rule_and_blob_renaming_keeps_the_layers():
    named = ncnn_name("weights/srresnet-x4-photos.safetensors", ["LR->HR"], "LR->HR", 4)
    assert named == "srresnet-x4-photos"
    assert ncnn_name("runs/sr two", ["LR->HR"], "LR->HR", 3) == "sr-two-x3"
    assert ncnn_name("m.safetensors", ["a->b", "b->a"], "b->a", 1) == "m-a"
    param = "7767517\n3 3\nInput in0 0 1 in0\nReLU relu_0 1 1 in0 1\nSigmoid s 1 1 1 out0 0=1\n"
    renamed = rename_blobs(param, {"in0": "data", "out0": "output"}).splitlines()
    assert renamed[2:] == ["Input data 0 1 data", "ReLU relu_0 1 1 data 1", "Sigmoid s 1 1 1 output 0=1"]
    with pytest.raises(I2IError, match="already taken"):
        rename_blobs(param, {"in0": "1"})
