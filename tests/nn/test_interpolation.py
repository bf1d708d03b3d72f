"""InterpolateUp: F.interpolate's bicubic and bilinear (align_corners=False) as a fixed depthwise
convolution and a pixel shuffle: the same numbers, no cubic Resize in an exported graph."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from i2i.nn.interpolation import InterpolateUp, phase_taps


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("shape", [(2, 3, 7, 5), (1, 3, 1, 1), (1, 1, 2, 9), (1, 3, 40, 33)])
def test_equals_f_interpolate(mode, scale, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)
    actual = InterpolateUp(shape[1], scale, mode)(x)
    assert actual.shape == expected.shape
    # PyTorch computes the source coordinate with a float32 1/scale (errors grow with the index at
    # scale 3); the kernels here use the exact phases.
    assert (actual - expected).abs().max().item() < 2e-5


def test_each_phase_interpolates_a_constant_exactly_and_the_kernel_is_not_saved():
    for mode in ("bicubic", "bilinear"):
        assert torch.allclose(phase_taps(4, mode).sum(1), torch.ones(4, dtype=torch.float64))
    assert InterpolateUp(3, 4).state_dict() == {}


def test_gradients_flow_like_f_interpolate():
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    InterpolateUp(3, 2)(x).square().sum().backward()
    ours = x.grad.clone()
    x.grad = None
    F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False).square().sum().backward()
    assert (ours - x.grad).abs().max().item() < 1e-4


def test_exported_srresnet_has_no_resize():
    from i2i.models.srresnet import SRResNet, SRResNetConfig

    net = SRResNet(SRResNetConfig(scale=4, num_blocks=1, channels=8, output="linear",
                                           upsample_skip="bicubic")).eval()
    program = torch.onnx.export(net, (torch.rand(1, 3, 8, 8),), dynamo=True, verbose=False)
    assert "Resize" not in {node.op_type for node in program.model_proto.graph.node}
