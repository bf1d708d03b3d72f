"""The super-resolution metric convention against scikit-image on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, data, metrics
from skimage.filters import gaussian

from i2i.metrics.pixel import l1, psnr, rgb_to_y, sr_scores, ssim

# Measured: our SSIM and skimage's differ by < 1e-15 on these photos (float64 rounding only), so a
# tolerance of 1e-10 leaves room for other BLAS/numpy builds and nothing else.
SSIM_TOLERANCE = 1e-10


def _photo(name: str) -> np.ndarray:
    return getattr(data, name)().astype(np.float64) / 255.0


def _degraded(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """A blurred and noisy copy in [0, 1], the kind of output an SR model gets scored on."""
    rng = np.random.default_rng(seed)
    blurred = gaussian(image, sigma=1.0, channel_axis=-1 if image.ndim == 3 else None)
    return np.clip(blurred + rng.normal(0.0, 0.03, image.shape), 0.0, 1.0)


def _skimage_ssim(output: np.ndarray, target: np.ndarray) -> float:
    """Wang et al.'s settings in skimage. It filters the whole image (reflect padding) and averages
    the SSIM map with 5 px = (11 - 1) / 2 cropped from every side: exactly the 'valid' positions of an
    11×11 window, whose values never touch the padding, so both compute the same numbers."""
    return metrics.structural_similarity(
        output, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=2 if output.ndim == 3 else None)


PHOTOS = ["astronaut", "coffee", "chelsea"]


@pytest.mark.parametrize("name", PHOTOS)
def test_psnr_matches_skimage(name: str) -> None:
    target = _photo(name)
    output = _degraded(target)
    assert psnr(output, target) == pytest.approx(
        metrics.peak_signal_noise_ratio(target, output, data_range=1.0), abs=1e-6)


@pytest.mark.parametrize("name", PHOTOS)
def test_ssim_matches_skimage_per_channel(name: str) -> None:
    target = _photo(name)
    output = _degraded(target)
    assert abs(ssim(output, target) - _skimage_ssim(output, target)) < SSIM_TOLERANCE


@pytest.mark.parametrize("name", PHOTOS)
def test_ssim_on_luma_matches_skimage(name: str) -> None:
    target = _photo(name)[:301, :257]  # odd, non-square sizes
    output = _degraded(target, seed=1)
    x, y = rgb_to_y(output), rgb_to_y(target)
    assert abs(ssim(x, y) - _skimage_ssim(x, y)) < SSIM_TOLERANCE


def test_ssim_limits() -> None:
    target = _photo("camera")  # greyscale
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    assert ssim(_degraded(target), target) < 0.9
    smallest = target[:11, :11]  # one valid window position
    assert ssim(smallest * 0.5, smallest) == pytest.approx(_skimage_ssim(smallest * 0.5, smallest), abs=1e-12)
    with pytest.raises(ValueError, match="11"):
        ssim(target[:10, :10], target[:10, :10])


@pytest.mark.parametrize("name", PHOTOS)
def test_rgb_to_y_matches_skimage_rgb2ycbcr(name: str) -> None:
    image = _photo(name)
    expected = color.rgb2ycbcr(image)[..., 0] / 255.0
    assert np.max(np.abs(rgb_to_y(image) - expected)) < 1e-6
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235 / 255)


def test_sr_scores_is_psnr_and_ssim_of_cropped_luma() -> None:
    target = _photo("astronaut")[:200, :160]
    output = _degraded(target)
    scores = sr_scores(output, target, scale=4)
    x, y = rgb_to_y(output)[4:-4, 4:-4], rgb_to_y(target)[4:-4, 4:-4]
    assert scores["psnr"] == pytest.approx(metrics.peak_signal_noise_ratio(y, x, data_range=1.0), abs=1e-6)
    assert abs(scores["ssim"] - _skimage_ssim(x, y)) < SSIM_TOLERANCE
    assert scores["convention"] == "Y (BT.601), border 4 px cropped, data range 1"

    rgb = sr_scores(output, target, scale=2, y_channel=False, crop_border=0)
    assert rgb["psnr"] == pytest.approx(psnr(output, target), abs=1e-9)
    assert rgb["convention"] == "RGB, border 0 px cropped, data range 1"
    grey = sr_scores(rgb_to_y(output)[..., None], rgb_to_y(target)[..., None], scale=3)
    assert grey["convention"] == "grey, border 3 px cropped, data range 1"


@pytest.mark.parametrize("y_channel", [True, False])
def test_crop_border_ignores_border_pixels(y_channel: bool) -> None:
    target = _photo("coffee")[:96, :128]
    output = _degraded(target)
    spoiled = output.copy()
    rng = np.random.default_rng(2)
    border = np.ones(output.shape[:2], dtype=bool)
    border[3:-3, 3:-3] = False
    spoiled[border] = rng.random((int(border.sum()), 3))
    clean = sr_scores(output, target, scale=3, y_channel=y_channel)
    dirty = sr_scores(spoiled, target, scale=3, y_channel=y_channel)
    assert dirty["psnr"] == clean["psnr"] and dirty["ssim"] == clean["ssim"]
    # ... and a border of 2 px leaves the spoiled pixels in, so the scores do change.
    inside = sr_scores(spoiled, target, scale=3, y_channel=y_channel, crop_border=2)
    assert inside["psnr"] < clean["psnr"] - 0.01 and inside["ssim"] < clean["ssim"]


def test_l1_and_psnr_unchanged() -> None:
    target = np.zeros((4, 4, 3))
    output = np.full((4, 4, 3), 0.1)
    assert l1(output, target) == pytest.approx(0.1)
    assert psnr(output, target) == pytest.approx(20.0)
    assert psnr(target, target) == float("inf")
