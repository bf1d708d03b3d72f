from pathlib import Path

import pytest
import torch

from i2i.importers.junyanz import load_state_dict, patchgan_from_reference, unet_from_reference
from i2i.models import ARCHITECTURES, PatchGAN, PatchGANConfig, UNetConfig, UNetGenerator, build, describe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"  # copied from shared/fixtures (see README there)


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_paper_parameter_counts_match_the_reference():
    assert count(UNetGenerator(UNetConfig())) == 54_413_955                      # unet_256, BatchNorm
    assert count(PatchGAN(PatchGANConfig(in_channels=3, norm="instance"))) == 2_764_737


def test_patchgan_70_gives_30x30_for_256():
    disc = PatchGAN(PatchGANConfig(ndf=8))
    assert disc(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_pixelgan_scores_every_pixel():
    disc = PatchGAN(PatchGANConfig(ndf=8, n_layers=0))
    assert disc(torch.randn(2, 6, 20, 24)).shape == (2, 1, 20, 24)


@pytest.mark.parametrize("num_downs, dropout_layers", [(8, 3), (7, 2), (5, 0)])
def test_unet_depths_and_dropout_placement(num_downs, dropout_layers):
    net = UNetGenerator(UNetConfig(num_downs=num_downs, ngf=4))
    size = 2**num_downs
    assert net(torch.randn(1, 3, size, size)).shape == (1, 3, size, size)
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == dropout_layers and all(m.p == 0.5 for m in dropouts)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_every_parameter_gets_a_gradient(norm):
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4, norm=norm))
    out = net(torch.randn(2, 3, 32, 32))
    assert out.abs().max() <= 1
    out.mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_eval_mode_is_deterministic():
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4)).eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(net(x), net(x))


def test_build_is_strict():
    net = build("unet", {"num_downs": 5, "ngf": 4})
    assert describe(net) == {"architecture": "unet", "config": {**describe(net)["config"]}}
    assert set(ARCHITECTURES) >= {"unet", "patchgan"}
    with pytest.raises(ValueError, match="unknown fields"):
        build("unet", {"num_down": 5})
    with pytest.raises(ValueError, match="unknown architecture"):
        build("resnet50", {})


@pytest.mark.parametrize("name, convert", [
    ("pix2pix_unet256_ngf8_batchnorm", unet_from_reference),
    ("patchgan_basic_ndf8_batchnorm", patchgan_from_reference),
])
def test_reference_weights_reproduce_reference_outputs(name, convert):
    """Our networks are the reference networks: their weights load by renaming alone and the outputs
    match what the reference code computed (eval mode) to 1e-5."""
    net = convert(load_state_dict(FIXTURES / f"{name}.pth")).eval()
    io = torch.load(FIXTURES / f"{name}.io.pt", weights_only=True)
    with torch.no_grad():
        assert (net(io["input"]) - io["output"]).abs().max() <= 1e-5
