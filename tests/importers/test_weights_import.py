import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.importers.junyanz import generator_from_reference, load_state_dict, resnet_from_reference
from i2i.inference.deployed import InferenceModel
from i2i.models import ResNetConfig, ResNetGenerator, UNetGenerator, build, describe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"  # copied from shared/fixtures (see README there)
RESNET6 = "cyclegan_resnet6_ngf8"

runner = CliRunner()


def count(module):
    return sum(p.numel() for p in module.parameters())


def reference_io(name):
    return torch.load(FIXTURES / f"{name}.io.pt", weights_only=True)


def test_resnet_parameter_counts_match_the_reference():
    assert count(ResNetGenerator(ResNetConfig())) == 11_378_179                  # resnet_9blocks
    assert count(ResNetGenerator(ResNetConfig(num_blocks=6))) == 7_837_699       # resnet_6blocks


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("height, width", [(32, 32), (36, 44)])
def test_resnet_shapes_and_every_parameter_gets_a_gradient(norm, height, width):
    net = ResNetGenerator(ResNetConfig(ngf=4, num_blocks=2, norm=norm, dropout=0.5))
    assert net.config.multiple_of == 4
    out = net(torch.randn(2, 3, height, width))
    assert out.shape == (2, 3, height, width) and out.abs().max() <= 1
    out.mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_resnet_is_registered():
    net = build("resnet", {"ngf": 4, "num_blocks": 2})
    assert describe(net)["architecture"] == "resnet" and describe(net)["config"]["num_blocks"] == 2


@pytest.mark.parametrize("name, architecture", [
    ("cyclegan_resnet6_ngf8", ResNetGenerator),
    ("cyclegan_resnet9_ngf8", ResNetGenerator),
    ("pix2pix_unet256_ngf8_batchnorm", UNetGenerator),
])
def test_reference_generators_reproduce_reference_outputs(name, architecture):
    """The layout is recognised from the keys alone, the width and depth inferred, and the outputs match
    what the reference code computed (eval mode) to 1e-5."""
    net = generator_from_reference(load_state_dict(FIXTURES / f"{name}.pth")).eval()
    assert type(net) is architecture and net.config.ngf == 8
    io = reference_io(name)
    with torch.no_grad():
        assert (net(io["input"]) - io["output"]).abs().max() <= 1e-5


def test_old_release_instancenorm_running_stats_are_accepted_and_dropped():
    """Releases saved by old PyTorch carry InstanceNorm running statistics; the reference drops them."""
    state = load_state_dict(FIXTURES / f"{RESNET6}.pth")
    n = 6
    norms = ["model.2", "model.5", "model.8", f"model.{11 + n}", f"model.{14 + n}"]
    norms += [f"model.{10 + b}.conv_block.{j}" for b in range(n) for j in (2, 6)]
    for prefix in norms:
        channels = state["model.1.weight"].shape[0] * (4 if "conv_block" in prefix else 1)
        state[f"{prefix}.running_mean"] = torch.zeros(channels)
        state[f"{prefix}.running_var"] = torch.ones(channels)
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(0)
    net = resnet_from_reference(state).eval()
    assert net.config.norm == "instance" and net.config.num_blocks == n
    io = reference_io(RESNET6)
    with torch.no_grad():
        assert (net(io["input"]) - io["output"]).abs().max() <= 1e-5


class ReferenceResnetBlock(torch.nn.Module):
    """The reference `ResnetBlock`, written out here so the importer is checked against its key layout."""

    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        nn = torch.nn
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if use_dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


def reference_resnet(ngf, n_blocks, batchnorm, use_dropout):
    """The reference `ResnetGenerator`'s `self.model` Sequential (keys model.<i>…)."""
    nn = torch.nn
    norm_layer = nn.BatchNorm2d if batchnorm else nn.InstanceNorm2d
    use_bias = not batchnorm
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=use_bias), norm_layer(ngf), nn.ReLU(True)]
    for mult in (1, 2):
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                   norm_layer(ngf * mult * 2), nn.ReLU(True)]
    layers += [ReferenceResnetBlock(ngf * 4, norm_layer, use_dropout, use_bias) for _ in range(n_blocks)]
    for mult in (4, 2):
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                      bias=use_bias), norm_layer(ngf * mult // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    holder = nn.Module()
    holder.model = nn.Sequential(*layers)
    return holder


@pytest.mark.parametrize("batchnorm, use_dropout", [(True, True), (True, False), (False, True)])
def test_resnet_import_follows_dropout_and_batchnorm_variants(batchnorm, use_dropout):
    torch.manual_seed(0)
    reference = reference_resnet(ngf=4, n_blocks=2, batchnorm=batchnorm, use_dropout=use_dropout)
    reference.model(torch.randn(4, 3, 16, 16))           # non-trivial BatchNorm running statistics
    net = resnet_from_reference(reference.state_dict()).eval()
    assert net.config.norm == ("batch" if batchnorm else "instance")
    assert net.config.dropout == (0.5 if use_dropout else 0.0) and net.config.num_blocks == 2
    x = torch.randn(2, 3, 20, 24)
    with torch.no_grad():
        assert (net(x) - reference.model.eval()(x)).abs().max() <= 1e-5


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("import") / "x.safetensors"
    args = ["weights", "import", "junyanz", str(FIXTURES / f"{RESNET6}.pth"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cyclegan" in result.output and "A->B" in result.output
    return out


def pixels(io):
    """The fixture lives in the network's [-1, 1] space; checkpoints and ONNX graphs speak [0, 1] pixels."""
    return (io["input"] + 1) / 2, ((io["output"] + 1) / 2).clamp(0, 1)


def test_cli_import_writes_a_checkpoint_that_reproduces_the_reference(imported):
    checkpoint = load_checkpoint(imported)
    header = checkpoint.header
    assert header["method"] == "cyclegan" and header["domains"] == ["A", "B"]
    assert checkpoint.directions == ["A->B"]
    assert header["generators"]["A->B"]["architecture"] == "resnet"
    assert header["trained"] == {"imported_from": f"{RESNET6}.pth", "importer": "junyanz",
                                 "source": "junyanz/pytorch-CycleGAN-and-pix2pix",
                                 "sha256": hashlib.sha256((FIXTURES / f"{RESNET6}.pth").read_bytes()).hexdigest(),
                                 "licence": "BSD (junyanz/pytorch-CycleGAN-and-pix2pix)"}
    assert checkpoint.preprocess.multiple_of == 4 and checkpoint.preprocess.mean == (0.5, 0.5, 0.5)
    model = InferenceModel(checkpoint.generator("A->B"), checkpoint.preprocess, "per_image")
    x, expected = pixels(reference_io(RESNET6))
    with torch.no_grad():
        assert (model(x) - expected).abs().max() <= 1e-5


def test_imported_checkpoint_exports_to_onnx_with_parity(imported):
    import onnxruntime

    from i2i.export.onnx import export_onnx

    onnx_path = imported.with_suffix(".onnx")
    export_onnx(imported, onnx_path)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x, expected = pixels(reference_io(RESNET6))
    actual = session.run(None, {"image": x.numpy()})[0]
    assert np.abs(actual - expected.numpy()).max() <= 1e-5


@pytest.mark.parametrize("args, message", [
    (["weights", "import", "timm", str(FIXTURES / f"{RESNET6}.pth")],
     "unknown weights source 'timm'; choose one of: munit, funit, sr, junyanz, spandrel"),
    (["weights", "import", "junyanz", str(FIXTURES / f"{RESNET6}.io.pt")],
     f"{RESNET6}.io.pt: not a junyanz/pytorch-CycleGAN-and-pix2pix generator"),
    (["weights", "import", "junyanz", str(FIXTURES / "README.md")],
     "README.md: not a PyTorch state dict"),
])
def test_import_user_errors_are_one_line_and_exit_2(tmp_path, args, message):
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x.safetensors")])
    assert result.exit_code == 2 and not (tmp_path / "x.safetensors").exists()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
