"""Planar image helpers: colour stored as (C, h, w) planes.

Per-pixel weights broadcast over contiguous rows, and OpenCV's filters run
plane by plane, several times faster than on interleaved (h, w, C) data.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.render.kernels import Aperture, aperture_kernel


def resize_planes(planes: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Resize every plane of a (C, h, w) float32 array to ``size`` = (w, h); the input itself if it has that size."""
    if (planes.shape[2], planes.shape[1]) == size:
        return planes
    out = np.empty((planes.shape[0], size[1], size[0]), np.float32)
    for src, dst in zip(planes, out):
        cv2.resize(src, size, dst=dst, interpolation=interpolation)
    return out


_NEIGHBOURS = np.ones((3, 3), np.uint8)


def upsample_planes_bounded(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of (C, h, w) planes to ``size`` = (w, h), without over- or undershoot.

    Bicubic interpolation keeps a blurred layer's edges (bokeh rims) crisp
    where bilinear would blur them again, but it rings: next to a bright
    disc the dark side dips below its own level (a dark background rang
    down to black beside a white square). Each output value is clamped to
    the range of the 3 x 3 source pixels around it (a monotone limiter, as
    in Fritsch and Carlson, "Monotone Piecewise Cubic Interpolation", SIAM
    J. Numer. Anal. 1980), so the result stays within its neighbours'.

    Returns:
        (C, H, W) float32; the input itself if it already has that size.
    """
    if (planes.shape[2], planes.shape[1]) == size:
        return planes
    out = resize_planes(planes, size, cv2.INTER_CUBIC)
    for src, dst in zip(planes, out):
        low = cv2.resize(cv2.erode(src, _NEIGHBOURS), size, interpolation=cv2.INTER_NEAREST)
        high = cv2.resize(cv2.dilate(src, _NEIGHBOURS), size, interpolation=cv2.INTER_NEAREST)
        np.clip(dst, low, high, out=dst)
    return out


def convolve_planes(planes: np.ndarray, radius: float, kernel: str, aperture: Aperture) -> np.ndarray:
    """Blur every plane of a (C, h, w) float32 array in place and return it.

    Args:
        planes: (C, h, w) float32, C-contiguous.
        radius: pixels at this resolution: the aperture's rim radius for
            ``kernel="disc"``, the standard deviation for ``"gaussian"``;
            below 0.25 nothing is done.
        kernel: "disc" (the aperture, :func:`~depthblur_cli.render.kernels.aperture_kernel`)
            or "gaussian".
        aperture: iris shape for the disc.

    Returns:
        ``planes``, blurred (borders reflected); the planes are blurred on
        the thread pool (OpenCV's small-kernel filters use one core).
    """
    if radius < 0.25:
        return planes
    k = aperture_kernel(radius, aperture) if kernel != "gaussian" else None

    def blur(plane: np.ndarray) -> None:
        if k is None:
            cv2.GaussianBlur(plane, (0, 0), sigmaX=radius, dst=plane, borderType=cv2.BORDER_REFLECT)
        else:
            cv2.filter2D(plane, -1, k, dst=plane, borderType=cv2.BORDER_REFLECT)

    for _ in threads.in_order(blur, list(planes), threads.THREADS):  # the planes on the pool
        pass
    return planes


def upsample_rows(planes: np.ndarray, reduction: int, y0: int, y1: int, width: int) -> np.ndarray:
    """Rows ``y0:y1`` and columns ``:width`` of (C, h, w) ``planes`` upsampled by ``reduction``.

    Equal to the same rows of a bilinear resize of the whole array to
    (h * reduction, w * reduction), computed from a few source rows only.
    """
    if reduction == 1:
        return planes[:, y0:y1, :width]
    h = planes.shape[1]
    r0 = max(0, y0 // reduction - 1)
    r1 = min(h, -(-y1 // reduction) + 1)
    up = resize_planes(planes[:, r0:r1], (planes.shape[2] * reduction, (r1 - r0) * reduction), cv2.INTER_LINEAR)
    return up[:, y0 - r0 * reduction : y1 - r0 * reduction, :width]
