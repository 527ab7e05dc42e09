"""A clipped light's energy is estimated from what the photo shows, and ``--highlights`` caps it."""

from __future__ import annotations

import numpy as np
import pytest

from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.lens import render_depth_of_field

SIZE = 96
BACKGROUND = 0.02  # linear: a night sky
COC = -12.0  # everything behind the focus, blurred by 12 px


def light(peak: float, radius: float, glow_share: float, sigma: float = 1.5) -> np.ndarray:
    """A light as scene radiance, (SIZE, SIZE, 3) float32 linear, at a sub-pixel spot on a dark background:
    an opaque core disc ``peak`` times white (its pixels' coverage from 8 x 8 samples each) plus a
    Gaussian glow carrying ``glow_share`` of its energy."""
    fine = 8
    c = SIZE / 2 + 0.3
    yy, xx = (np.mgrid[0 : SIZE * fine, 0 : SIZE * fine] + 0.5) / fine
    r = np.hypot(yy - c, xx - c)
    core = (r <= radius).astype(np.float64).reshape(SIZE, fine, SIZE, fine).mean(axis=(1, 3))
    rc = np.hypot(*(np.mgrid[0:SIZE, 0:SIZE] + 0.5 - c))
    gauss = np.exp(-(rc**2) / (2 * sigma**2))
    core_energy = peak * core.sum()
    glow = gauss * (glow_share / (1 - glow_share) * core_energy / gauss.sum()) if glow_share else 0 * gauss
    value = BACKGROUND * (1 - core) + peak * core + glow
    return np.repeat(value[..., None], 3, axis=2).astype(np.float32)


def energy_back(scene: np.ndarray, highlights: Highlights) -> float:
    """Energy above the background in the render of the clipped photo, as a share of the scene's."""
    photo = np.clip(scene, 0.0, 1.0)
    out = render_depth_of_field(photo, np.full((SIZE, SIZE), COC, np.float32), highlights=highlights)
    return float((out - BACKGROUND).sum() / (scene - BACKGROUND).sum())


@pytest.mark.parametrize(
    ("peak", "radius", "share"),
    [(20.0, 1.0, 0.3), (40.0, 0.8, 0.5), (8.0, 1.2, 0.6)],
)
def test_a_light_with_a_glow_gets_most_of_its_energy_back(peak, radius, share):
    """The glow (recorded unclipped in the rings around the blob) gives the light's energy: the clipped
    photo holds well under half of it, the render puts back most of it (a Gaussian glow taken to carry
    60 % of a light: within a factor of 0.5..1.5 for glows carrying 30..60 %)."""
    scene = light(peak, radius, share)
    assert energy_back(scene, Highlights(gain=0.0)) < 0.45
    assert 0.5 <= energy_back(scene, Highlights()) <= 1.5


@pytest.mark.parametrize(("peak", "radius"), [(8.0, 1.0), (20.0, 1.3), (40.0, 0.7)])
def test_a_hard_edged_light_gets_more_than_the_photo_holds(peak, radius):
    """A light with no glow leaves only its faint, partly covered edge pixels: it is brightened from
    that (about 7 times the clip level per clipped pixel when the edge is dark), never left at the
    recorded value, nor made brighter than 3 times the truth (a model, not a measurement: see
    ``render/light_energy``)."""
    scene = light(peak, radius, 0.0)
    recorded = energy_back(scene, Highlights(gain=0.0))
    got = energy_back(scene, Highlights())
    assert got > 1.5 * recorded
    assert 0.3 <= got <= 3.0


def test_a_barely_clipped_white_dot_is_not_made_a_lamp():
    """A white object just past the clip level (1.1) shows it: its edge pixels, covered in part, are as
    bright as their coverage. It gains less than a fifth of its energy."""
    scene = light(1.1, 1.6, 0.0)
    assert energy_back(scene, Highlights()) <= 1.2


def test_highlights_is_a_cap_on_the_estimate():
    """--highlights caps the light added per clipped pixel: where the estimate is large (a bright lamp with
    a wide glow), 100 gives more than 25, which gives more than 5; 0 leaves the recorded value."""
    scene = light(1000.0, 1.0, 0.5)
    got = {amount: energy_back(scene, Highlights.from_amount(amount)) for amount in (0, 5, 25, 100)}
    assert got[0] < 0.1
    assert got[5] < got[25] * 0.8
    assert got[25] < got[100] * 0.8
    assert got[100] <= 1.5


def test_a_bright_fleck_that_never_reaches_the_clip_is_not_boosted():
    """A fleck past the highlight threshold (0.92) but below the sensor's clip (here 0.96 sRGB) was
    recorded in full: it keeps its energy, however hard its edge (a lamp at the clip level beside it
    is brightened)."""
    fleck = np.full((SIZE, SIZE, 3), BACKGROUND, np.float32)
    level = np.float32(((0.96 + 0.055) / 1.055) ** 2.4)  # sRGB 0.96 in linear light
    fleck[40:43, 40:43] = level
    assert abs(energy_back(fleck, Highlights()) - 1.0) < 0.02
    lamp = fleck.copy()
    lamp[40:43, 40:43] = 1.0
    assert energy_back(lamp, Highlights()) > 1.5 * energy_back(lamp, Highlights(gain=0.0))
