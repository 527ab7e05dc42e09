"""Blur kernels: the lens aperture (disc or polygon) and the Gaussian.

An out-of-focus point is imaged as a copy of the aperture scaled to the
circle of confusion (CoC), so the lens-blur kernel *is* the aperture shape:
a disc for a round iris, a polygon for an iris with N straight blades, and
in between for curved blades. Kernels are anti-aliased at the rim (pixel
coverage of the shape, to first order: ``clip(r_edge + 0.5 - dist, 0, 1)``)
so that the rendered blur changes smoothly as the radius changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from depthblur_cli.errors import UsageError
from depthblur_cli.options import schema


@dataclass(frozen=True)
class Aperture:
    """Shape of the lens iris.

    Attributes:
        blades: number of straight iris blades, 0 for a perfect circle, else
            3..16 (a regular polygon).
        rotation: rotation of the polygon in degrees (counter-clockwise), -360..360.
        curvature: 0 = straight blades (polygon) .. 1 = fully curved (circle).

    Raises:
        UsageError: (a ValueError) a value outside its range in
            :mod:`depthblur_cli.options.schema`, or 1 or 2 blades.
    """

    blades: int = 0
    rotation: float = 0.0
    curvature: float = 1.0

    def __post_init__(self) -> None:
        schema.check("blades", self.blades)
        if self.blades in (1, 2):
            raise UsageError(f"blades must be 0 (circle) or 3..16, got {self.blades}")
        schema.check("blade_curvature", self.curvature, "curvature")
        schema.check("blade_rotation", self.rotation, "rotation")


def aperture_edge_radius(theta: np.ndarray, radius: float, aperture: Aperture) -> np.ndarray:
    """Distance from the kernel centre to the aperture rim in direction ``theta``.

    For N blades the rim of a regular polygon with circumradius ``radius`` is
    ``radius * cos(pi/N) / cos(((theta - rot) mod 2pi/N) - pi/N)``; curvature
    blends it linearly toward the circle.

    Args:
        theta: array of angles in radians (any shape).
        radius: circumradius in pixels.
        aperture: the iris shape.

    Returns:
        float32 array, same shape as ``theta``, in pixels.
    """
    if aperture.blades == 0 or aperture.curvature >= 1.0:
        return np.full(np.shape(theta), radius, dtype=np.float32)
    n = aperture.blades
    sector = 2.0 * np.pi / n
    phi = np.mod(theta - np.deg2rad(aperture.rotation) - np.pi / 2, sector) - sector / 2
    polygon = radius * np.cos(np.pi / n) / np.cos(phi)
    c = aperture.curvature
    return (c * radius + (1.0 - c) * polygon).astype(np.float32)


@lru_cache(maxsize=256)
def _aperture_kernel_cached(radius_q: int, blades: int, rotation: float, curvature: float) -> np.ndarray:
    radius = radius_q / 64.0
    half = int(np.ceil(radius + 0.5))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    dist = np.hypot(x, y)
    edge = aperture_edge_radius(np.arctan2(-y, x), radius, Aperture(blades, rotation, curvature))
    kernel = np.clip(edge + 0.5 - dist, 0.0, 1.0).astype(np.float32)
    kernel /= kernel.sum()
    kernel.setflags(write=False)
    return kernel


def aperture_kernel(radius: float, aperture: Aperture = Aperture()) -> np.ndarray:
    """The lens-blur kernel for a circle of confusion of ``radius`` pixels.

    Args:
        radius: CoC radius in pixels (>= 0); the rim of the shape lies at
            this distance from the centre (circumradius for polygons).
        aperture: iris shape (disc by default).

    Returns:
        (2k+1, 2k+1) float32 array with k = ceil(radius + 0.5), summing to 1,
        anti-aliased at the rim. Read-only (kernels are cached).

    Raises:
        ValueError: if ``radius`` is negative.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return _aperture_kernel_cached(
        int(round(radius * 64)), aperture.blades, float(aperture.rotation), float(aperture.curvature)
    )
