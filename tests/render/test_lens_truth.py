"""The renderer is true to a lens: focus untouched, lights become crisp discs, in-focus edges keep their value.

On the real example photos (licences in examples/README.md) and on exact
synthetic cases; measured, not "it ran".
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES, cli
from PIL import Image
from scipy import ndimage as ndi

import depthblur_cli
from depthblur_cli.colour import linear_to_srgb, srgb_to_linear
from depthblur_cli.pipeline.compose import blur_background
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture
from depthblur_cli.render.lens import render_depth_of_field
from depthblur_eval.lights import disc_profile, ideal_disc, light_scene


def _photo(name: str, gain: float = 1.0) -> np.ndarray:
    rgb = np.asarray(Image.open(EXAMPLES / name).convert("RGB"), np.float32) * gain
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "name, gain, radius", [("coffee.png", 1.25, 0.01), ("astronaut.png", 1.0, 0.02), ("chelsea.png", 1.2, 0.01)]
)
def test_bokeh_with_default_options_leaves_a_bright_sharp_subject_unchanged(name, gain, radius):
    # Before: coffee x1.25 changed 2.9 % of its sharp pixels by > 10 levels (up
    # to 87): the highlight boost multiplied every bright pixel, in focus too.
    photo = _photo(name, gain)
    out = depthblur_cli.bokeh(photo, radius=radius, offline=True)
    sharp = depthblur_cli.matte(photo, offline=True) > 250  # matte > 0.98
    assert sharp.mean() > 0.05
    change = np.abs(out.astype(int) - photo.astype(int)).max(axis=2)[sharp]
    assert change.max() <= 1, (name, change.max())
    background = depthblur_cli.matte(photo, offline=True) < 5
    assert np.abs(out.astype(int) - photo.astype(int))[background].mean() > 1.0  # the background did blur


def test_in_focus_pale_white_and_clipped_patches_stay_exactly_as_they_are():
    img = np.full((100, 200, 3), 0.3, np.float32)
    img[20:80, 10:40] = (1.0, 1.0, 200 / 255)  # pale yellow
    img[20:80, 50:80] = 240 / 255  # near white
    img[20:80, 90:100] = 1.0  # clipped
    coc = np.full((100, 200), -15.0, np.float32)
    coc[:, :100] = 0.0  # in focus beside a blurred half
    for highlights in (Highlights(), Highlights.from_amount(100)):
        out = linear_to_srgb(render_depth_of_field(img, coc, highlights=highlights, srgb=True))
        assert np.abs(out[:, :100] - img[:, :100]).max() * 255 < 0.5


@pytest.mark.parametrize("radius", [4.0, 12.0, 32.0])
@pytest.mark.parametrize("blades", [0, 6])
def test_a_light_painted_into_a_real_background_becomes_a_crisp_disc_of_the_requested_radius(radius, blades):
    # bokeh on the coffee photo, with and without a 3x3 white light painted
    # into its background: the difference is the light's disc, which must
    # match the ideal anti-aliased aperture (radius within a pixel, rim within
    # the 3 px, centred within half a pixel, with its energy:
    # highlights 0, so no boost).
    photo = _photo("coffee.png")
    matte = depthblur_cli.matte(photo, offline=True)
    # The dark background point farthest from the subject, bright surfaces and the frame.
    dark = (matte < 5) & (photo.max(axis=2) < 200)
    room = ndi.distance_transform_edt(np.pad(dark, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(np.argmax(room), room.shape)
    assert room[y, x] > radius + 6
    lit = photo.copy()
    lit[y - 1 : y + 2, x - 1 : x + 2] = 255
    alpha = matte.astype(np.float32) / 255  # the same matte for both renders
    aperture = Aperture(blades, 0.0, 0.0) if blades else Aperture(blades)
    options = {"mode": "bokeh", "aperture": aperture, "highlights": Highlights(gain=0.0)}
    render = lambda a: srgb_to_linear(blur_background(a.astype(np.float32) / 255, alpha, radius, **options))  # noqa: E731
    disc = render(lit) - render(photo)
    m = int(radius) + 6
    window = disc[y - m : y + m + 1, x - m : x + m + 1].mean(axis=2)
    painted = np.zeros((2 * m + 1, 2 * m + 1, 3), np.float32)
    added = 1.0 - srgb_to_linear(photo[y - 1 : y + 2, x - 1 : x + 2].astype(np.float32) / 255.0)
    painted[m - 1 : m + 2, m - 1 : m + 2] = added.mean(axis=2, keepdims=True)
    ideal = disc_profile(ideal_disc(painted, radius, aperture))
    got = disc_profile(np.clip(window, 0, None))
    assert abs(got.r50 - ideal.r50) <= 1.0, (got, ideal)
    assert abs(got.rim - ideal.rim) <= 3.0, (got, ideal)
    assert np.hypot(got.cy - ideal.cy, got.cx - ideal.cx) <= 0.5
    assert got.energy == pytest.approx(ideal.energy, rel=0.05)


@pytest.mark.parametrize("radius", [2.0, 5.0, 20.0, 80.0, 150.0])
def test_an_isolated_light_is_the_ideal_disc_at_every_radius_in_both_paths(radius):
    size = int(2 * radius + 40)
    img, _ = light_scene(size)
    coc = np.full((size, size), -radius, np.float32)
    depth_coc = coc.copy()
    depth_coc[:, :3] = 0.0  # a sharp column: the full ladder, as in depth
    ideal = disc_profile(ideal_disc(img, radius))
    for signed, levels in ((depth_coc, None), (coc, [-radius, 0.0])):
        got = disc_profile(render_depth_of_field(img, signed, levels=levels))
        assert abs(got.rim - ideal.rim) <= 0.5 and abs(got.r50 - ideal.r50) <= 0.5, (radius, got, ideal)
        assert got.energy == pytest.approx(ideal.energy, rel=0.01)


def test_an_anti_aliased_in_focus_edge_keeps_its_value_and_leaves_no_halo():
    # A red disc in focus, anti-aliased, in front of a blue background blurred
    # by 10 px, as a depth map gives it (hard CoC step at the dominant layer).
    # Before: an edge pixel with coverage < 0.5 took the background's blur and
    # lost its red (143 -> 53 levels), and spread it outward (+33 levels).
    size, r = 160, 40.0
    yy, xx = np.mgrid[:size, :size]
    alpha = np.clip(r + 0.5 - np.hypot(yy - 80.0, xx - 80.0), 0.0, 1.0).astype(np.float32)[..., None]
    red, blue = np.float32([0.8, 0.1, 0.05]), np.float32([0.05, 0.1, 0.4])
    linear = alpha * red + (1 - alpha) * blue
    coc = np.where(alpha[..., 0] >= 0.5, 0.0, -10.0).astype(np.float32)
    out = linear_to_srgb(render_depth_of_field(linear, coc))
    edge = (alpha[..., 0] > 0.05) & (alpha[..., 0] < 0.95)
    assert np.abs(out[edge] - linear_to_srgb(linear)[edge]).max() * 255 <= 3.0
    ring = (np.hypot(yy - 80.0, xx - 80.0) > r + 2) & (np.hypot(yy - 80.0, xx - 80.0) < r + 12)
    assert np.abs(out[ring] - linear_to_srgb(blue)).max() * 255 <= 1.0  # no red spread into the blur


@pytest.mark.parametrize(
    "args",
    [
        ["bokeh", "--radius-px", "nan"],
        ["bokeh", "--radius-px", "inf"],
        ["bokeh", "--radius-px", "100000"],
        ["bokeh", "--blade-rotation", "nan"],
        ["bokeh", "--highlights", "nan"],
        ["depth", "--focus-disparity", "inf", "--coc-scale", "1"],
        ["depth", "--focus-disparity", "nan", "--coc-scale", "1"],
        ["depth", "--focus-disparity", "1", "--coc-scale", "1e12"],
        ["depth", "--blur-strength", "-inf"],
        ["gaussian", "--radius", "nan"],
    ],
)
def test_nan_or_absurd_options_exit_2_before_any_work_naming_the_option(tmp_path, args, monkeypatch):
    from depthblur_cli.imaging import codec

    def no_work(*a, **k):
        raise AssertionError("the photo was decoded: the option was not refused up front")

    monkeypatch.setattr(codec, "load_image", no_work)
    result = cli(args[0], EXAMPLES / "chelsea.png", *args[1:], "-o", tmp_path / "o.png", "--offline", code=2)
    option = next(a for a in args[1:] if (a.startswith("--") and a != "--coc-scale") or a == "--coc-scale")
    assert option in result.stderr or args[-2] in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_clipped_noise_on_a_white_surface_is_not_thousands_of_lights():
    """Sensor noise on a near-white surface clips in thousands of specks; none stands above what is around it,
    so none is splatted (each would cost a full convolution: 37,000 made a 12 MP render take 14 s, not 2.5 s).
    A real light beside them still is one; specks at the shirt's edge, against the dark, may be too."""
    from depthblur_cli.render.lights import find_lights

    rng = np.random.default_rng(0)
    srgb = np.full((400, 600, 3), 0.2, np.float32)
    threshold = Highlights().threshold
    shirt = threshold - 0.026 + rng.normal(0, 0.02, (400, 300, 1))  # a white shirt, 10 % of it past the threshold
    srgb[:, :300] = np.clip(shirt, 0, 1)
    srgb[200:202, 450:452] = 1.0  # a lamp on the dark half
    coc = np.full((400, 600), 20.0, np.float32)
    lights = find_lights(srgb, True, coc, Highlights())
    specks = ndi.label(srgb[:, :300, 0] >= threshold, structure=np.ones((3, 3)))[1]
    assert specks > 1000
    assert lights is not None and [200, 450, 202, 452] in lights.boxes.tolist()
    assert lights.count < specks / 50  # what is left is at the shirt's edge, against the dark half
