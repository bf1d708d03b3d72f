import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from i2i.checkpoint import make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.export.onnx import export_onnx
from i2i.inference.deployed import InferenceModel
from i2i.models import UNetConfig, UNetGenerator
from i2i.preprocess import Preprocess


@pytest.mark.parametrize("norm, batchnorm", [("batch", "per_image"), ("batch", "running"), ("instance", "per_image")])
def test_onnx_matches_torch_at_two_sizes_with_metadata(tmp_path, norm, batchnorm):
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4, norm=norm))
    net.train()(torch.randn(4, 3, 32, 32))
    preprocess = Preprocess(size=32, multiple_of=32)
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, preprocess, {"batchnorm": batchnorm}, {}, {"steps": 1})
    save_checkpoint(tmp_path / "m.safetensors", {"A->B": net}, header)
    report = export_onnx(tmp_path / "m.safetensors", tmp_path / "m.onnx")
    assert len(report.parity) == 2 and all(diff <= 1e-4 for _, diff in report.parity)

    model = onnx.load(tmp_path / "m.onnx")
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["i2i.direction"] == "A->B" and metadata["i2i.multiple_of"] == "32"
    assert json.loads(metadata["i2i"])["generators"]["A->B"]["architecture"] == "unet"

    # Independently of the export's own check: a third size and batch 3, against the torch module.
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((3, 3, 96, 64), dtype=np.float32)
    expected = InferenceModel(net, preprocess, batchnorm)(torch.from_numpy(x)).numpy()
    assert np.abs(session.run(None, {"image": x})[0] - expected).max() <= 1e-4


def test_export_refuses_a_wrong_suffix(tmp_path):
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4))
    header = make_header("pix2pix", ["A", "B"], {"A->B": net}, Preprocess(multiple_of=32), {}, {}, {})
    save_checkpoint(tmp_path / "m.safetensors", {"A->B": net}, header)
    with pytest.raises(I2IError, match=r"\.onnx"):
        export_onnx(tmp_path / "m.safetensors", tmp_path / "m.bin")
