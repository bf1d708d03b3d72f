import io
import warnings

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from i2i.inference.deployed import InferenceModel
from i2i.models import (
    RRDBNet,
    RRDBNetConfig,
    SRDiscriminator,
    SRDiscriminatorConfig,
    SRResNet,
    SRResNetConfig,
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
