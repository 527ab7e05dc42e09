"""A clipped light's energy, estimated from what the photo shows around it.

A photo stores a lamp or a glint as a blob of clipped pixels: everything
above the clip level is lost, often most of the light. What is left to go
on is the blob's size and what lies just outside it, read in rings of
pixels at chessboard distance 1, 2 and :data:`BACKGROUND_RINGS` beyond:

- **the background** (the outermost rings): what the light covers, and the
  level its excess is measured from;
- **the glow** (rings 1 and 2): a lens's glare or a lamp's halo, light the
  sensor recorded unclipped. Its level in two rings at their mean distances
  from the blob's centre gives a Gaussian ``A exp(-r^2 / 2 sigma^2)`` (its
  amplitude and width, so its whole energy ``2 pi sigma^2 A``, including the
  part hidden under the clipped core); the glow is taken to carry
  :data:`GLOW_SHARE` of the light's energy, the rest being the core;
- **the core's edge** (ring 1 of a light without glow): a hard-edged light
  ``P`` times the clip level leaves unclipped only the edge pixels it covers
  by less than ``1 / P``, so the brighter it is, the fainter its first
  ring. Its energy per clipped pixel is taken as ``1 +`` :data:`HARD_EXCESS`
  where that ring is dark, falling by ``e`` for every :data:`EDGE_SCALE` of
  the headroom the ring shows: a white dot barely past the clip level (its
  edge pixels as bright as their coverage) gains next to nothing.
- **its colour**: the glow's (ring 1 over the background), which clipping
  whitened in the core; a hard light's, its ring's.

Only a blob that reaches the sensor's clip (:data:`SATURATED`) lost any
light: one that stays below it (a bright fleck of wood grain past the
highlight threshold) was recorded in full and gets no boost. The estimate
is a model, not a measurement: the core's brightness is never recorded.
Validated on thin-lens scenes whose lights carry 0 or 20..60 % of their
energy in a glow (``benchmarks/bench_accuracy.py``, families ``night-glow``
and ``night-core``): the middle half of the lights get 0.53..0.91 (glow)
and 0.66..1.76 (none) times their energy, where the photo holds 0.41 and
0.29 (medians).
The Gaussian glow model follows photometric practice for clipped stars
(e.g. Stetson, "DAOPHOT", PASP 99, 1987: a point source's profile fitted
to its unsaturated wings).
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.colour import decode_srgb

#: A blob none of whose pixels reaches this (linear; sRGB 250/255) was recorded in full, not clipped:
#: it gets no boost (most bright flecks past the highlight threshold on a sunlit surface).
SATURATED = 0.955
#: Rings (pixels, beyond the two glow rings) whose unclipped pixels give the background.
BACKGROUND_RINGS = 2
#: Every ring read: the two glow rings and the background's.
REACH = 2 + BACKGROUND_RINGS
#: Share of a light's energy taken to be in its glow (the rest in its clipped core): the top of the
#: 20..60 % a lens's glare and a lamp's halo carry, so that a light is boosted too little rather
#: than too much (a blob that is nearly all glow, 90 %, is then 1.5 times too bright).
GLOW_SHARE = 0.6
#: A glow ring less than this above the background (fraction of the headroom) is noise: no glow.
NOISE_LEVEL = 0.02
#: Narrowest and widest glow fitted, sigma in pixels.
GLOW_SIGMA = (0.5, 4.0)
#: A hard-edged light with a dark first ring holds this many times the clip level per clipped pixel
#: (beyond the 1 recorded) ...
HARD_EXCESS = 6.0
#: ... falling by e for every this much of the headroom its first ring shows (the partly covered
#: edge pixels a dimmer light leaves unclipped).
EDGE_SCALE = 0.06


def ring_pixels(
    labels: np.ndarray, new: np.ndarray, mask: np.ndarray, rgb: np.ndarray, srgb: bool, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, ...]:
    """The pixels of the lights and of their rings in ``box``, in row-major order, with what is known of each.

    Rings are chessboard distances 1 .. :data:`REACH` from a light (each
    ring's pixels belong to the light with the largest number among those
    that near: successive 3 x 3 dilations of the light numbers). Found in
    strips of rows on the thread pool, each read with the rings' reach of
    rows around it.

    Args:
        labels: (H, W) int32 blob labels; ``new``: each label's light number
            (1..m) or 0; ``mask``: (H, W) uint8, 1 where clipped; ``rgb``,
            ``srgb``: the image; ``box``: (r0, r1, c0, c1) holding the lights
            and their rings.

    Returns:
        (fy, fx) int64 positions in the box; the light number there (0
        outside the lights); the ring (uint8, 0 on a light's own pixels);
        the light whose ring it is; whether the pixel is unclipped; its
        (k, 3) float32 linear colour.
    """
    r0, r1, c0, c1 = box
    square = np.ones((3, 3), np.uint8)

    def strip(y0: int, y1: int) -> tuple[np.ndarray, ...]:
        a, b = max(0, y0 - REACH), min(r1 - r0, y1 + REACH)
        light_labels = new[labels[r0 + a : r0 + b, c0:c1]]
        grown = [light_labels]  # the largest light number within chessboard distance k, k = 0 .. REACH
        for _ in range(REACH):
            grown.append(cv2.dilate(grown[-1], square))
        core = slice(y0 - a, y1 - a)
        fy, fx = np.nonzero(grown[-1][core])
        rows = fy + (y0 - a)
        # A pixel's ring is the first k whose dilation reaches it, its owner that dilation's light.
        ring = np.full(fy.shape, REACH, np.uint8)
        owner = grown[-1][rows, fx]
        for k in range(REACH - 1, -1, -1):
            reached = grown[k][rows, fx]  # (k = 0: the light's own number, 0 outside the lights)
            ring[reached > 0] = k
            owner = np.where(reached > 0, reached, owner)
        at = (fy + y0 + r0, fx + c0)
        return (
            fy + y0,
            fx,
            reached,
            ring,
            owner,
            mask[at] == 0,
            linear(rgb[at], srgb),
        )

    parts = threads.map_strips(strip, r1 - r0, width=c1 - c0)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(7))


def boost_and_fill(
    fy: np.ndarray,
    fx: np.ndarray,
    ring: np.ndarray,
    owner: np.ndarray,
    unclipped: np.ndarray,
    colour: np.ndarray,
    m: int,
    cap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each light's boost and the background it covers, from its ring pixels (see :func:`ring_pixels`).

    Args:
        fy, fx: (k,) pixel positions; ``ring``: (k,) ring 0 (the light) ..
            :data:`REACH`; ``owner``: (k,) the light (1..m) the ring is of;
            ``unclipped``: (k,) bool; ``colour``: (k, 3) linear colour.
        m: number of lights.
        cap: the largest boost per clipped pixel, in units of the clip level
            (``Highlights.gain``; 0 = none).

    Returns:
        ((m + 1, 3) linear light added to each clipped pixel of each light,
        (m + 1, 3) linear fill colour: the background); row 0 unused.
    """
    idx = owner.astype(np.int64)
    on = ring == 0
    # Sums per light and class of pixel (0: the light's own; 1, 2: its glow rings; 3: the background
    # rings; a ring's clipped pixels in none), one bincount per value: each bin adds up its pixels in
    # row-major order, as a bincount of that class alone would.
    counted = on | unclipped
    key = (idx * 4 + np.minimum(ring, 3))[counted]
    bins = 4 * (m + 1)

    def sums(values: np.ndarray) -> np.ndarray:
        """(m + 1, 4) float64 sums of the (k,) ``values`` per light and class."""
        return np.bincount(key, weights=values[counted], minlength=bins).reshape(m + 1, 4)

    n = np.bincount(key, minlength=bins).reshape(m + 1, 4).astype(np.float64)
    total = np.stack([sums(colour[:, c]) for c in range(3)], axis=2)  # (m + 1, 4, 3)
    area = n[:, 0]
    own = total[:, 0] / np.maximum(area, 1)[:, None]  # each light's own mean colour
    centre_y = sums(fy.astype(np.float64))[:, 0] / np.maximum(area, 1)
    centre_x = sums(fx.astype(np.float64))[:, 0] / np.maximum(area, 1)
    dist = np.hypot(fy - centre_y[idx], fx - centre_x[idx])
    mean_colour = total / np.maximum(n, 1)[:, :, None]  # of the unclipped ring pixels
    mean_dist = sums(dist) / np.maximum(n, 1)
    background, n_bg = mean_colour[:, 3], n[:, 3]
    first, r1, n1 = mean_colour[:, 1], mean_dist[:, 1], n[:, 1]
    second, r2, n2 = mean_colour[:, 2], mean_dist[:, 2], n[:, 2]
    # Rings another light took, or clipped throughout: the nearest ring left, else the light's own colour.
    for fallback, found in ((second, n2), (first, n1), (own, area)):
        background = np.where((n_bg[:, None] > 0) | (found[:, None] == 0), background, fallback)
        n_bg = np.maximum(n_bg, found)
    headroom = np.maximum(1.0 - background.max(axis=1), 1e-3)
    lift = np.clip(first - background, 0.0, None)
    peak = lift.max(axis=1)
    # The hue: the glow's where the first ring shows one, else the blob's own (a hard light's ring is
    # noise, whose colour would tint its disc).
    own_hue = own / np.maximum(own.max(axis=1), 1e-6)[:, None]
    shows = peak > NOISE_LEVEL * headroom
    hue = np.where(shows[:, None], lift / np.maximum(peak, 1e-6)[:, None], own_hue)
    channel = np.argmax(lift, axis=1)
    rows = np.arange(m + 1)
    g1 = np.where(n1 > 0, lift[rows, channel] / headroom, 0.0)
    g2 = np.where(n2 > 0, (second - background)[rows, channel] / headroom, 0.0)
    brightest = np.zeros(m + 1)
    np.maximum.at(brightest, idx[on], colour[on].max(axis=1))
    energy = np.where(brightest >= SATURATED, clipped_light_energy(area, g1, g2, r1, r2), 0.0)
    recorded = area + g1 * n1 + np.maximum(g2, 0.0) * n2  # the core at the clip level, the glow rings as they are
    boost = np.minimum(np.maximum(energy - recorded, 0.0) / np.maximum(area, 1), cap) if cap > 0 else 0 * area
    boost[0] = 0.0
    return (boost * headroom)[:, None] * hue, background


def clipped_light_energy(
    area: np.ndarray, g1: np.ndarray, g2: np.ndarray, r1: np.ndarray, r2: np.ndarray
) -> np.ndarray:
    """A clipped light's energy above the background (see the module docstring).

    Args:
        area: (m,) clipped pixels of each light.
        g1, g2: (m,) the first and second ring's mean level above the
            background, fractions of the headroom (the clip level less the
            background).
        r1, r2: (m,) the rings' mean distances from the light's centre, pixels.

    Returns:
        (m,) float64 energy in pixels times the headroom (a clipped pixel
        holds 1), at least ``area``.
    """
    ok = (g1 > NOISE_LEVEL) & (g2 > NOISE_LEVEL / 2) & (g1 > g2) & (r2 > r1)
    ratio = np.log(np.maximum(g1, 1e-6) / np.maximum(g2, 1e-6))
    two_s2 = np.where(ok, (r2**2 - r1**2) / np.where(ratio > 0, ratio, 1.0), 1.0)
    two_s2 = np.clip(two_s2, 2 * GLOW_SIGMA[0] ** 2, 2 * GLOW_SIGMA[1] ** 2)
    amplitude = g1 * np.exp(np.minimum(r1**2 / two_s2, 30.0))
    glow = np.where(ok, np.pi * two_s2 * amplitude / GLOW_SHARE, 0.0)
    hard = (1.0 + HARD_EXCESS * np.exp(-np.maximum(g1, 0.0) / EDGE_SCALE)) * area
    return np.maximum(np.where(ok, glow, hard), area)


def linear(rgb: np.ndarray, srgb: bool) -> np.ndarray:
    """The image in linear light (a copy when it is sRGB-encoded; uint8 is sRGB)."""
    return decode_srgb(rgb) if srgb or rgb.dtype == np.uint8 else rgb
