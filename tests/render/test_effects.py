"""Unit tests of the haze, grain and colour controls (depthblur_cli.render.effects).

The functions are run on the real astronaut photo (decoded to linear light
where the function works in linear light) and, where an exact property is
checked, on synthetic ramps whose right answer is known in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthblur_cli.colour import linear_to_srgb, luminance, srgb_to_linear
from depthblur_cli.render import effects as fx


@pytest.fixture(scope="module")
def photo(astronaut_rgb) -> np.ndarray:
    """The astronaut at 128x128, sRGB float32 0..1 (small: fast)."""
    return np.ascontiguousarray(astronaut_rgb[::4, ::4])


@pytest.fixture(scope="module")
def linear(photo) -> np.ndarray:
    return srgb_to_linear(photo)


def ramp_disparity(h: int, w: int) -> np.ndarray:
    """Normalised disparity: 0 (farthest) in the top row .. 1 (nearest) in the bottom row."""
    return np.repeat(np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None], w, axis=1)


# ---------------------------------------------------------------------------
# Effects
# ---------------------------------------------------------------------------


def test_effects_defaults_are_identity_and_ranges_are_checked():
    assert fx.Effects().is_identity and fx.Effects().as_dict() == {}
    assert not fx.Effects(haze=1).is_identity and fx.Effects(haze=1).colour_is_identity
    assert not fx.Effects(brightness=-5).colour_is_identity
    assert fx.Effects(grain=10, seed=3, temp=-20).as_dict() == {"grain": 10, "temp": -20, "seed": 3}
    for bad in (
        {"haze": -1},
        {"grain": 101},
        {"temp": 50.5},
        {"tint": -51},
        {"saturation": float("nan")},
        {"brightness": 200},
        {"seed": -1},
    ):
        with pytest.raises(ValueError):
            fx.Effects(**bad)


# ---------------------------------------------------------------------------
# Haze
# ---------------------------------------------------------------------------


def test_haze_follows_the_scattering_model_and_grows_with_distance(linear):
    h, w = linear.shape[:2]
    disp = ramp_disparity(h, w)
    airlight = np.array([0.8, 0.8, 0.8], np.float32)
    out = fx.add_haze(linear, disp, 50, airlight)
    assert out.dtype == np.float32 and out.shape == linear.shape
    # I = J t + A (1 - t), t = exp(-beta z), z = 1 - disparity, beta = 0.5 * HAZE_BETA_MAX.
    t = np.exp(-0.5 * fx.HAZE_BETA_MAX * (1.0 - disp))[..., None]
    np.testing.assert_allclose(out, linear * t + airlight * (1 - t), atol=1e-6)
    # The nearest row is untouched; the farthest is mostly airlight.
    np.testing.assert_allclose(out[-1], linear[-1], atol=1e-7)
    far_share = 1 - np.exp(-0.5 * fx.HAZE_BETA_MAX)
    assert far_share > 0.6
    # Not a flat fog: the pull toward the airlight grows row by row.
    pull = np.abs(out - linear).mean(axis=(1, 2)) / np.maximum(np.abs(airlight - linear).mean(axis=(1, 2)), 1e-6)
    assert np.all(np.diff(pull) < 1e-6) and pull[0] > 0.6 and pull[-1] < 1e-6
    # More haze, more pull.
    more = fx.add_haze(linear, disp, 100, airlight)
    assert np.abs(more[:10] - airlight).mean() < np.abs(out[:10] - airlight).mean()


def test_haze_zero_is_exact_and_bad_arguments_raise(linear):
    disp = ramp_disparity(*linear.shape[:2])
    assert np.array_equal(fx.add_haze(linear, disp, 0), linear)
    with pytest.raises(ValueError, match="haze"):
        fx.add_haze(linear, disp, 120)
    with pytest.raises(ValueError, match="disparity"):
        fx.add_haze(linear, disp * 3, 50)
    with pytest.raises(ValueError, match="disparity"):
        fx.add_haze(linear, disp[:-1], 50)
    with pytest.raises(ValueError, match="H, W, 3"):
        fx.add_haze(linear[..., 0], disp, 50)
    with pytest.raises(ValueError, match="airlight"):
        fx.add_haze(linear, disp, 50, airlight=np.array([2.0, 0.5, 0.5]))


def test_airlight_is_bright_and_takes_a_little_of_the_far_colour(linear):
    h, w = linear.shape[:2]
    disp = ramp_disparity(h, w)
    a = fx.estimate_airlight(linear, disp)
    assert a.shape == (3,) and a.dtype == np.float32
    assert abs(float(luminance(a[None, None])[0, 0]) - fx.AIRLIGHT_LUMINANCE) < 1e-3
    assert a.max() - a.min() < 0.3  # near-white
    # A blue far region (the farthest rows) tints the airlight blue, a red one red.
    blue, red = linear.copy(), linear.copy()
    blue[: h // 8] = [0.2, 0.4, 0.9]
    red[: h // 8] = [0.9, 0.3, 0.2]
    a_blue, a_red = fx.estimate_airlight(blue, disp), fx.estimate_airlight(red, disp)
    assert a_blue[2] > a_blue[0] + 0.05 and a_red[0] > a_red[2] + 0.05
    # Black far region: plain grey-white.
    dark = linear.copy()
    dark[: h // 4] = 0
    np.testing.assert_allclose(fx.estimate_airlight(dark, disp), fx.AIRLIGHT_LUMINANCE, atol=1e-5)


# ---------------------------------------------------------------------------
# Grain
# ---------------------------------------------------------------------------


def test_grain_is_reproducible_midtone_weighted_and_correlated():
    grey = np.full((256, 256, 3), 0.5, np.float32)
    a, b = fx.add_grain(grey, 50, seed=0), fx.add_grain(grey, 50, seed=0)
    c = fx.add_grain(grey, 50, seed=1)
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01
    noise = a[..., 0] - 0.5
    # Monochrome: the same grain on all channels.
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])
    # Standard deviation in mid-grey = amount/100 * GRAIN_SIGMA_MAX; zero mean.
    assert abs(noise.std() - 0.5 * fx.GRAIN_SIGMA_MAX) < 0.002, noise.std()
    assert abs(noise.mean()) < 0.002
    # Slightly clumped: neighbour correlation of a 0.7 px Gaussian, exp(-1/(4 * 0.7^2)) = 0.60.
    corr = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert 0.5 < corr < 0.7, corr
    # Strongest in mid-tones, none in pure black and white.
    ramp = np.repeat(np.linspace(0, 1, 256, dtype=np.float32)[None, :, None], 256, axis=0).repeat(3, axis=2)
    d = fx.add_grain(ramp, 50)[..., 0] - ramp[..., 0]
    spread = d.std(axis=0)
    assert spread[0] == 0 and spread[-1] == 0
    assert spread[128] > 2 * spread[25] and spread[128] > 2 * spread[230]


def test_grain_zero_is_exact_and_bad_arguments_raise(photo):
    assert np.array_equal(fx.add_grain(photo, 0, seed=5), photo)
    for kwargs in ({"amount": -1}, {"amount": 100.1}, {"amount": 10, "seed": -2}):
        with pytest.raises(ValueError):
            fx.add_grain(photo, **kwargs)
    with pytest.raises(ValueError):
        fx.add_grain(photo[..., :2], 10)


# ---------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------


def test_colour_gains_keep_grey_luminance():
    y = np.array([0.2126, 0.7152, 0.0722])
    assert np.array_equal(fx.colour_gains(0, 0), np.ones(3, np.float32))
    for temp, tint in ((50, 0), (-50, 0), (0, 50), (0, -50), (20, -35)):
        g = fx.colour_gains(temp, tint)
        assert abs(float(g @ y) - 1) < 1e-5
    warm, magenta = fx.colour_gains(50, 0), fx.colour_gains(0, 50)  # the API's extremes
    assert abs(warm[0] / warm[2] - 2.0**fx.TEMP_STOPS) < 1e-4
    assert abs(magenta[0] / magenta[1] - 2.0 ** (1.5 * fx.TINT_STOPS)) < 1e-4 and magenta[0] == magenta[2]


def test_colour_all_zero_is_bit_identical(linear):
    out = fx.adjust_colour(linear, 0, 0, 0, 0)
    assert out is not linear and np.array_equal(out, linear)
    for name in ("temp", "tint", "saturation", "brightness"):
        assert np.array_equal(fx.adjust_colour(linear, **{name: 0.0}), linear)


@pytest.mark.parametrize("sign", [1, -1])
def test_colour_controls_move_the_right_channels(linear, sign):
    def ratio(img, a, b):
        return float(img[..., a].mean() / img[..., b].mean())

    warm = fx.adjust_colour(linear, temp=25 * sign)  # half the range, as this test was written for
    assert sign * (ratio(warm, 0, 2) - ratio(linear, 0, 2)) > 0.1
    magenta = fx.adjust_colour(linear, tint=25 * sign)
    assert sign * (ratio(linear, 1, 0) - ratio(magenta, 1, 0)) > 0.05
    assert sign * (ratio(linear, 1, 2) - ratio(magenta, 1, 2)) > 0.05
    # Temp and tint change colour, not exposure: the mean luminance stays within 3%.
    for img in (warm, magenta):
        assert abs(luminance(img).mean() / luminance(linear).mean() - 1) < 0.03
    brighter = fx.adjust_colour(linear, brightness=25 * sign)
    assert sign * (luminance(brighter).mean() - luminance(linear).mean()) > 0.03
    # Order is kept (monotone), and black and white stay.
    edges = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]], np.float32)
    np.testing.assert_allclose(fx.adjust_colour(edges, brightness=50 * sign), edges, atol=1e-6)
    more = fx.adjust_colour(linear, saturation=25 * sign)
    chroma = lambda img: np.abs(img - luminance(img)[..., None]).mean()  # noqa: E731
    assert sign * (chroma(more) - chroma(linear)) > 0.005


def test_saturation_minus_50_is_grey_with_the_same_luminance(linear):
    grey = fx.adjust_colour(linear, saturation=-50)  # the API's -50: fully unsaturated
    assert np.abs(grey - grey[..., :1]).max() < 1e-6
    np.testing.assert_allclose(grey[..., 0], luminance(linear), atol=1e-6)


def test_colour_bad_arguments_raise(linear):
    for kwargs in ({"temp": 51}, {"tint": -50.01}, {"saturation": 150}, {"brightness": float("inf")}):
        with pytest.raises(ValueError):
            fx.adjust_colour(linear, **kwargs)
    with pytest.raises(ValueError):
        fx.adjust_colour(linear[0], temp=10)


# ---------------------------------------------------------------------------
# In the renderer
# ---------------------------------------------------------------------------


def test_render_depth_blur_without_effects_is_the_plain_lens_blur(photo):
    from depthblur_cli.pipeline.compose import render_depth_blur
    from depthblur_cli.pipeline.options import DepthOptions
    from depthblur_cli.render.lens import render_depth_of_field

    h, w = photo.shape[:2]
    disp = ramp_disparity(h, w)
    coc = (-6.0 * (1.0 - disp)).astype(np.float32)  # focus on the nearest row
    options = DepthOptions()
    plain = linear_to_srgb(
        render_depth_of_field(srgb_to_linear(photo), coc, aperture=options.aperture, highlights=options.highlights)
    )
    assert np.array_equal(render_depth_blur(photo, coc, options), plain)
    # Colour controls explicitly at 0 are the same object state: still identical.
    assert np.array_equal(render_depth_blur(photo, coc, DepthOptions(effects=fx.Effects(temp=0.0, seed=7))), plain)
    with pytest.raises(ValueError, match="disparity"):
        render_depth_blur(photo, coc, DepthOptions(effects=fx.Effects(haze=20)))
    hazy = render_depth_blur(photo, coc, DepthOptions(effects=fx.Effects(haze=20)), disparity=disp)
    # Linear luminance gained per row, far (top) to near (bottom): ~(1 - exp(-0.4 z)) of the way to the airlight.
    gain = (luminance(srgb_to_linear(hazy)) - luminance(srgb_to_linear(plain))).mean(axis=1)
    assert gain[:8].mean() > 0.1 and gain[:8].mean() > 10 * gain[-8:].mean(), (gain[:8].mean(), gain[-8:].mean())
    assert abs(gain[-1]) < 1e-3  # the nearest row
