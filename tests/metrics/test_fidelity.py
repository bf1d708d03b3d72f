"""Distribution metrics (FID, KID, IS, 1-NN): the maths on synthetic features, the offline weight lookup,
and the Inception extractor end to end on FAKE weights. No network, no real Inception weights.

The fake weights file has torch-fidelity's format: FeatureExtractorInceptionV3 built with PyTorch's
random initialisation (its own loading switched off while building it), its state dict saved as a plain
dict of tensors without the BatchNorm `num_batches_tracked` counters, as torch-fidelity's converter
(utils/util_convert_inception_weights.py) writes the real file. Its features are meaningless: these tests
prove the plumbing (lookup, loading, uint8 conversion, resizing any size, batching), not the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from i2i.errors import I2IError
from i2i.images import quantise
from i2i.metrics.fidelity import (
    PROTOCOL,
    WEIGHTS_ENV,
    InceptionExtractor,
    distribution_scores,
    extract_features,
    fid_from_features,
    find_inception_weights,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    one_nn_accuracy,
    to_uint8,
    torch_fidelity_cache_file,
)
from tests.conftest import check_given_weights_must_exist, check_missing_weights_message, check_weights_lookup

FILE_NAME = "weights-inception-2015-12-05-6726825d.pth"
URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + FILE_NAME


# --- Fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: Inception's many small convolutions on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Inception weights in the exact format torch-fidelity loads (96 MB, built once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *args, **kwargs: None)
        torch.manual_seed(0)
        network = FeatureExtractorInceptionV3("random", ["2048"])
    state = {key: value for key, value in network.state_dict().items()
             if not key.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("inception") / "fake-inception.pth"
    torch.save(state, path)
    return path


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $I2I_INCEPTION_WEIGHTS, an empty torch hub dir, and torch-fidelity's downloader disarmed:
    returns the hub dir."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch-fidelity tried to download the Inception weights")

    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", no_download)
    return tmp_path / "torch_home" / "hub"


# --- Fréchet distance / FID ------------------------------------------------------------------------

def test_frechet_distance_closed_form_diagonal() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_rotated_and_general_covariances() -> None:
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    d1, d2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    sigma1, sigma2 = rotation @ np.diag(d1) @ rotation.T, rotation @ np.diag(d2) @ rotation.T
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    # Covariances that commute: the same eigenvectors, so Tr((Σ1Σ2)^½) = Σ √(d1·d2).
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    # Any SPD pair: against scipy's matrix square root (pytorch-fid's / TTUR's formula).
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    sigma1, sigma2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * covmean)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_large_gaussian_samples() -> None:
    # N(0, I) vs N(m, I) in 8 dimensions: FID → ‖m‖² = 2. Sampling error of ‖m̂‖² ≈ 2‖m‖√(2/n) ≈ 0.03
    # with n = 20000; over seeds 0..4 the error was at most 0.045, so 0.1 is a >3σ tolerance.
    rng = np.random.default_rng(0)
    shift = np.full(8, 0.5)
    real, fake = rng.standard_normal((20000, 8)), rng.standard_normal((20000, 8)) + shift
    assert fid_from_features(real, fake) == pytest.approx(float(shift @ shift), abs=0.1)
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(torch.from_numpy(real), fake) == fid_from_features(real, fake)


def test_fid_input_checks() -> None:
    with pytest.raises(ValueError, match="feature dimensions"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fid_from_features(np.full((3, 3), np.nan), np.zeros((5, 3)))


# --- KID -------------------------------------------------------------------------------------------

def _direct_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of Bińkowski et al. 2018 (Eq. 4 with k = (x·y/d + 1)³), written out term by term."""
    m, d = x.shape

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((a @ b / d + 1.0) ** 3)

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_formula_and_torchmetrics() -> None:
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 5)) * 1.5 + 0.3
    # One subset of all samples: a permutation of both sets, and MMD² does not depend on the order.
    mean, std = kid_from_features(x, y, subsets=1, subset_size=40)
    assert mean == pytest.approx(_direct_unbiased_mmd2(x, y), rel=1e-10)
    assert mean == pytest.approx(float(poly_mmd(torch.from_numpy(x), torch.from_numpy(y))), rel=1e-10)
    assert std == 0.0


def test_kid_same_distribution_near_zero_shifted_clearly_positive() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((400, 32)), rng.standard_normal((400, 32))
    mean, std = kid_from_features(a, b, subsets=50, subset_size=200)
    # Over seeds 0..4 |mean|/std was 0.005..0.86 (std ≈ 0.007); the estimator is unbiased, so ≈ 0.
    assert abs(mean) < 3 * std and abs(mean) < 0.03
    shifted_mean, shifted_std = kid_from_features(a, b + 0.5, subsets=50, subset_size=200)
    assert shifted_mean > 0.5 and shifted_mean > 10 * shifted_std   # measured ≈ 1.0 ± 0.05


def test_kid_subset_size_clipped_and_seeded() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((50, 4)) + 1.0
    default = kid_from_features(a, b, subsets=5)            # subset_size 1000 → 30
    assert default == kid_from_features(a, b, subsets=5, subset_size=30)
    assert default == kid_from_features(a, b, subsets=5)    # seeded: the same subsets every call
    assert default != kid_from_features(a, b, subsets=5, seed=1)
    # float32 features (the extractor's dtype) are computed in float32: same value to ~1e-6.
    single = kid_from_features(a.astype(np.float32), b.astype(np.float32), subsets=5)
    assert single[0] == pytest.approx(default[0], rel=1e-5)


# --- Inception Score -------------------------------------------------------------------------------

def test_inception_score_uniform_and_confident() -> None:
    assert inception_score_from_logits(np.zeros((50, 10)), splits=5) == pytest.approx((1.0, 0.0), abs=1e-12)
    # K perfectly confident predictions, balanced classes: IS = exp(H(p(y))) = K.
    k, n = 7, 7000
    logits = np.zeros((n, k))
    logits[np.arange(n), np.arange(n) % k] = 100.0
    mean, std = inception_score_from_logits(logits, splits=1)
    assert mean == pytest.approx(k, rel=1e-12) and std == 0.0
    # 10 shuffled splits of 700 are only nearly balanced: a little below K (measured 6.979 ± 0.007;
    # 6.63 ± 0.14 with splits of 70).
    mean, std = inception_score_from_logits(logits, splits=10)
    assert k - 0.05 < mean <= k and std < 0.02


def test_inception_score_matches_direct_formula() -> None:
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((60, 12)) * 3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    kl = np.sum(p * (np.log(p) - np.log(p.mean(axis=0))), axis=1)
    assert inception_score_from_logits(logits, splits=1)[0] == pytest.approx(np.exp(kl.mean()), rel=1e-12)
    with pytest.raises(ValueError, match="splits"):
        inception_score_from_logits(logits, splits=61)


# --- 1-NN two-sample accuracy ----------------------------------------------------------------------

def test_one_nn_same_distribution_disjoint_and_copied() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((300, 16)), rng.standard_normal((300, 16))
    # Under one distribution ≈ 0.5; over seeds 0..7 it was 0.47..0.52 (n = 2·300).
    assert one_nn_accuracy(a, b) == pytest.approx(0.5, abs=0.06)
    assert one_nn_accuracy(a, b + 10.0) == 1.0
    assert one_nn_accuracy(a, a.copy()) == 0.0   # memorised: each sample's nearest is its copy


def test_one_nn_small_exact_case_and_balancing() -> None:
    # 1-D: a = {0, 1}, b = {10, 11.5}: everyone's nearest other sample is in its own set.
    assert one_nn_accuracy(np.array([[0.0], [1.0]]), np.array([[10.0], [11.5]])) == 1.0
    # a = {0, 2}, b = {1, 3}: nearest of 0 is 1 (b), of 2 is 1 or 3 → 1 (b, lower index), of 1 is 0 (a),
    # of 3 is 2 (a): all wrong.
    assert one_nn_accuracy(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])) == 0.0
    # Unequal sizes: the larger set is subsampled to the smaller one, seeded.
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((80, 4)) + 20.0
    assert one_nn_accuracy(a, b) == 1.0
    assert one_nn_accuracy(a, b[:50], chunk=7) == one_nn_accuracy(a, b[:50])


# --- Weights lookup --------------------------------------------------------------------------------

def test_protocol_names_the_pinned_choices() -> None:
    assert PROTOCOL["weights_file"] == FILE_NAME and PROTOCOL["weights_url"] == URL
    assert (PROTOCOL["kid_subsets"], PROTOCOL["kid_subset_size"], PROTOCOL["is_splits"]) == (100, 1000, 10)
    assert "2048" in PROTOCOL["feature_layer"] and "logits_unbiased" in PROTOCOL["logits_layer"]
    assert "interpolate_bilinear_2d_like_tensorflow1x" in PROTOCOL["resize"]
    assert torch_fidelity_cache_file().name == FILE_NAME


def test_lookup_order(fake_weights: Path, monkeypatch: pytest.MonkeyPatch, offline: Path) -> None:
    renamed = fake_weights.parent / FILE_NAME  # the cache holds the file under torch-fidelity's name
    if not renamed.exists():
        renamed.symlink_to(fake_weights)
    check_weights_lookup(find_inception_weights, renamed, WEIGHTS_ENV, offline, monkeypatch)


def test_missing_weights_error_names_file_url_and_places(offline: Path) -> None:
    check_missing_weights_message(InceptionExtractor, FILE_NAME, URL, "--feature-weights PATH", WEIGHTS_ENV, offline)


def test_given_path_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_given_weights_must_exist(lambda path: InceptionExtractor(weights=path), tmp_path / "inception.pth",
                                   "--feature-weights", WEIGHTS_ENV, monkeypatch)


def test_unreadable_and_wrong_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(I2IError, match="corrupt.pth: not a readable PyTorch Inception weights file"):
        InceptionExtractor(weights=corrupt)
    not_a_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(I2IError, match="tensor.pth: expected torch-fidelity's Inception-v3 state dict"):
        InceptionExtractor(weights=not_a_dict)
    wrong_keys = tmp_path / "wrong_keys.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong_keys)
    with pytest.raises(I2IError) as caught:
        InceptionExtractor(weights=wrong_keys)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{wrong_keys}: not torch-fidelity's Inception-v3 weights (Missing key(s)")


# --- The extractor on fake weights -----------------------------------------------------------------

def test_fake_weights_end_to_end_offline(fake_weights: Path, offline: Path) -> None:
    extractor = InceptionExtractor(weights=fake_weights)
    assert extractor.weights_path == fake_weights and len(extractor.weights_sha256) == 64
    saved = torch.load(fake_weights, weights_only=True)
    assert torch.equal(extractor.network.Conv2d_1a_3x3.conv.weight, saved["Conv2d_1a_3x3.conv.weight"])
    extractor.train()
    assert not any(module.training for module in extractor.modules())

    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 40, 56, generator=generator), torch.rand(3, 64, 48, generator=generator)]
    features, logits = extract_features(images, extractor)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert features.dtype == np.float32 and np.all(np.isfinite(features)) and np.all(np.isfinite(logits))
    assert np.any(features != 0) and not np.array_equal(features[0], features[1])
    # Exactly torch-fidelity's network on the uint8 images, each at its own size.
    with torch.no_grad():
        for image, row in zip(images, features):
            direct, _ = extractor.network(to_uint8(image[None]))
            assert np.array_equal(direct[0].numpy(), row)
    with pytest.raises(ValueError, match="RGB"):
        extractor(torch.rand(1, 1, 8, 8))


# --- Conversion, batching, everything at once ------------------------------------------------------

def test_to_uint8_rounds_like_quantise() -> None:
    values = torch.tensor([-0.1, 0.0, 0.5 / 255, 1.5 / 255, 0.2, 0.999, 1.0, 1.3]).view(1, 1, 2, 4)
    expected = quantise(values.numpy())
    assert np.array_equal(to_uint8(values).numpy(), expected)
    assert to_uint8(values.double()).dtype == torch.uint8


def _colour_extractor(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A cheap stand-in: per-channel means and stds as 'features', the means as 'logits'."""
    flat = batch.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2)], dim=1), flat.mean(2) * 10


def test_batching_keeps_order_for_any_layout() -> None:
    generator = torch.Generator().manual_seed(1)
    batch = torch.rand(7, 3, 16, 16, generator=generator)
    one_by_one, _ = extract_features(list(batch), _colour_extractor, batch_size=1)
    for layout in (batch, batch.numpy(), list(batch), [batch[:2], batch[2], batch[3], batch[4:]]):
        features, _ = extract_features(layout, _colour_extractor, batch_size=3)
        np.testing.assert_allclose(features, one_by_one, rtol=1e-6)
    mixed = [torch.rand(3, 16, 16), torch.rand(3, 20, 12), torch.rand(2, 3, 8, 8)]
    assert extract_features(mixed, _colour_extractor)[0].shape == (4, 6)
    with pytest.raises(ValueError, match="no images"):
        extract_features([], _colour_extractor)


def test_distribution_scores_combines_the_metrics() -> None:
    generator = torch.Generator().manual_seed(2)
    real = torch.rand(12, 3, 16, 16, generator=generator)
    fake = [torch.rand(3, 16, 16, generator=generator) * 0.5 for _ in range(9)]
    scores = distribution_scores(real, fake, _colour_extractor, batch_size=4)
    real_f, real_l = extract_features(real, _colour_extractor)
    fake_f, fake_l = extract_features(fake, _colour_extractor)
    assert scores["count_real"] == 12 and scores["count_fake"] == 9
    assert scores["fid"] == pytest.approx(fid_from_features(real_f, fake_f))
    assert (scores["kid_mean"], scores["kid_std"]) == kid_from_features(real_f, fake_f, subset_size=9)
    assert (scores["kid_subsets"], scores["kid_subset_size"], scores["is_splits"]) == (100, 9, 9)
    assert (scores["is_mean"], scores["is_std"]) == inception_score_from_logits(fake_l, 9)
    assert (scores["is_real_mean"], scores["is_real_std"]) == inception_score_from_logits(real_l, 10)
    assert scores["one_nn_accuracy"] == one_nn_accuracy(real_f, fake_f)
    assert scores["fid"] > 0 and scores["kid_mean"] > 0 and scores["one_nn_accuracy"] > 0.9
    with pytest.raises(ValueError, match="at least 2"):
        distribution_scores(real, fake[:1], _colour_extractor)
