"""Distribution metrics for unpaired translation: FID, KID, Inception Score and 1-NN accuracy.

Unpaired outputs have no ground truth to compare with pixel by pixel; these metrics compare the set of
translated images with the set of real images of the target domain, in the feature space of the
Inception-v3 network that FID was defined with (Heusel et al. 2017):

- FID: Fréchet distance between Gaussians fitted to the two feature sets (lower is better);
- KID: unbiased MMD² with the polynomial kernel (x·y/d + 1)³, mean ± std over random subsets
  (Bińkowski et al. 2018; lower is better, ≈ 0 and possibly slightly negative for one distribution);
- IS: exp(E KL(p(y|x) ‖ p(y))) of the Inception class probabilities, mean ± std over splits
  (Salimans et al. 2016; higher is better; it looks at the translated images only);
- 1-NN accuracy: leave-one-out accuracy of a 1-nearest-neighbour classifier telling the two sets apart
  (Lopez-Paz & Oquab 2017, as in Xu et al. 2018): ≈ 0.5 when they come from one distribution, → 1 when
  they are disjoint, < 0.5 when the fakes copy the real images (each real image's nearest is its copy).

One protocol, pinned in PROTOCOL (and meant to be written beside the numbers): torch-fidelity's
FeatureExtractorInceptionV3 and its weights file, fed as torch-fidelity feeds it. The maths is
torch-fidelity's own functions (FID, KID, IS) applied to feature arrays, so a number here is the number
torch-fidelity's `calculate_metrics` gives for the same images saved as 8-bit PNGs. Numbers computed
with another protocol (torchmetrics' FID with its default `antialias=True` resize, clean-fid's
PIL-bicubic resize, other weights) are not comparable with these.

The weights are never downloaded and never random: the file is looked up at an explicit path, at
$I2I_INCEPTION_WEIGHTS, then in torch-fidelity's own cache (`torch.hub.get_dir()/checkpoints/`), and
anything else is an I2IError saying where to put it.

This module holds the estimators and PROTOCOL; the network, its weights and feature extraction are in
`i2i.metrics.inception`, and every public name of both is importable from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch import Tensor
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

# The Inception network, its weights and feature extraction live in i2i.metrics.inception; they are
# re-exported here so that callers import every distribution-metric name from this one module.
from i2i.metrics.inception import (
    FEATURE_DIM,
    FEATURE_LAYER,
    LOGITS_DIM,
    LOGITS_LAYER,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    WEIGHTS_OPTION,
    WEIGHTS_URL,
    ArrayLike,
    Extractor,
    Images,
    InceptionExtractor,
    extract_features,
    find_inception_weights,
    to_uint8,
    torch_fidelity_cache_file,
)

__all__ = [
    "FEATURE_DIM", "FEATURE_LAYER", "LOGITS_DIM", "LOGITS_LAYER", "WEIGHTS_ENV", "WEIGHTS_FILE", "WEIGHTS_OPTION",
    "WEIGHTS_URL", "KID_SUBSETS", "KID_SUBSET_SIZE", "KID_DEGREE", "KID_COEF0", "IS_SPLITS", "SEED", "PROTOCOL",
    "ArrayLike", "Extractor", "Images", "InceptionExtractor", "extract_features", "find_inception_weights",
    "to_uint8", "torch_fidelity_cache_file", "frechet_distance", "gaussian_statistics", "fid_from_features",
    "kid_from_features", "inception_score_from_logits", "one_nn_accuracy", "distribution_scores",
]

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_DEGREE = 3
KID_COEF0 = 1.0
IS_SPLITS = 10
SEED = 2020                        # torch-fidelity's rng_seed: KID subsets, IS shuffle, 1-NN balancing

PROTOCOL: dict[str, Any] = {
    "feature_extractor": "torch-fidelity FeatureExtractorInceptionV3 (the TensorFlow Inception-v3 graph "
                         "2015-12-05 of the original FID code, ported to PyTorch)",
    "torch_fidelity_version": torch_fidelity.__version__,
    "weights_file": WEIGHTS_FILE,
    "weights_url": WEIGHTS_URL,
    "input": "float RGB in [0, 1], NCHW, any size; clamped to [0, 1] and quantised to uint8 as "
             "round(255·x), half to even (as i2i.images.quantise and an 8-bit PNG)",
    "resize": "to 299×299 inside the extractor, every size: torch-fidelity "
              "interpolate_bilinear_2d_like_tensorflow1x (TF 1.x resize_bilinear, align_corners=False, "
              "no half-pixel centres, no antialiasing) of the uint8 values as float32, then (x − 128)/128",
    "feature_layer": f"{FEATURE_LAYER} (pool3, 2048-d, float32) for FID, KID and 1-NN",
    "logits_layer": f"{LOGITS_LAYER} (pool3 · fc.weightᵀ without the fc bias, 1008 classes) for IS",
    "fid": "‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), μ/Σ = mean and unbiased covariance (float64); "
           "torch-fidelity fid_statistics_to_metric",
    "kid_kernel": f"polynomial (x·y/d + {KID_COEF0:g})^{KID_DEGREE}, d = {FEATURE_DIM}",
    "kid_estimator": "unbiased MMD² (Bińkowski et al. 2018) on float32 features, torch-fidelity "
                     "kid_features_to_metric; mean and population std over kid_subsets subsets of "
                     "min(kid_subset_size, n_real, n_fake) samples of each set, drawn without replacement",
    "kid_subsets": KID_SUBSETS,
    "kid_subset_size": KID_SUBSET_SIZE,
    "is_estimator": "exp(mean KL(p(y|x) ‖ p(y))) per split after a seeded shuffle, float64, mean and "
                    "population std over min(is_splits, n) splits; torch-fidelity isc_features_to_metric; "
                    "of the fake images (is_real_*: of the real images, for reference)",
    "is_splits": IS_SPLITS,
    "one_nn": "leave-one-out 1-nearest-neighbour two-sample accuracy, Euclidean distance on the 2048-d "
              "features; the larger set subsampled without replacement to the size of the smaller",
    "seed": SEED,
}


# --- Metrics on features -------------------------------------------------------------------------

def _features_2d(features: ArrayLike, name: str, minimum: int = 2) -> np.ndarray:
    array = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected features (N, D), got shape {array.shape}")
    if array.shape[0] < minimum:
        raise ValueError(f"{name}: needs at least {minimum} samples, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: features contain NaN or infinity")
    return array


def _pair(f1: ArrayLike, f2: ArrayLike, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features_2d(f1, "f1", minimum), _features_2d(f2, "f2", minimum)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"f1 has {a.shape[1]} feature dimensions, f2 {b.shape[1]}")
    return a, b


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ‖mu1 − mu2‖² + Tr(sigma1 + sigma2 − 2 (sigma1 sigma2)^½), in float64 (torch-fidelity's
    fid_statistics_to_metric: the trace of the square root as the sum of the square roots of the
    eigenvalues of sigma1·sigma2)."""
    m1, m2 = (np.asarray(m, dtype=np.float64) for m in (mu1, mu2))
    s1, s2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    if m1.ndim != 1 or m1.shape != m2.shape:
        raise ValueError(f"means must be vectors of one length, got {m1.shape} and {m2.shape}")
    if s1.shape != (m1.size, m1.size) or s2.shape != s1.shape:
        raise ValueError(f"covariances must be {m1.size}×{m1.size}, got {s1.shape} and {s2.shape}")
    out = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, verbose=False)
    return float(out[KEY_METRIC_FID])


def gaussian_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (rows are samples) in float64, as torch-fidelity's
    fid_features_to_statistics."""
    array = _features_2d(features, "features").astype(np.float64)
    return array.mean(axis=0), np.cov(array, rowvar=False)


def fid_from_features(f1: ArrayLike, f2: ArrayLike) -> float:
    """FID of two feature sets (N1, D) and (N2, D): the Fréchet distance of their Gaussian fits."""
    a, b = _pair(f1, f2)
    return frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))


def kid_from_features(f1: ArrayLike, f2: ArrayLike, subsets: int = KID_SUBSETS,
                      subset_size: int = KID_SUBSET_SIZE, degree: int = KID_DEGREE,
                      gamma: float | None = None, coef0: float = KID_COEF0,
                      seed: int = SEED) -> tuple[float, float]:
    """KID: (mean, std) over `subsets` random subsets of the unbiased MMD² with the polynomial kernel
    k(x, y) = (gamma·x·y + coef0)^degree, gamma = 1/D by default.

    Each subset draws min(subset_size, N1, N2) samples from each set without replacement (numpy
    RandomState(seed), as torch-fidelity). Computed by torch-fidelity's kid_features_to_metric in the
    features' dtype (float64 stays float64; anything else becomes float32, torch-fidelity's own dtype);
    the std is the population std over subsets.
    """
    a, b = _pair(f1, f2)
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"KID needs subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    dtype = np.float64 if a.dtype == np.float64 and b.dtype == np.float64 else np.float32
    size = min(subset_size, a.shape[0], b.shape[0])
    out = kid_features_to_metric(torch.from_numpy(a.astype(dtype)), torch.from_numpy(b.astype(dtype)),
                                 kid_subsets=int(subsets), kid_subset_size=int(size), kid_kernel="poly",
                                 kid_kernel_poly_degree=degree, kid_kernel_poly_gamma=gamma,
                                 kid_kernel_poly_coef0=coef0, rng_seed=seed, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def inception_score_from_logits(logits: ArrayLike, splits: int = IS_SPLITS,
                                seed: int = SEED) -> tuple[float, float]:
    """Inception Score of class logits (N, K): (mean, std) over `splits` equal parts of the rows after a
    seeded shuffle, each exp(mean_x KL(softmax(x) ‖ mean softmax)), in float64 (torch-fidelity's
    isc_features_to_metric; population std). 1 for identical predictions, K for confident predictions
    spread evenly over K classes."""
    array = _features_2d(logits, "logits", minimum=1)
    if not 1 <= splits <= array.shape[0]:
        raise ValueError(f"the Inception Score needs 1 <= splits <= N, "
                         f"got splits={splits} for N={array.shape[0]}")
    out = isc_features_to_metric(torch.from_numpy(array.astype(np.float64)), splits=int(splits), shuffle=True,
                                 rng_seed=seed)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


def one_nn_accuracy(f1: ArrayLike, f2: ArrayLike, seed: int = SEED, chunk: int = 1024) -> float:
    """Leave-one-out 1-nearest-neighbour two-sample test accuracy (Lopez-Paz & Oquab 2017; Xu et al. 2018).

    The two sets are labelled 0 and 1 and pooled; each sample is classified by the label of its
    nearest *other* sample (Euclidean distance, float64); the result is the fraction classified
    correctly. ≈ 0.5 for two samples of one distribution, 1 for disjoint ones, below 0.5 when one set
    copies the other. The test needs balanced sets: the larger one is first subsampled without
    replacement to the size of the smaller (RandomState(seed)). Ties go to the lower index.
    """
    a, b = _pair(f1, f2, minimum=1)
    n = min(a.shape[0], b.shape[0])
    rng = np.random.RandomState(seed)
    if a.shape[0] > n:
        a = a[np.sort(rng.choice(a.shape[0], n, replace=False))]
    if b.shape[0] > n:
        b = b[np.sort(rng.choice(b.shape[0], n, replace=False))]
    pooled = np.concatenate([a, b]).astype(np.float64)
    labels = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)])
    norms = np.einsum("ij,ij->i", pooled, pooled)
    correct = 0
    for start in range(0, pooled.shape[0], chunk):
        rows = pooled[start:start + chunk]
        distances = norms[start:start + chunk, None] + norms[None, :] - 2.0 * rows @ pooled.T
        index = np.arange(rows.shape[0])
        distances[index, start + index] = np.inf   # leave the sample itself out
        nearest = np.argmin(distances, axis=1)
        correct += int(np.sum(labels[nearest] == labels[start:start + chunk]))
    return correct / pooled.shape[0]


# --- Everything at once --------------------------------------------------------------------------

def distribution_scores(real_images: Images, fake_images: Images, extractor: Extractor,
                        batch_size: int = 32) -> dict[str, float | int]:
    """FID, KID, IS and 1-NN accuracy of translated (`fake_images`) against real target-domain images.

    Images: float RGB in [0, 1] as extract_features takes them (an (N, 3, H, W) tensor/array or an
    iterable of (3, H, W) images / (n, 3, H, W) batches, any sizes). `extractor`: an
    InceptionExtractor (PROTOCOL), or any callable batch → (features, logits) for tests. Returns
    {count_real, count_fake, fid, kid_mean, kid_std, kid_subsets, kid_subset_size, is_mean, is_std,
    is_splits, is_real_mean, is_real_std, one_nn_accuracy}; the subset size and split count are the
    ones used (clipped to the sample counts). Each set needs at least 2 images.
    """
    real_features, real_logits = extract_features(real_images, extractor, batch_size)
    fake_features, fake_logits = extract_features(fake_images, extractor, batch_size)
    n_real, n_fake = real_features.shape[0], fake_features.shape[0]
    if min(n_real, n_fake) < 2:
        raise ValueError(f"distribution metrics need at least 2 real and 2 fake images, "
                         f"got {n_real} and {n_fake}")
    subset_size = min(KID_SUBSET_SIZE, n_real, n_fake)
    kid_mean, kid_std = kid_from_features(real_features, fake_features, KID_SUBSETS, subset_size)
    is_mean, is_std = inception_score_from_logits(fake_logits, min(IS_SPLITS, n_fake))
    is_real_mean, is_real_std = inception_score_from_logits(real_logits, min(IS_SPLITS, n_real))
    return {
        "count_real": n_real,
        "count_fake": n_fake,
        "fid": fid_from_features(real_features, fake_features),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "kid_subsets": KID_SUBSETS,
        "kid_subset_size": subset_size,
        "is_mean": is_mean,
        "is_std": is_std,
        "is_splits": min(IS_SPLITS, n_fake),
        "is_real_mean": is_real_mean,
        "is_real_std": is_real_std,
        "one_nn_accuracy": one_nn_accuracy(real_features, fake_features),
    }
