"""How a renderer images an isolated light: rim width, radius, centre and energy of its bokeh disc.

A light of ``light_px`` x ``light_px`` pixels on black, blurred by a CoC of
``radius`` pixels, should become the aperture's shape convolved with the
light: a flat disc with a crisp (anti-aliased) rim, centred on the light,
holding its energy. :func:`disc_profile` measures a rendered disc;
:func:`ideal_disc` is the same light convolved with the anti-aliased
aperture kernel at full resolution, the reference the profile is compared
with (tests and ``benchmarks/bench_accuracy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.render.kernels import Aperture, aperture_kernel


@dataclass(frozen=True)
class DiscProfile:
    """The measures of one bokeh disc (all in pixels but ``energy``).

    Attributes:
        rim: width of the rim from 10 % to 90 % of the disc's level: the
            area between the two level sets over the length of the 50 %
            contour (its equivalent perimeter).
        r50: equivalent radius of the area at or above 50 % of the level.
        cy, cx: centroid of the light in the disc.
        energy: sum of the disc's values (linear light).
        level: the disc's plateau level (median of its inner half).
    """

    rim: float
    r50: float
    cy: float
    cx: float
    energy: float
    level: float


def light_scene(size: int, light_px: int = 3, value: float = 1.0) -> tuple[np.ndarray, tuple[float, float]]:
    """A black (size, size, 3) float32 linear image with one square light of ``value`` at its centre.

    Returns:
        (image, (cy, cx)): the image and the light's centre.
    """
    img = np.zeros((size, size, 3), np.float32)
    c = size // 2
    lo = c - light_px // 2
    img[lo : lo + light_px, lo : lo + light_px] = value
    centre = lo + (light_px - 1) / 2.0
    return img, (centre, centre)


def ideal_disc(image: np.ndarray, radius: float, aperture: Aperture = Aperture()) -> np.ndarray:
    """The image convolved with the anti-aliased aperture of ``radius`` at full resolution (zero borders)."""
    return cv2.filter2D(image, -1, aperture_kernel(radius, aperture), borderType=cv2.BORDER_CONSTANT)


def disc_profile(image: np.ndarray) -> DiscProfile:
    """Measure the bokeh disc of one light on black.

    Args:
        image: (H, W) or (H, W, 3) linear light, the disc on 0 (the first
            channel is measured).

    Returns:
        :class:`DiscProfile`.
    """
    v = np.asarray(image, np.float64)
    if v.ndim == 3:
        v = v[..., 0]
    total = float(v.sum())
    yy, xx = np.mgrid[: v.shape[0], : v.shape[1]]
    cy, cx = float((v * yy).sum() / total), float((v * xx).sum() / total)
    r_equiv = np.sqrt(float((v > 0.05 * v.max()).sum()) / np.pi)
    dist = np.hypot(yy - cy, xx - cx)
    level = float(np.median(v[dist <= 0.5 * r_equiv])) if r_equiv >= 2 else float(v.max())
    a10 = float((v >= 0.1 * level).sum())
    a50 = float((v >= 0.5 * level).sum())
    a90 = float((v >= 0.9 * level).sum())
    perimeter = 2.0 * np.sqrt(np.pi * max(a50, 1.0))
    return DiscProfile((a10 - a90) / perimeter, float(np.sqrt(a50 / np.pi)), cy, cx, total, level)
