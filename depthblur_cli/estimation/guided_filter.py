"""Edge-aware filtering guided by the photo.

Implements the fast guided filter of He, Sun and Tang, "Guided Image
Filtering", IEEE TPAMI 2013 (https://doi.org/10.1109/TPAMI.2012.213), with
the colour-guide variant (Eq. 19-21) built from OpenCV box filters. Used to
snap a low-resolution matte or disparity map to the edges of the full
resolution image (hair, fingers, leaves).
"""

from __future__ import annotations

import cv2
import numpy as np


def box_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, (H, W[, C]) float32, borders reflected."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, cv2.CV_32F, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


class ColourGuide:
    """The colour guided filter for one guide, reusable across sources.

    Args (constructor):
        guide: (H, W, 3) float array, sRGB 0..1 (only local contrast matters).
        radius: window radius in pixels (>= 1).
        eps: regularisation in squared guide units.

    The 3x3 window covariance of the guide (plus ``eps`` I) is inverted once
    in closed form (adjugate / determinant, vectorised over pixels), so that
    filtering many sources with the same guide costs a few box filters each
    (He et al., TPAMI 2013, Eq. 19-21). Channels are kept as separate
    contiguous planes, which is several times faster than (h, w, 3) strides.
    """

    def __init__(self, guide: np.ndarray, radius: int, eps: float) -> None:
        self.radius = radius
        self.planes = [np.ascontiguousarray(guide[..., c], dtype=np.float32) for c in range(3)]
        r, g, b = self.planes
        mr, mg, mb = (box_filter(x, radius) for x in self.planes)
        srr = box_filter(r * r, radius) - mr * mr + eps
        srg = box_filter(r * g, radius) - mr * mg
        srb = box_filter(r * b, radius) - mr * mb
        sgg = box_filter(g * g, radius) - mg * mg + eps
        sgb = box_filter(g * b, radius) - mg * mb
        sbb = box_filter(b * b, radius) - mb * mb + eps
        irr = sgg * sbb - sgb * sgb
        irg = srb * sgb - srg * sbb
        irb = srg * sgb - srb * sgg
        igg = srr * sbb - srb * srb
        igb = srb * srg - srr * sgb
        ibb = srr * sgg - srg * srg
        inv_det = 1.0 / (srr * irr + srg * irg + srb * irb)
        self.means = (mr, mg, mb)
        self.inv = tuple(x * inv_det for x in (irr, irg, irb, igg, igb, ibb))

    def coefficients(self, src: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Window-averaged coefficients for ``src`` (h, w): ``([a_r, a_g, a_b], b)``,
        each (h, w) float32; the filter output is ``sum(a_c * guide_c) + b``."""
        radius = self.radius
        mr, mg, mb = self.means
        r, g, b = self.planes
        mean_p = box_filter(src, radius)
        cr = box_filter(r * src, radius) - mr * mean_p
        cg = box_filter(g * src, radius) - mg * mean_p
        cb = box_filter(b * src, radius) - mb * mean_p
        irr, irg, irb, igg, igb, ibb = self.inv
        ar = irr * cr + irg * cg + irb * cb
        ag = irg * cr + igg * cg + igb * cb
        ab = irb * cr + igb * cg + ibb * cb
        bias = mean_p - ar * mr - ag * mg - ab * mb
        return [box_filter(ar, radius), box_filter(ag, radius), box_filter(ab, radius)], box_filter(bias, radius)

    def filter(self, src: np.ndarray) -> np.ndarray:
        """Guided filter output (h, w) float32 for ``src`` (h, w)."""
        (ar, ag, ab), bias = self.coefficients(src)
        r, g, b = self.planes
        return ar * r + ag * g + ab * b + bias


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Filter ``src`` so that its edges follow the edges of ``guide``.

    Args:
        guide: (H, W, 3) or (H, W) float array, values about 0..1 (sRGB is
            fine: only local contrast matters).
        src: (H, W) float array to filter (a matte 0..1, a disparity map).
        radius: window radius in pixels (>= 1).
        eps: regularisation, in squared guide units (e.g. 1e-4 keeps fine
            edges, 1e-2 smooths more).

    Returns:
        (H, W) float32, the filtered ``src``.

    Raises:
        ValueError: if the shapes of ``guide`` and ``src`` differ in H, W.

    Source: He et al., TPAMI 2013, Algorithm 1 and the colour extension
    (Sec. 3.5).
    """
    guide = np.asarray(guide, dtype=np.float32)
    p = np.asarray(src, dtype=np.float32)
    if guide.shape[:2] != p.shape[:2]:
        raise ValueError(f"guide {guide.shape[:2]} and src {p.shape[:2]} differ in size")
    radius = max(1, int(radius))
    if guide.ndim == 2:
        mean_i = box_filter(guide, radius)
        mean_p = box_filter(p, radius)
        var_i = box_filter(guide * guide, radius) - mean_i * mean_i
        cov_ip = box_filter(guide * p, radius) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return (box_filter(a, radius) * guide + box_filter(b, radius)).astype(np.float32)

    return ColourGuide(guide, radius, eps).filter(p)
