"""Blur levels: the ladder of CoC radii a scene is split into, and each pixel's place on it.

The renderer blurs the scene at a few **blur levels**, signed CoC radii in
pixels (> 0 nearer than the focal plane, < 0 farther), spaced about 1.3x
apart since large blurs differ less visibly. A pixel whose CoC lies between
two levels belongs to both with linear interpolation weights (a hat
function of its fractional **level index**), so blur varies continuously
with depth. A level blurred by ``r`` pixels is convolved on a copy of the
image reduced by a power of two (its **reduction**).
"""

from __future__ import annotations

import math

import numpy as np

#: Radii (pixels) of the level ladder; between two levels a pixel is blurred
#: by a linear mix of the two radii. Spacing grows with the radius (~1.3x).
LADDER = (0.0, 2.0, 4.0, 6.5, 9.0, 12.0, 16.0, 21.0, 27.0, 35.0, 45.0, 58.0, 75.0, 96.0, 123.0, 158.0, 202.0, 259.0)

#: A level of CoC radius ``r`` is convolved at the largest power-of-two
#: reduction ``s`` with ``r / s >= KERNEL_RADIUS_AT_REDUCTION``: the kernel
#: stays at most 11x11 (OpenCV convolves directly below 130 taps, by DFT
#: above, several times slower), at the price of a rim softened over about
#: ``s`` pixels and a light placed at the centre of its ``s`` x ``s`` block.
KERNEL_RADIUS_AT_REDUCTION = 2.25
#: The same for a render of at most two levels (``bokeh``, ``gaussian``):
#: one blurred level can afford a larger kernel and crisper rims.
KERNEL_RADIUS_FEW_LEVELS = 6.0
#: A level sharper than this (pixels) is rendered at full resolution.
SHARP_RADIUS = 0.75


def radius_ladder(max_radius: float) -> np.ndarray:
    """Unsigned level radii from 0 up to at least ``max_radius``.

    Args:
        max_radius: the largest CoC radius in the image, pixels.

    Returns:
        1-D float32 array, increasing, starting at 0.
    """
    rungs = list(LADDER)
    while rungs[-1] < max_radius:
        rungs.append(rungs[-1] * 1.26)
    n = next(i for i, r in enumerate(rungs) if r >= max_radius) + 1
    return np.asarray(rungs[: max(n, 2)], dtype=np.float32)


def signed_levels(signed_coc: np.ndarray, above: float = 0.0) -> np.ndarray:
    """Signed blur levels covering the CoC range of an image, far to near.

    Args:
        signed_coc: (H, W) float32 signed CoC radius in pixels.
        above: leave out the rungs from 0 up to this radius (pixels): the
            focal level holds that band (see :class:`LevelIndex`'s ``flat``);
            the first rung beyond it is kept on a side that has CoC there.

    Returns:
        1-D float32 array, increasing (farthest level first), containing 0.
    """

    def side(extent: float) -> np.ndarray:
        if extent <= 0:
            return np.zeros(0, np.float32)
        rungs = radius_ladder(max(extent, above * 1.01))[1:]
        return rungs[rungs > above]

    far_levels = side(float(max(0.0, -signed_coc.min())))
    near_levels = side(float(max(0.0, signed_coc.max())))
    return np.concatenate([-far_levels[::-1], [0.0], near_levels]).astype(np.float32)


def reduction_for_radius(radius: float, kernel: str = "disc", kernel_radius: float | None = None) -> int:
    """Power-of-two reduction at which a blur of ``radius`` pixels is done.

    Args:
        radius: disc radius or Gaussian sigma, pixels.
        kernel: "disc" or "gaussian" (a Gaussian of sigma ``radius`` is
            treated like a disc of ``2 * radius``).
        kernel_radius: smallest kernel radius (pixels at the reduced size)
            to keep; default :data:`KERNEL_RADIUS_AT_REDUCTION`.

    Returns:
        1 for (nearly) sharp levels, else the largest power of two ``s >= 2``
        with ``radius / s >= kernel_radius`` (2 if none).
    """
    cap = KERNEL_RADIUS_AT_REDUCTION if kernel_radius is None else kernel_radius
    extent = radius * (2.0 if kernel == "gaussian" else 1.0)
    if extent < SHARP_RADIUS:
        return 1
    return int(2 ** max(1, math.floor(math.log2(max(extent, 1e-6) / cap))))


def hat_weight_into(x: np.ndarray, k: float, out: np.ndarray) -> np.ndarray:
    """``out = max(1 - |x - k|, 0)``: the interpolation weight of level index ``x`` on level ``k``."""
    np.subtract(x, np.float32(k), out=out)
    np.abs(out, out=out)
    np.subtract(np.float32(1.0), out, out=out)
    return np.maximum(out, 0.0, out=out)


def ramp_weight_into(x: np.ndarray, k: float, out: np.ndarray) -> np.ndarray:
    """``out = clip(x - k + 1, 0, 1)``: the weight of level index ``x`` on level ``k`` and nearer."""
    np.subtract(x, np.float32(k - 1.0), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


#: A pixel whose CoC radius is below this (pixels) is in focus: it gets the
#: sharp level's index exactly, so the renderer leaves it as it is (a disc
#: of half a pixel's radius is smaller than the pixel).
IN_FOCUS_COC = 0.5


class LevelIndex:
    """Fractional level index of pixels: ``interp(coc, levels, 0..L-1)``, flat in focus.

    When a level has CoC 0 (a sharp level), every CoC within ``flat``
    (:data:`IN_FOCUS_COC` unless given) of 0 maps to its index exactly, and the index rises
    linearly from there to the next level on either side. Looked up on a
    grid of 1/32 pixel anchored at 0. Called on strips of rows, so that no
    full-size index array is ever kept.

    Args (constructor):
        levels: 1-D increasing signed CoC radii of the blur levels, pixels.
        flat: half-width (pixels) of the band around a sharp level mapped to
            its index exactly (:data:`IN_FOCUS_COC`; the renderer widens it
            to the slight defocus it blurs at full resolution, see
            :mod:`~depthblur_cli.render.slight`).
    """

    _STEP = 32.0

    def __init__(self, levels: np.ndarray, flat: float = IN_FOCUS_COC):
        self.g0 = int(math.floor(float(levels[0]) * self._STEP))
        g1 = int(math.ceil(float(levels[-1]) * self._STEP))
        grid = np.arange(self.g0, g1 + 1, dtype=np.float64) / self._STEP
        xs = np.asarray(levels, np.float64)
        ks = np.arange(len(levels), dtype=np.float64)
        sharp = np.flatnonzero(xs == 0.0)
        if len(sharp):
            k = int(sharp[0])
            lo = -flat if k == 0 or xs[k - 1] < -flat else None
            hi = flat if k == len(xs) - 1 or xs[k + 1] > flat else None
            if lo is not None and hi is not None:
                xs = np.concatenate([xs[:k], [lo, hi], xs[k + 1 :]])
                ks = np.concatenate([ks[:k], [k, k], ks[k + 1 :]])
        self.lut = np.interp(grid, xs, ks).astype(np.float32)

    def __call__(self, coc_rows: np.ndarray) -> np.ndarray:
        """(h, w) float32 signed CoC (pixels) -> (h, w) float32 level index."""
        q = coc_rows * np.float32(self._STEP)
        q -= np.float32(self.g0 - 0.5)
        idx = q.astype(np.int32)
        np.clip(idx, 0, len(self.lut) - 1, out=idx)
        return np.take(self.lut, idx, out=q)
