"""A distribution score that needs no downloaded network: KID and 1-NN accuracy on pixel statistics.

Periodic held-out evaluation during training (`i2i.train.held_out`) must score unpaired and few-shot
translation without FID's Inception weights, which a run cannot be assumed to have. So it compares
the set of translations with the set of real target images in a fixed, hand-made feature space:

    feature(image) = [ the image area-averaged to 8×8 (192 values: colour layout),
                       per-channel mean and std over the image (6: global colour statistics),
                       per-channel mean |∂x| + |∂y| of neighbouring pixels (3: edge / texture energy) ]

each of the 201 dimensions standardised by the real set's own mean and std (floored at STD_FLOOR), and
each group weighted to a third of the squared distance, so that no group dominates. On those features:
KID, the unbiased MMD² with KID's polynomial kernel (x·y/d + 1)³ over the whole sets (Bińkowski et
al. 2018; ≈ 0 for one distribution, lower is better), and the leave-one-out 1-nearest-neighbour
two-sample accuracy (0.5 = indistinguishable, 1 = disjoint).

What it is not: FID, or any perceptual measure. It sees colour, coarse layout and fine-edge energy;
it cannot tell two shapes apart below the 8×8 grid, nor whether a texture looks real. It is a
training-time monitor — comparable across the evaluations of one run (the real set is fixed) — and
not comparable with `i2i eval`'s Inception-feature FID/KID or across data sets. numpy only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

LAYOUT_SIDE = 8                 # colour layout: the image area-averaged to 8×8
STD_FLOOR = 0.02                # ≈ 5/255: a dimension constant over the real set is not divided by ~0
KID_DEGREE, KID_COEF0 = 3, 1.0  # KID's kernel (x·y/d + 1)³, as torch-fidelity and the KID paper
GROUP_SIZES = (LAYOUT_SIDE * LAYOUT_SIDE * 3, 6, 3)  # colour layout, colour statistics, edge energy
FEATURE_DIM = sum(GROUP_SIZES)
GROUP_WEIGHTS = np.concatenate([np.full(size, np.sqrt(FEATURE_DIM / (len(GROUP_SIZES) * size)))
                                for size in GROUP_SIZES])


def pixel_features(images: list[np.ndarray]) -> np.ndarray:
    """(N, 201) float64 features of H×W×3 float images in [0, 1] (any sizes; see the module docstring)."""
    rows = []
    for image in images:
        image = np.asarray(image, dtype=np.float32)
        planes = [Image.fromarray(np.ascontiguousarray(image[..., c]), "F").resize(
            (LAYOUT_SIDE, LAYOUT_SIDE), Image.Resampling.BOX) for c in range(3)]
        layout = np.stack([np.asarray(p) for p in planes], -1).reshape(-1)
        colour = np.concatenate([image.mean((0, 1)), image.std((0, 1))])
        edges = np.abs(np.diff(image, axis=1)).mean((0, 1)) + np.abs(np.diff(image, axis=0)).mean((0, 1))
        rows.append(np.concatenate([layout, colour, edges]))
    return np.asarray(rows, dtype=np.float64)


def standardise(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`features` in units of the reference set's per-dimension spread, each of the three groups then
    weighted so that it holds a third of the squared distance (the 192 layout values would otherwise
    drown the 6 colour statistics and the 3 edge energies)."""
    return (features - reference.mean(0)) / np.maximum(reference.std(0), STD_FLOOR) * GROUP_WEIGHTS


def kid(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased MMD² of two feature sets (m, d) and (n, d) with the kernel (x·y/d + 1)³, every sample
    used (with m = n it equals torch-fidelity's KID of one subset holding every sample)."""
    m, n = len(real), len(fake)
    if min(m, n) < 2:
        raise ValueError(f"KID needs at least 2 real and 2 fake images, got {m} and {n}")
    dim = real.shape[1]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / dim + KID_COEF0) ** KID_DEGREE

    k_rr, k_ff, k_rf = kernel(real, real), kernel(fake, fake), kernel(real, fake)
    within_real = (k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
    within_fake = (k_ff.sum() - np.trace(k_ff)) / (n * (n - 1))
    return float(within_real + within_fake - 2.0 * k_rf.mean())


def one_nn_accuracy(real: np.ndarray, fake: np.ndarray, seed: int = 2020) -> float:
    """Leave-one-out 1-NN two-sample accuracy (Lopez-Paz & Oquab 2017), the larger set subsampled to the
    smaller's size (RandomState(seed)) — the estimator of `i2i.metrics.fidelity.one_nn_accuracy`,
    written out here so that a training run need not import torch-fidelity."""
    n = min(len(real), len(fake))
    rng = np.random.RandomState(seed)
    if len(real) > n:
        real = real[np.sort(rng.choice(len(real), n, replace=False))]
    if len(fake) > n:
        fake = fake[np.sort(rng.choice(len(fake), n, replace=False))]
    pooled = np.concatenate([real, fake])
    labels = np.repeat([0, 1], n)
    norms = np.einsum("ij,ij->i", pooled, pooled)
    distances = norms[:, None] + norms[None, :] - 2.0 * pooled @ pooled.T
    np.fill_diagonal(distances, np.inf)
    return float(np.mean(labels[np.argmin(distances, axis=1)] == labels))


def pixel_scores(real_images: list[np.ndarray], fake_images: list[np.ndarray],
                 real_features: np.ndarray | None = None) -> dict[str, float]:
    """{"pixel_kid", "pixel_1nn"} of `fake_images` against `real_images` (their features may be passed
    precomputed: the held-out real set is fixed for a run)."""
    real = pixel_features(real_images) if real_features is None else real_features
    fake = standardise(pixel_features(fake_images), real)
    real = standardise(real, real)
    return {"pixel_kid": kid(real, fake), "pixel_1nn": one_nn_accuracy(real, fake)}
