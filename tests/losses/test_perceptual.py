"""VGG19 perceptual loss: offline weight lookup, the layer map, the loss. Fake weights, no network.

The weights files are torchvision's own format: `vgg19(weights=None).state_dict()` saved with
torch.save (random values, same keys and shapes as VGG19_Weights.IMAGENET1K_V1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from i2i.errors import I2IError
from i2i.losses.perceptual import (
    VGG19_LAYERS,
    WEIGHTS_ENV,
    PerceptualLoss,
    VGGFeatures,
    torchvision_cache_file,
)
from tests.conftest import check_given_weights_must_exist, check_missing_weights_message, check_weights_lookup

FILE_NAME = "vgg19-dcbb9e9d.pth"
URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread here: VGG's many small convolutions ran 10× slower with conftest's 2
    threads on a busy 2-core machine (thread hand-offs, not arithmetic)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).eval()


@pytest.fixture(scope="module")
def full_file(vgg: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The complete torchvision state dict (features.N.*, classifier.*), as in torchvision's cache."""
    path = tmp_path_factory.mktemp("vgg_full") / FILE_NAME
    torch.save(vgg.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def features_file(vgg: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A features-only state dict (keys N.weight), 80 MB instead of 550: most tests use this one."""
    path = tmp_path_factory.mktemp("vgg_features") / "vgg19_features.pth"
    torch.save(vgg.features.state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $I2I_VGG19_WEIGHTS and an empty torch hub dir, whatever the machine has: returns the hub dir."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub"


def _images(seed: int, batch: int = 2, size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1


def _reference(vgg: nn.Module, layer: str, images: torch.Tensor) -> torch.Tensor:
    """torchvision's own features[:index + 1] on [-1, 1] images mapped to ImageNet-normalised [0, 1]."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return vgg.features[:VGG19_LAYERS[layer] + 1](((images + 1) / 2 - mean) / std)


def _features(module: VGGFeatures, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module(images)


def test_layer_map_follows_torchvision_vgg19(vgg: nn.Module) -> None:
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, index in VGG19_LAYERS.items():
        assert isinstance(vgg.features[index], kinds[name[:4]]), name
    assert len({index for index in VGG19_LAYERS.values()}) == len(vgg.features) == len(VGG19_LAYERS)
    assert (VGG19_LAYERS["relu2_2"], VGG19_LAYERS["relu3_4"], VGG19_LAYERS["relu4_4"]) == (8, 17, 26)
    assert (VGG19_LAYERS["conv5_4"], VGG19_LAYERS["relu5_4"], VGG19_LAYERS["pool5"]) == (34, 35, 36)
    assert torchvision_cache_file().name == FILE_NAME


def test_explicit_path_full_torchvision_state_dict(vgg: nn.Module, full_file: Path) -> None:
    images = _images(0)
    features = VGGFeatures("relu5_4", weights=str(full_file))
    assert features.weights_path == full_file
    output = _features(features, images)
    assert output.shape == (2, 512, 2, 2)  # 512 channels at H/16
    assert torch.equal(output, _reference(vgg, "relu5_4", images))


def test_environment_variable(vgg: nn.Module, features_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(features_file))
    images = _images(1)
    features = VGGFeatures("conv5_4")
    assert features.weights_path == features_file
    output = _features(features, images)
    assert output.shape == (2, 512, 2, 2)
    assert output.min() < 0  # before the activation, as ESRGAN wants
    assert torch.equal(output, _reference(vgg, "conv5_4", images))


def test_torch_hub_cache(vgg: nn.Module, full_file: Path, offline_cache: Path) -> None:
    cached = offline_cache / "checkpoints" / FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.symlink_to(full_file)
    assert torchvision_cache_file() == cached
    images = _images(2)
    features = VGGFeatures("relu2_2")
    assert features.weights_path == cached
    output = _features(features, images)
    assert output.shape == (2, 128, 16, 16)
    assert torch.equal(output, _reference(vgg, "relu2_2", images))


def test_lookup_order(features_file: Path, monkeypatch: pytest.MonkeyPatch, offline_cache: Path) -> None:
    renamed = features_file.parent / FILE_NAME  # the cache holds the file under torchvision's name
    if not renamed.exists():
        renamed.symlink_to(features_file)
    check_weights_lookup(lambda path: VGGFeatures("relu1_1", weights=path).weights_path, renamed, WEIGHTS_ENV,
                         offline_cache, monkeypatch)


def test_missing_weights_error_names_file_url_and_places(offline_cache: Path) -> None:
    check_missing_weights_message(lambda: VGGFeatures("relu5_4"), FILE_NAME, URL, "--set perceptual.weights=PATH",
                                  WEIGHTS_ENV, offline_cache)


def test_given_path_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_given_weights_must_exist(lambda path: PerceptualLoss(weights=path), tmp_path / "vgg.pth",
                                   "perceptual.weights", WEIGHTS_ENV, monkeypatch)


def test_unreadable_and_wrong_files(features_file: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(I2IError, match="corrupt.pth: not a readable PyTorch VGG19 weights file"):
        VGGFeatures(weights=corrupt)

    wrong_keys = tmp_path / "wrong_keys.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong_keys)
    with pytest.raises(I2IError, match="wrong_keys.pth: not a VGG19 state dict .no tensor '0.weight'"):
        VGGFeatures(weights=wrong_keys)

    state = torch.load(features_file, weights_only=True)
    state["34.weight"] = state["34.weight"][:, :256]  # e.g. another network's layer 34
    wrong_shape = tmp_path / "wrong_shape.pth"
    torch.save(state, wrong_shape)
    with pytest.raises(I2IError, match=r"wrong_shape.pth: .*'34.weight' has shape \(512, 256, 3, 3\)"):
        VGGFeatures("conv5_4", weights=wrong_shape)
    assert VGGFeatures("relu4_4", weights=wrong_shape) is not None  # layer 34 is not needed there

    not_a_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(I2IError, match="tensor.pth: expected a VGG19 state dict"):
        VGGFeatures(weights=not_a_dict)


def test_unknown_layer_and_criterion(features_file: Path) -> None:
    with pytest.raises(ValueError, match="relu5_4"):
        VGGFeatures("relu5_5", weights=features_file)
    with pytest.raises(ValueError, match="mse, l1"):
        PerceptualLoss(criterion="l2", weights=features_file)


def test_frozen_and_always_eval(features_file: Path) -> None:
    loss = PerceptualLoss(weights=features_file)
    loss.train()
    assert not loss.vgg.training and not any(module.training for module in loss.vgg.modules())
    assert not any(parameter.requires_grad for parameter in loss.parameters())
    assert not any(key.endswith(("mean", "std")) for key in loss.state_dict())


def test_loss_zero_for_identical_positive_otherwise(features_file: Path) -> None:
    loss = PerceptualLoss(weights=features_file)
    images = _images(3)
    assert loss(images, images.clone()).item() == 0.0
    assert loss(_images(4), images).item() > 0.0


def test_gradient_reaches_output_only(features_file: Path) -> None:
    loss = PerceptualLoss(weights=features_file)
    output = _images(5).requires_grad_(True)
    target = _images(6).requires_grad_(True)
    loss(output, target).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert target.grad is None
    assert all(parameter.grad is None for parameter in loss.parameters())


def test_feature_scale_and_criteria(features_file: Path) -> None:
    output, target = _images(7), _images(8)
    srgan = PerceptualLoss(weights=features_file)  # defaults: relu5_4, mse, 1/12.75
    esrgan = PerceptualLoss("conv5_4", "l1", 1.0, weights=features_file)
    l1_half = PerceptualLoss(criterion="l1", feature_scale=0.5, weights=features_file)
    fake, real = _features(srgan.vgg, output), _features(srgan.vgg, target)
    with torch.no_grad():
        value = srgan(output, target)
        torch.testing.assert_close(value, ((fake / 12.75 - real / 12.75) ** 2).mean())
        torch.testing.assert_close(value, ((fake - real) ** 2).mean() / 12.75**2)
        torch.testing.assert_close(l1_half(output, target), 0.5 * (fake - real).abs().mean())
        conv_fake, conv_real = _features(esrgan.vgg, output), _features(esrgan.vgg, target)
        torch.testing.assert_close(esrgan(output, target), (conv_fake - conv_real).abs().mean())
