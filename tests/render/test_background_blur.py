"""The two-layer Gaussian background blur (``gaussian``, ``rembg-blur``): exact subject, true Gaussian, no halo."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT, assert_8bit_close, assert_floats_close
from PIL import Image
from scipy import ndimage as ndi

from depthblur_cli.render.background import gaussian_background_blur, reduction_for


def _photo() -> np.ndarray:
    with Image.open(ROOT / "examples" / "astronaut.png") as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def _soft_disc(h: int, w: int) -> np.ndarray:
    """A subject matte: a disc with a 6 px soft rim and a partly transparent hole."""
    yy, xx = np.mgrid[:h, :w]
    matte = np.clip((0.3 * min(h, w) - np.hypot(yy - h / 2, xx - w / 2)) / 6.0, 0.0, 1.0)
    matte[np.hypot(yy - h / 2, xx - w / 2) < 10] = 0.4
    return matte.astype(np.float32)


def _normalised_convolution(rgb: np.ndarray, matte: np.ndarray, sigma: float) -> np.ndarray:
    """The definition, at full resolution in float64: background = G*(rgb (1-a)) / G*(1-a)."""
    cover = 1.0 - matte.astype(np.float64)
    blur = lambda x: ndi.gaussian_filter(x, sigma, mode="constant", truncate=6.0)  # noqa: E731
    total = blur(cover)
    background = np.stack([blur(rgb[..., c] * cover) for c in range(3)], axis=-1) / np.maximum(total, 1e-12)[..., None]
    return matte[..., None] * rgb + cover[..., None] * background


@pytest.mark.parametrize("sigma", [2.0, 9.0, 20.0])
def test_equals_the_full_resolution_normalised_convolution(sigma):
    """Reduced by 1, 2 and 5 here: within 1/255 of the definition away from the border, 0.1/255 on average."""
    rgb = _photo()
    matte = _soft_disc(*rgb.shape[:2])
    out = gaussian_background_blur(rgb, matte, sigma)
    ref = _normalised_convolution(rgb, matte, sigma)
    inner = (slice(int(3 * sigma), -int(3 * sigma)),) * 2
    err = np.abs(out - ref)[inner]
    assert reduction_for(sigma) == max(1, int(sigma // 4))
    assert err.max() < 1.0 / 255, err.max() * 255
    assert err.mean() < 0.1 / 255, err.mean() * 255


def test_subject_pixels_are_returned_bit_for_bit_and_in_place_is_the_same():
    rgb = _photo()
    matte = _soft_disc(*rgb.shape[:2])
    out = gaussian_background_blur(rgb, matte, 15.0)
    solid = matte == 1.0
    assert solid.sum() > 10_000
    assert np.array_equal(out[solid], rgb[solid])
    same = rgb.copy()
    assert gaussian_background_blur(same, matte, 15.0, out=same) is same
    assert_floats_close(same, out)  # another buffer: NumPy and OpenCV may round its SIMD tails apart


def test_no_matte_is_a_plain_gaussian_blur_and_a_full_one_changes_nothing():
    rgb = _photo()
    sigma = 12.0
    out = gaussian_background_blur(rgb, np.zeros(rgb.shape[:2], np.float32), sigma)
    plain = np.stack([ndi.gaussian_filter(rgb[..., c].astype(np.float64), sigma) for c in range(3)], -1)
    inner = (slice(40, -40),) * 2
    assert np.abs(out - plain)[inner].max() < 1.0 / 255
    assert np.array_equal(gaussian_background_blur(rgb, np.ones(rgb.shape[:2], np.float32), sigma), rgb)


def test_background_never_takes_the_subjects_colour():
    """A red subject on a grey-and-blue background: with an exact matte, no red reaches the background."""
    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w]
    subject = np.hypot(yy - 150, xx - 200) < 80
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = np.where((xx < 200)[..., None], [0.5, 0.5, 0.5], [0.1, 0.2, 0.8])
    rgb[subject] = [0.9, 0.05, 0.05]
    out = gaussian_background_blur(rgb, subject.astype(np.float32), 25.0)
    background = ~subject
    # Red exceeds green only where blue-grey mixing would never make it.
    assert (out[background][:, 0] - out[background][:, 1]).max() < 1e-4
    assert np.array_equal(out[subject], rgb[subject])


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan"), float("inf")])
def test_refuses_a_sigma_that_is_not_finite_and_positive(sigma):
    with pytest.raises(ValueError, match="sigma"):
        gaussian_background_blur(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), sigma)


def test_an_8_bit_photo_gives_the_float_result_rounded_and_its_subject_bit_for_bit():
    photo = np.rint(_photo() * 255).astype(np.uint8)
    matte = _soft_disc(*photo.shape[:2])
    out = gaussian_background_blur(photo, matte, 15.0)
    ref = gaussian_background_blur(photo / np.float32(255), matte, 15.0)
    assert out.dtype == np.uint8
    # The background is rounded to 8 bits, enlarged in 8 bits, then the result is rounded: 1.3 measured.
    assert np.abs(out - ref * 255).max() <= 1.5
    solid = matte == 1.0
    assert np.array_equal(out[solid], photo[solid])
    in_place = photo.copy()
    assert gaussian_background_blur(in_place, matte, 15.0, out=in_place) is in_place
    assert_8bit_close(in_place, out)
