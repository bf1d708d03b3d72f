import io
import warnings

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from i2i.inference.deployed import InferenceModel
from i2i.models import (
    MSRResNet,
    MSRResNetConfig,
    RRDBNet,
    RRDBNetConfig,
    SRDiscriminator,
    SRDiscriminatorConfig,
    SRResNet,
    SRResNetConfig,
    SRVGGNet,
    SRVGGNetConfig,
    build,
    describe,
)
from i2i.preprocess import Preprocess


def count(module):
    return sum(p.numel() for p in module.parameters())


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def srresnet_count(blocks=16, c=64, stages=2, bn=True):
    """The paper's ×4 SRResNet written out. i2i conventions: a conv before BN has no bias (BN shifts),
    BN has 2·C parameters, PReLU learns one slope per channel (`get_act("prelu", C)` is PReLU(C))."""
    bn_params, prelu = (2 * c if bn else 0), c
    head = conv(3, c, 9) + prelu
    block = 2 * conv(c, c, 3, bias=not bn) + 2 * bn_params + prelu
    trunk = conv(c, c, 3, bias=not bn) + bn_params
    stage = conv(c, 4 * c, 3) + prelu                 # conv to 256, PixelShuffle ×2, PReLU(64)
    tail = conv(c, 3, 9)
    return head + blocks * block + trunk + stages * stage + tail


def test_parameter_counts():
    assert srresnet_count() == 1_548_547
    assert count(SRResNet(SRResNetConfig())) == srresnet_count()
    assert count(SRResNet(SRResNetConfig(norm="none"))) == srresnet_count(bn=False) == 1_546_435
    assert count(RRDBNet(RRDBNetConfig())) == 16_697_987   # official RRDB_ESRGAN_x4 (nf 64, nb 23, gc 32)
    # 8 convs (BN from the 2nd) + Dense(512·6·6 → 1024) + Dense(1024 → 1)
    widths = [3, 64, 64, 128, 128, 256, 256, 512, 512]
    convs = conv(3, 64, 3) + sum(conv(a, b, 3, bias=False) + 2 * b for a, b in zip(widths[1:-1], widths[2:]))
    dense = 512 * 6 * 6 * 1024 + 1024 + 1024 + 1
    assert count(SRDiscriminator(SRDiscriminatorConfig())) == convs + dense == 23_563_649


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("size", [(13, 17), (8, 8)])
def test_generators_upscale_by_scale(scale, size):
    x = torch.rand(2, 3, *size) * 2 - 1
    expected = (2, 3, size[0] * scale, size[1] * scale)
    srresnet = SRResNet(SRResNetConfig(scale=scale, channels=8, num_blocks=2))
    out = srresnet(x)
    assert out.shape == expected and out.abs().max() <= 1          # tanh output
    assert RRDBNet(RRDBNetConfig(scale=scale, channels=8, growth=4, num_blocks=1))(x).shape == expected


@pytest.mark.parametrize("config", [SRResNetConfig(scale=3), SRResNetConfig(upsample_skip="bicubic"),
                                    SRResNetConfig(output="sigmoid"), SRResNetConfig(upsample_skip="area",
                                                                                     output="linear")])
def test_srresnet_rejects_bad_configs(config):
    with pytest.raises(ValueError):
        SRResNet(config)


def test_rrdbnet_rejects_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(RRDBNetConfig(scale=3))


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_upsample_skip_starts_at_interpolation(mode):
    torch.manual_seed(0)
    net = SRResNet(SRResNetConfig(channels=8, num_blocks=2, upsample_skip=mode, output="linear")).train()
    x = torch.rand(2, 3, 13, 17) * 2 - 1
    expected = F.interpolate(x, scale_factor=4, mode=mode, align_corners=False)
    assert torch.allclose(net(x), expected, rtol=0, atol=1e-6)
    net(x).square().mean().backward()   # the zeroed last layer still learns
    assert net.tail.conv.weight.grad.abs().sum() > 0


def test_min_size_runs_per_image_batchnorm():
    net = SRResNet(SRResNetConfig(channels=8, num_blocks=1))
    side = net.config.min_size
    assert side == 2 and SRResNetConfig(norm="none").min_size == 1 and net.config.multiple_of == 1
    deployed = InferenceModel(net, Preprocess(scale=4), "per_image")
    assert deployed(torch.rand(1, 3, side, side)).shape == (1, 3, 4 * side, 4 * side)


def test_discriminator_flatten_and_avg():
    x = torch.rand(2, 3, 96, 96)
    flat = SRDiscriminator(SRDiscriminatorConfig(ndf=8))
    assert flat(x).shape == (2, 1)
    with pytest.raises(ValueError, match="96×96"):
        flat(torch.rand(2, 3, 64, 64))
    odd = SRDiscriminator(SRDiscriminatorConfig(ndf=8, input_size=33))     # 33 → 17 → 9 → 5 → 3
    assert odd(torch.rand(2, 3, 33, 33)).shape == (2, 1)
    avg = SRDiscriminator(SRDiscriminatorConfig(ndf=8, pool="avg", spectral_norm=True))
    assert avg(x).shape == avg(torch.rand(2, 3, 40, 56)).shape == (2, 1)


@pytest.mark.parametrize("name, config", [("srresnet", {"channels": 8, "num_blocks": 1}),
                                          ("rrdbnet", {"channels": 8, "growth": 4, "num_blocks": 1}),
                                          ("sr_discriminator", {"ndf": 8, "pool": "avg"})])
def test_registry_round_trip(name, config):
    net = build(name, config)
    description = describe(net)
    assert description["architecture"] == name
    assert type(build(name, description["config"])) is type(net)


@pytest.mark.parametrize("upsample_skip", ["none", "bicubic"])
def test_srresnet_onnx_matches_torch(upsample_skip):
    torch.manual_seed(0)
    config = SRResNetConfig(channels=8, num_blocks=2, norm="none", scale=4, upsample_skip=upsample_skip,
                            output="linear" if upsample_skip != "none" else "tanh")
    net = SRResNet(config).eval()
    torch.nn.init.normal_(net.tail.conv.weight, 0.0, 0.02)   # so the network part shows in the skip case too
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, 3, 10, 12),), buffer, dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["upscaled"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}})
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 13, 17), (2, 3, 8, 8)]:
        x = torch.rand(*shape) * 2 - 1
        with torch.no_grad():
            expected = net(x).numpy()
        actual = session.run(None, {"image": x.numpy()})[0]
        assert actual.shape == (shape[0], 3, 4 * shape[2], 4 * shape[3])
        assert np.abs(actual - expected).max() <= 1e-4


# -- networks of downloaded SR weights: Real-ESRGAN's unshuffle RRDBNet, SRVGGNetCompact, MSRResNet ----------
def test_imported_sr_parameter_counts():
    # Real-ESRGAN ×2 / ×1: the head takes 3·4 / 3·16 channels, the rest is RRDB_ESRGAN_x4
    assert count(RRDBNet(RRDBNetConfig(scale=2, unshuffle=2))) == 16_697_987 + 64 * 9 * 9 == 16_703_171
    assert count(RRDBNet(RRDBNetConfig(scale=1, unshuffle=4))) == 16_697_987 + 64 * 9 * 45 == 16_723_907
    pair = conv(64, 64, 3) + 64                                   # conv + PReLU(64)
    assert count(SRVGGNet(SRVGGNetConfig())) == conv(3, 64, 3) + 64 + 16 * pair + conv(64, 48, 3) == 621_424
    assert count(SRVGGNet(SRVGGNetConfig(num_convs=32))) == 1_213_296    # realesr-general-x4v3
    msrresnet = (conv(3, 64, 3) + 16 * 2 * conv(64, 64, 3) + 2 * conv(64, 256, 3) + conv(64, 64, 3)
                 + conv(64, 3, 3))
    assert count(MSRResNet(MSRResNetConfig())) == msrresnet == 1_517_571


def test_rrdbnet_unshuffle_keeps_the_esrgan_layout():
    """unshuffle 1 (the default) adds no layer and no key; 2/4 change only the head's input width."""
    plain = RRDBNet(RRDBNetConfig(channels=8, growth=4, num_blocks=1))
    shuffled = RRDBNet(RRDBNetConfig(channels=8, growth=4, num_blocks=1, scale=2, unshuffle=2))
    assert list(plain.state_dict()) == list(shuffled.state_dict())
    assert plain.config.multiple_of == 1 and shuffled.config.multiple_of == 2
    assert shuffled.head.conv.weight.shape == (8, 12, 3, 3) and len(shuffled.upsample) == 2


@pytest.mark.parametrize("scale, unshuffle", [(2, 2), (1, 4), (1, 2)])
def test_rrdbnet_unshuffle_shapes_and_gradients(scale, unshuffle):
    net = RRDBNet(RRDBNetConfig(scale=scale, unshuffle=unshuffle, channels=8, growth=4, num_blocks=1))
    x = torch.rand(2, 3, 4 * 3, 4 * 5)
    out = net(x)
    assert out.shape == (2, 3, 12 * scale, 20 * scale)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("config", [RRDBNetConfig(scale=1), RRDBNetConfig(unshuffle=3),
                                    RRDBNetConfig(scale=8, unshuffle=2)])
def test_rrdbnet_rejects_bad_unshuffle(config):
    with pytest.raises(ValueError, match="unshuffle"):
        RRDBNet(config)


@pytest.mark.parametrize("net", [SRVGGNet(SRVGGNetConfig(channels=8, num_convs=2, scale=3)),
                                 MSRResNet(MSRResNetConfig(channels=8, num_blocks=2, scale=3))],
                         ids=["srvggnet", "msrresnet"])
def test_residual_sr_networks_shapes_and_gradients(net):
    x = torch.rand(2, 3, 7, 10)
    out = net(x)
    assert out.shape == (2, 3, 21, 30) and net.config.multiple_of == net.config.min_size == 1
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("net_cls, config", [(SRVGGNet, SRVGGNetConfig(out_channels=1)),
                                             (SRVGGNet, SRVGGNetConfig(act="lrelu")),
                                             (SRVGGNet, SRVGGNetConfig(scale=0)),
                                             (MSRResNet, MSRResNetConfig(scale=8)),
                                             (MSRResNet, MSRResNetConfig(out_channels=1))])
def test_residual_sr_networks_reject_bad_configs(net_cls, config):
    with pytest.raises(ValueError):
        net_cls(config)


@pytest.mark.parametrize("name, config", [("srvggnet", {"channels": 8, "num_convs": 1}),
                                          ("msrresnet", {"channels": 8, "num_blocks": 1, "scale": 2}),
                                          ("rrdbnet", {"channels": 8, "growth": 4, "num_blocks": 1,
                                                       "scale": 1, "unshuffle": 4})])
def test_imported_sr_networks_are_registered(name, config):
    net = build(name, config)
    description = describe(net)
    assert description["architecture"] == name
    rebuilt = build(name, description["config"])
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), net.eval()(x))
