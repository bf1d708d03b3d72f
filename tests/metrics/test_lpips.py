"""LPIPS metric: offline backbone lookup, the key map, the distance itself. Fake weights, no network.

The backbone file is torchvision's own format: `alexnet(weights=None).state_dict()` saved with
torch.save (random values, same keys and shapes as AlexNet_Weights.IMAGENET1K_V1). The linear layers
are the real ones shipped in the lpips package. Any attempt to download fails the test.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
import torchvision
import torchvision.models._api
from torch import Tensor

from i2i.errors import I2IError
from i2i.metrics.lpips import (
    PROTOCOL,
    WEIGHTS_ENV,
    LPIPSMetric,
    torchvision_cache_file,
)
from tests.conftest import check_given_weights_must_exist, check_missing_weights_message, check_weights_lookup

ALEX_FILE = "alexnet-owt-7be5be79.pth"
ALEX_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
VGG_FILE = "vgg16-397923af.pth"
VGG_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: small convolutions on a busy 2-core machine are faster without hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"tried to download: {args}")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $I2I_LPIPS_BACKBONE_WEIGHTS, an empty torch hub dir, downloads fail: returns the hub dir."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    return tmp_path / "torch_home" / "hub"


@pytest.fixture(scope="module")
def alex_state() -> dict[str, Tensor]:
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).state_dict()


@pytest.fixture(scope="module")
def alex_file(alex_state: dict[str, Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The complete torchvision state dict (features.N.*, classifier.*), as in torchvision's cache."""
    path = tmp_path_factory.mktemp("alex") / ALEX_FILE
    torch.save(alex_state, path)
    return path


@pytest.fixture(scope="module")
def metric(alex_file: Path) -> LPIPSMetric:
    return LPIPSMetric(weights=alex_file)


def _backbone_state(metric: LPIPSMetric) -> dict[str, Tensor]:
    """The lpips backbone's tensors under torchvision's names (slice2.3.weight → features.3.weight)."""
    state = metric.model.net.state_dict()
    return {f"features.{name.split('.', 1)[1]}": tensor for name, tensor in state.items()}


def _assert_backbone_is(metric: LPIPSMetric, state: dict[str, Tensor]) -> None:
    loaded = _backbone_state(metric)
    expected = {key: value for key, value in state.items() if key.startswith("features.")}
    assert set(loaded) == set(expected) == {f"features.{i}.{kind}" for i in (0, 3, 6, 8, 10)
                                            for kind in ("weight", "bias")}
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def _image(seed: int, height: int = 32, width: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)


def test_file_names_and_urls() -> None:
    assert torchvision_cache_file().name == ALEX_FILE
    assert torchvision_cache_file("vgg").name == VGG_FILE
    assert torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url == ALEX_URL
    assert torchvision.models.VGG16_Weights.IMAGENET1K_V1.url == VGG_URL


def test_explicit_path(alex_state: dict[str, Tensor], alex_file: Path, metric: LPIPSMetric) -> None:
    assert metric.weights_path == alex_file
    _assert_backbone_is(metric, alex_state)


def test_environment_variable(alex_state: dict[str, Tensor], alex_file: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(alex_file))
    loaded = LPIPSMetric()
    assert loaded.weights_path == alex_file
    _assert_backbone_is(loaded, alex_state)


def test_torch_hub_cache(alex_state: dict[str, Tensor], alex_file: Path, offline: Path) -> None:
    cached = offline / "checkpoints" / ALEX_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(alex_file)
    assert torchvision_cache_file() == cached
    loaded = LPIPSMetric()
    assert loaded.weights_path == cached
    _assert_backbone_is(loaded, alex_state)


def test_features_only_file(alex_state: dict[str, Tensor], tmp_path: Path) -> None:
    path = tmp_path / "alex_features.pth"
    torch.save({key.removeprefix("features."): value for key, value in alex_state.items()
                if key.startswith("features.")}, path)
    _assert_backbone_is(LPIPSMetric(weights=path), alex_state)


def test_packaged_linear_layers_and_frozen(metric: LPIPSMetric) -> None:
    shipped = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth", map_location="cpu",
                         weights_only=True)
    for index, layer in enumerate(metric.model.lins):
        assert torch.equal(layer.model[-1].weight, shipped[f"lin{index}.model.1.weight"])
    assert not metric.model.training and not any(module.training for module in metric.model.modules())
    assert not any(parameter.requires_grad for parameter in metric.model.parameters())


def test_distance_properties(metric: LPIPSMetric) -> None:
    a, b = _image(0), _image(1)
    assert metric(a, a).tolist() == [0.0]
    ab, ba = metric(a, b), metric(b, a)
    assert ab.shape == (1,) and ab.dtype == np.float64
    assert ab[0] > 0
    assert ab[0] == pytest.approx(ba[0], rel=1e-6, abs=1e-7)
    # A smaller change is a smaller distance (with these weights, for this pair).
    assert metric(a, np.clip(a + 0.02, 0, 1))[0] < ab[0]


def test_batches_tensors_and_sizes(metric: LPIPSMetric) -> None:
    a = np.stack([_image(2, 40, 56), _image(3, 40, 56), _image(4, 40, 56)])
    b = np.stack([_image(5, 40, 56), _image(6, 40, 56), _image(7, 40, 56)])
    batch = metric(a, b)
    assert batch.shape == (3,)
    singles = [metric(a[i], b[i])[0] for i in range(3)]
    np.testing.assert_allclose(batch, singles, rtol=1e-5, atol=1e-7)
    tensors = metric(torch.from_numpy(a).permute(0, 3, 1, 2), torch.from_numpy(b).permute(0, 3, 1, 2))
    np.testing.assert_allclose(tensors, batch, rtol=1e-6, atol=1e-8)
    single = metric(torch.from_numpy(a[0]).permute(2, 0, 1), torch.from_numpy(b[0]).permute(2, 0, 1))
    assert single.shape == (1,)
    assert metric(_image(8, 31, 64), _image(9, 31, 64)).shape == (1,)  # AlexNet's smallest size


def test_equals_lpips_package_with_same_backbone(alex_file: Path, metric: LPIPSMetric,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's default construction, torchvision's pretrained path included, with its download
    answered by the fake file: our key map and range conversion give the same numbers."""
    urls: list[str] = []

    def fake_download(url: str, *args: object, **kwargs: object) -> dict[str, Tensor]:
        urls.append(url)
        return torch.load(alex_file, map_location="cpu", weights_only=True)

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fake_download)
    with pytest.warns(UserWarning):  # torchvision: `pretrained` is deprecated
        reference = lpips.LPIPS(net="alex", verbose=False)
    assert urls == [ALEX_URL]
    a = np.stack([_image(10, 48, 64), _image(11, 48, 64)])
    b = np.stack([_image(12, 48, 64), a[1] * 0.9 + 0.05])
    to_package = [torch.from_numpy(x).permute(0, 3, 1, 2) * 2 - 1 for x in (a, b)]
    with torch.no_grad():
        expected = reference(*to_package).reshape(-1).double().numpy()
        normalized = reference(*[torch.from_numpy(x).permute(0, 3, 1, 2) for x in (a, b)],
                               normalize=True).reshape(-1).double().numpy()
    np.testing.assert_allclose(expected, normalized, rtol=1e-6)
    np.testing.assert_allclose(metric(a, b), expected, rtol=1e-6, atol=1e-8)
    assert expected.min() > 0


def test_mean_pairwise(metric: LPIPSMetric) -> None:
    images = [_image(20 + i, 36, 36) for i in range(4)]
    pairs = [metric(images[i], images[j])[0] for i in range(4) for j in range(i + 1, 4)]
    assert len(pairs) == 6
    assert metric.mean_pairwise_lpips(images) == pytest.approx(float(np.mean(pairs)), rel=1e-5)
    assert metric.mean_pairwise_lpips(np.stack(images)) == pytest.approx(float(np.mean(pairs)), rel=1e-5)
    assert metric.mean_pairwise_lpips([images[0], images[0]]) == 0.0
    with pytest.raises(ValueError, match="at least 2 images"):
        metric.mean_pairwise_lpips(images[:1])
    with pytest.raises(ValueError, match="one size"):
        metric.mean_pairwise_lpips([images[0], _image(0, 40, 40)])


def test_input_checks(metric: LPIPSMetric) -> None:
    a = _image(0)
    with pytest.raises(ValueError, match="equal shape"):
        metric(a, _image(1, 32, 40))
    with pytest.raises(ValueError, match="dtype uint8"):
        metric((a * 255).astype(np.uint8), a)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        metric(a * 2 - 1, a)
    with pytest.raises(ValueError, match="at least 31×31"):
        metric(_image(0, 16, 16), _image(1, 16, 16))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metric(a[..., :1], a[..., :1])
    with pytest.raises(ValueError, match="alex, vgg"):
        LPIPSMetric(net="squeeze")


def test_protocol(metric: LPIPSMetric, alex_file: Path) -> None:
    assert PROTOCOL["package"] == "lpips"
    assert PROTOCOL["package_version"] == importlib.metadata.version("lpips")
    assert PROTOCOL["version"] == "0.1" and PROTOCOL["net"] == "alex"
    assert "2x - 1" in str(PROTOCOL["input"]) and str(PROTOCOL["resize"]).startswith("none")
    assert metric.protocol == {**PROTOCOL, "backbone_weights": alex_file.name}
    json.dumps(metric.protocol)


def test_lookup_order(alex_file: Path, monkeypatch: pytest.MonkeyPatch, offline: Path) -> None:
    check_weights_lookup(lambda path: LPIPSMetric(weights=path).weights_path, alex_file, WEIGHTS_ENV, offline,
                         monkeypatch)


def test_missing_weights_error_names_file_url_and_places(offline: Path) -> None:
    check_missing_weights_message(LPIPSMetric, ALEX_FILE, ALEX_URL, "--feature-weights PATH", WEIGHTS_ENV, offline)
    with pytest.raises(I2IError, match=f"VGG16 weights {VGG_FILE} .*{VGG_URL}"):
        LPIPSMetric(net="vgg")


def test_given_path_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_given_weights_must_exist(lambda path: LPIPSMetric(weights=path), tmp_path / "alex.pth",
                                   "--feature-weights", WEIGHTS_ENV, monkeypatch)


def test_unreadable_and_wrong_files(alex_state: dict[str, Tensor], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(I2IError, match="corrupt.pth: not a readable PyTorch AlexNet weights file"):
        LPIPSMetric(weights=corrupt)

    wrong_keys = tmp_path / "wrong_keys.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong_keys)
    with pytest.raises(I2IError, match="wrong_keys.pth: not a torchvision AlexNet state dict "
                                       ".no tensor '0.weight'"):
        LPIPSMetric(weights=wrong_keys)

    renamed = tmp_path / "renamed.pth"   # e.g. a state dict of another module layout
    torch.save({f"backbone.{key}": value for key, value in alex_state.items()}, renamed)
    with pytest.raises(I2IError, match="renamed.pth: not a torchvision AlexNet state dict"):
        LPIPSMetric(weights=renamed)

    state = dict(alex_state)
    state["features.3.weight"] = state["features.3.weight"][:, :32]
    wrong_shape = tmp_path / "wrong_shape.pth"
    torch.save(state, wrong_shape)
    with pytest.raises(I2IError, match=r"wrong_shape.pth: .*'features.3.weight' has shape \(192, 32, 5, 5\), "
                                       r"AlexNet needs \(192, 64, 5, 5\)"):
        LPIPSMetric(weights=wrong_shape)

    not_a_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(I2IError, match="tensor.pth: expected a state dict of torchvision's AlexNet, found a"):
        LPIPSMetric(weights=not_a_dict)


def test_vgg(alex_file: Path, tmp_path: Path) -> None:
    """net="vgg": torchvision's VGG16 `features` indices map onto the package's slices; an AlexNet file
    given for it is an error naming the file. (A synthetic features-only file: building torchvision's
    full vgg16 costs seconds.)"""
    torch.manual_seed(1)
    state: dict[str, Tensor] = {}
    channels, index = 3, 0
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if item == "M":
            index += 1
            continue
        assert isinstance(item, int)
        state[f"{index}.weight"] = torch.randn(item, channels, 3, 3) * 0.05
        state[f"{index}.bias"] = torch.randn(item) * 0.01
        channels, index = item, index + 2
    path = tmp_path / "vgg16_features.pth"
    torch.save(state, path)
    vgg = LPIPSMetric(net="vgg", weights=path)
    loaded = {name.split(".", 1)[1]: tensor for name, tensor in vgg.model.net.state_dict().items()}
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[key], value) for key, value in state.items())
    assert vgg.protocol["net"] == "vgg"
    a, b = _image(0, 16, 24), _image(1, 16, 24)  # VGG16's smallest size is 16
    assert vgg(a, a)[0] == 0.0 and vgg(a, b)[0] > 0
    with pytest.raises(I2IError, match=f"{ALEX_FILE}: not a torchvision VGG16 state dict "
                                       r".'features.0.weight' has shape \(64, 3, 11, 11\)"):
        LPIPSMetric(net="vgg", weights=alex_file)


def test_nothing_random_survives(alex_state: dict[str, Tensor], alex_file: Path) -> None:
    """Two constructions from one file are identical (seeded differently): every tensor is from files."""
    torch.manual_seed(123)
    first = LPIPSMetric(weights=alex_file).model.state_dict()
    torch.manual_seed(456)
    second = LPIPSMetric(weights=alex_file).model.state_dict()
    assert set(first) == set(second)
    assert all(torch.equal(first[key], second[key]) for key in first)

