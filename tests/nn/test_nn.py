import pytest
import torch
from torch import nn

from i2i.nn import (
    ConvNormAct,
    ConvTransposeUp,
    Downsample,
    NearestUpConv,
    PixelShuffleUp,
    ResBlock,
    get_act,
    get_norm,
    get_pad,
    init_weights,
)
from i2i.nn.convert import batchnorm_to_instancenorm


@pytest.mark.parametrize("factory, name", [(get_norm, "groupnorm"), (get_act, "swish"), (get_pad, "circular")])
def test_factories_fail_loudly_listing_choices(factory, name):
    with pytest.raises(ValueError, match="choose one of"):
        factory(name, 4)


def test_instance_norm_is_the_reference_one():
    norm = get_norm("instance", 8)
    assert isinstance(norm, nn.InstanceNorm2d) and not norm.affine and not norm.track_running_stats


def test_conv_bias_follows_the_norm():
    assert ConvNormAct(3, 8, 3, norm="batch").conv.bias is None
    assert ConvNormAct(3, 8, 3, norm="instance").conv.bias is not None


@pytest.mark.parametrize("block, shape", [
    (ConvNormAct(3, 8, 7, pad_type="reflect", norm="instance", act="relu"), (2, 8, 16, 16)),
    (Downsample(3, 8), (2, 8, 8, 8)),
    (ConvTransposeUp(3, 8, kernel_size=3), (2, 8, 32, 32)),
    (ConvTransposeUp(3, 8, kernel_size=4, norm="batch"), (2, 8, 32, 32)),
    (NearestUpConv(3, 8), (2, 8, 32, 32)),
    (PixelShuffleUp(3, 2), (2, 3, 32, 32)),
    (ConvNormAct(3, 8, 3, norm="batch", act="lrelu", spectral_norm=True), (2, 8, 16, 16)),
])
def test_block_shapes_and_every_parameter_gets_a_gradient(block, shape):
    x = torch.randn(2, 3, 16, 16)
    y = block(x)
    assert y.shape == shape
    y.square().mean().backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_resblock_keeps_shape_and_is_residual():
    block = ResBlock(8, norm="instance", pad_type="reflect")
    for parameter in block.conv2.parameters():
        nn.init.zeros_(parameter)
    x = torch.randn(1, 8, 12, 12)
    assert torch.equal(block(x), x)  # zero second conv → the identity path alone


@pytest.mark.parametrize("scheme", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_schemes(scheme):
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.Linear(4, 4))
    torch.manual_seed(0)
    init_weights(net, scheme, 0.02)
    assert torch.count_nonzero(net[0].bias) == 0
    if scheme == "normal":
        assert abs(net[0].weight.std().item() - 0.02) < 0.003
        assert abs(net[1].weight.mean().item() - 1.0) < 0.01
    with pytest.raises(ValueError, match="choose one of"):
        init_weights(net, "uniform")


def test_batchnorm_to_instancenorm_equals_batchnorm_in_train_mode_at_batch_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    nn.init.normal_(net[1].weight, 1.0, 0.3)
    nn.init.normal_(net[1].bias, 0.0, 0.3)
    x = torch.randn(1, 3, 10, 10)
    expected = net.train()(x)
    converted = batchnorm_to_instancenorm(net).eval()
    assert isinstance(converted[1], nn.InstanceNorm2d)
    torch.testing.assert_close(converted(x), expected)
