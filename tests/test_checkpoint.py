import json

import pytest
import torch
from safetensors.torch import save_file

from i2i.checkpoint import load_checkpoint, make_header, read_header, save_checkpoint
from i2i.errors import I2IError
from i2i.models import UNetConfig, UNetGenerator
from i2i.preprocess import Preprocess


def _save(path, norm="batch"):
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4, norm=norm))
    net.train()(torch.randn(4, 3, 32, 32))  # non-trivial running statistics
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, Preprocess(size=32, multiple_of=32),
                         {"batchnorm": "running"}, {"method": "pix2pix"}, {"steps": 3})
    save_checkpoint(path, {"A->B": net}, header)
    return net


def test_save_load_gives_the_same_network(tmp_path):
    net = _save(tmp_path / "m.safetensors")
    checkpoint = load_checkpoint(tmp_path / "m.safetensors")
    loaded = checkpoint.generator("A->B")
    x = torch.randn(2, 3, 64, 32)
    assert torch.equal(loaded(x), net.eval()(x))
    header = checkpoint.header
    assert header["method"] == "pix2pix" and header["generators"]["A->B"]["architecture"] == "unet"
    assert header["preprocess"]["multiple_of"] == 32 and header["trained"]["steps"] == 3
    assert checkpoint.direction() == "A->B" and checkpoint.direction("B") == "A->B"
    with pytest.raises(I2IError, match="no generator into domain 'C'"):
        checkpoint.direction("C")


def test_run_directory_resolves_to_the_newest_checkpoint(tmp_path):
    _save(tmp_path / "run" / "checkpoints" / "step_0000002.safetensors")
    _save(tmp_path / "run" / "checkpoints" / "step_0000010.safetensors")
    assert load_checkpoint(tmp_path / "run").path.name == "step_0000010.safetensors"
    with pytest.raises(I2IError, match="no checkpoints"):
        load_checkpoint(tmp_path)


def test_unknown_format_version_and_foreign_files_are_refused(tmp_path):
    net = _save(tmp_path / "m.safetensors")
    header = read_header(tmp_path / "m.safetensors")
    header["format_version"] = 99
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "v99.safetensors"),
              metadata={"i2i": json.dumps(header)})
    with pytest.raises(I2IError, match="format version 99 is not supported"):
        load_checkpoint(tmp_path / "v99.safetensors")
    save_file({"w": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(I2IError, match="without an i2i header"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(I2IError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_weights_that_do_not_match_the_header_are_refused(tmp_path):
    _save(tmp_path / "m.safetensors")
    header = read_header(tmp_path / "m.safetensors")
    header["generators"]["A->B"]["config"]["ngf"] = 8
    other = UNetGenerator(UNetConfig(num_downs=5, ngf=4))
    save_file({f"A->B.{k}": v.contiguous() for k, v in other.state_dict().items()},
              str(tmp_path / "bad.safetensors"), metadata={"i2i": json.dumps(header)})
    with pytest.raises(I2IError, match="do not match"):
        load_checkpoint(tmp_path / "bad.safetensors").generator("A->B")
