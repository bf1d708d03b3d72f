"""AdaIN, MUNIT's LayerNorm and the style MLP (i2i.nn.adain): the maths, batch independence, export."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from i2i.nn import (
    AdaIN,
    AdaINResBlock,
    LayerNorm2d,
    PreActResBlock,
    StyleMLP,
    adaptive_instance_norm,
    get_norm,
)
from i2i.nn.adain import split_adain_params


def test_adain_output_takes_the_given_mean_and_std():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 9, 7) * 4 + 2
    weight = torch.rand(3, 5) * 3 + 0.5     # target std per sample and channel
    bias = torch.randn(3, 5) * 2            # target mean
    y = adaptive_instance_norm(x, weight, bias, eps=0.0)
    assert torch.allclose(y.mean((2, 3)), bias, atol=1e-5)
    assert torch.allclose(y.std((2, 3), unbiased=False), weight, atol=1e-4)


def test_adain_equals_the_official_batch_norm_trick():
    """MUNIT/FUNIT compute AdaIN as batch_norm(training=True) on x viewed as (1, N·C, H, W)."""
    torch.manual_seed(1)
    x, weight, bias = torch.randn(2, 4, 6, 6), torch.rand(2, 4), torch.randn(2, 4)
    official = F.batch_norm(x.reshape(1, 8, 6, 6), torch.zeros(8), torch.ones(8), weight.reshape(8), bias.reshape(8),
                            training=True, momentum=0.1, eps=1e-5).view(2, 4, 6, 6)
    assert torch.allclose(AdaIN(4)(x, weight, bias), official, atol=1e-6)


def test_adain_statistics_are_per_sample():
    torch.manual_seed(2)
    x, weight, bias = torch.randn(3, 4, 8, 8), torch.rand(3, 4), torch.randn(3, 4)
    whole = adaptive_instance_norm(x, weight, bias)
    for i in range(3):
        alone = adaptive_instance_norm(x[i:i + 1], weight[i:i + 1], bias[i:i + 1])
        assert torch.allclose(whole[i:i + 1], alone, atol=1e-6)


def test_layer_norm_is_munits_and_batch_independent():
    torch.manual_seed(3)
    norm = get_norm("layer", 4)
    assert isinstance(norm, LayerNorm2d) and (0 <= norm.gamma).all() and (norm.gamma <= 1).all()
    assert torch.equal(norm.beta, torch.zeros(4))
    x = torch.randn(3, 4, 5, 5) * 3 + 1
    with torch.no_grad():
        norm.gamma.fill_(1.0)
        y = norm(x)
    flat = y.flatten(1)
    assert torch.allclose(flat.mean(1), torch.zeros(3), atol=1e-5)
    # ε is added to the unbiased std: the result's unbiased std is std/(std + ε), just under 1.
    std = x.flatten(1).std(1)
    assert torch.allclose(flat.std(1), std / (std + 1e-5), atol=1e-6)
    assert torch.allclose(norm(x[1:2]), y[1:2], atol=1e-6)  # batch 1 takes the same path


def test_style_mlp_layout_and_split():
    mlp = StyleMLP(8, 4 * 6, hidden=16, num_blocks=3)
    assert [type(m).__name__ for m in mlp.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    layers = [AdaIN(4), AdaIN(8)]
    params = torch.arange(2 * 4 + 2 * 8, dtype=torch.float32).unsqueeze(0)
    (w0, b0), (w1, b1) = split_adain_params(params, layers)
    assert b0.tolist() == [[0, 1, 2, 3]] and w0.tolist() == [[4, 5, 6, 7]]      # shift first, then scale
    assert b1[0, 0] == 8 and w1[0, 0] == 16
    with pytest.raises(ValueError, match="needs 24"):
        split_adain_params(torch.zeros(1, 23), layers)


@pytest.mark.parametrize("block, args", [
    (AdaINResBlock(4), lambda: [[(torch.rand(2, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True))] * 2]),
    (PreActResBlock(4, 8), lambda: []),
    (PreActResBlock(4, 4), lambda: []),
])
def test_blocks_every_parameter_gets_a_gradient(block, args):
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    extra = args()
    y = block(x, *extra)
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    for weight, bias in (extra[0] if extra else []):
        assert weight.grad.abs().sum() > 0 and bias.grad.abs().sum() > 0


def test_pre_activation_block_leaves_its_input_alone():
    """The official block's in-place LeakyReLU modified x under the shortcut (NVlabs/FUNIT#23)."""
    x = torch.randn(1, 4, 6, 6)
    before = x.clone()
    PreActResBlock(4, 4)(x)
    assert torch.equal(x, before)


class _AdaINNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = AdaINResBlock(4)
        self.norm = LayerNorm2d(4)
        self.mlp = StyleMLP(3, 16, hidden=8)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        params = split_adain_params(self.mlp(code), [self.block.norm1, self.block.norm2])
        return self.norm(self.block(x, params))


def test_adain_and_layer_norm_export_with_dynamic_batch(tmp_path):
    """The export trap of the official code: batch frozen to 1 or wrong outputs at batch > 1."""
    torch.manual_seed(4)
    net = _AdaINNet().eval()
    batch, side = torch.export.Dim("batch"), torch.export.Dim("side")
    program = torch.onnx.export(net, (torch.randn(2, 4, 8, 8), torch.randn(2, 3)), dynamo=True,
                                input_names=["x", "code"], dynamic_shapes={"x": {0: batch, 2: side, 3: side},
                                                                           "code": {0: batch}})
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, size in ((1, 8), (3, 12)):
        x, code = torch.randn(n, 4, size, size), torch.randn(n, 3)
        with torch.no_grad():
            expected = net(x, code).numpy()
        actual = session.run(None, {"x": x.numpy(), "code": code.numpy()})[0]
        assert np.abs(actual - expected).max() < 1e-4
