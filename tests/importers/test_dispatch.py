"""The dispatcher: one `i2i weights import FILE`, the source found from the keys, one line for what
no importer knows, and a pointer to the importer wherever a foreign file is handed to i2i."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.importers.dispatch import import_weights
from i2i.inference.deployed import InferenceModel
from tests.importers.test_nvlabs_import import official_funit, official_munit
from tests.importers.test_sr_import import srvgg_state

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("foreign")
    torch.save({"a": official_munit(0).state_dict(), "b": official_munit(1).state_dict()}, folder / "gen_munit.pt")
    torch.save({"gen": official_funit(0).state_dict(), "gen_test": official_funit(1).state_dict()},
               folder / "gen_funit.pt")
    save_file(srvgg_state(), str(folder / "compact.safetensors"))   # weights shared as safetensors
    torch.save({"encoder.weight": torch.zeros(4, 3), "head.bias": torch.zeros(4)}, folder / "unknown.pth")
    return folder


@pytest.mark.parametrize("name, source, method", [
    ("cyclegan_resnet6_ngf8.pth", "junyanz", "cyclegan"),
    ("pix2pix_unet256_ngf8_batchnorm.pth", "junyanz", "pix2pix"),
    ("gen_munit.pt", "munit", "munit"),
    ("gen_funit.pt", "funit", "funit"),
    ("compact.safetensors", "sr", "srgan"),
])
def test_the_source_is_found_from_the_keys(files, tmp_path, name, source, method):
    path = FIXTURES / name if (FIXTURES / name).exists() else files / name
    report = import_weights(path, tmp_path / "x.safetensors")
    assert (report.source, report.method) == (source, method)
    assert load_checkpoint(tmp_path / "x.safetensors").header["trained"]["importer"] == source


def test_a_file_no_importer_knows_is_one_line(files, tmp_path):
    result = runner.invoke(app, ["weights", "import", str(files / "unknown.pth"), "--out", str(tmp_path / "x.safetensors")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "unknown.pth: no importer recognises its keys (encoder.weight, head.bias, …); looked for munit:" in lines[0]
    for source in ("funit:", "sr:", "junyanz:", "spandrel:"):
        assert source in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_an_i2i_checkpoint_is_not_imported_again(tmp_path):
    first = tmp_path / "first.safetensors"
    import_weights(FIXTURES / "cyclegan_resnet6_ngf8.pth", first)
    result = runner.invoke(app, ["weights", "import", str(first), "--out", str(tmp_path / "again.safetensors")])
    assert result.exit_code == 2 and "is already an i2i checkpoint" in result.output


@pytest.mark.parametrize("command", ["translate", "export", "eval"])
def test_a_foreign_file_handed_to_i2i_points_to_the_importer(tmp_path, command):
    pth = FIXTURES / "cyclegan_resnet6_ngf8.pth"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in.png")
    args = {"translate": ["translate", str(pth), str(tmp_path / "in.png"), "--out", str(tmp_path / "o")],
            "export": ["export", str(pth), "--out", str(tmp_path / "m.onnx")],
            "eval": ["eval", str(pth), "--data", str(tmp_path)]}[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "is a PyTorch weights file, not an i2i checkpoint: convert it first with `i2i weights import" \
        in " ".join(result.output.split())


def test_batchnorm_mode_follows_the_reference_flag(tmp_path):
    pth = FIXTURES / "pix2pix_unet256_ngf8_batchnorm.pth"
    outputs = {}
    for mode in ("per_image", "running"):
        out = tmp_path / f"{mode}.safetensors"
        result = runner.invoke(app, ["weights", "import", str(pth), "--out", str(out), "--batchnorm", mode])
        assert result.exit_code == 0, result.output
        checkpoint = load_checkpoint(out)
        assert checkpoint.header["inference"]["batchnorm"] == mode
        model = InferenceModel(checkpoint.generator("A->B"), checkpoint.preprocess, mode)
        torch.manual_seed(0)
        with torch.no_grad():
            outputs[mode] = model(torch.rand(1, 3, 256, 256))
    # --eval (running averages) and the default (per-image statistics) are different models.
    assert (outputs["per_image"] - outputs["running"]).abs().max() > 1e-3
    result = runner.invoke(app, ["weights", "import", str(pth), "--out", str(tmp_path / "x.safetensors"),
                                 "--batchnorm", "train"])
    assert result.exit_code == 2 and "--batchnorm must be one of per_image, running" in result.output
