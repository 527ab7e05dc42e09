"""Edge-aware filtering guided by the photo.

Implements the guided filter of He, Sun and Tang, "Guided Image Filtering",
IEEE TPAMI 2013 (https://doi.org/10.1109/TPAMI.2012.213), with the
colour-guide variant (Eq. 19-21) built from OpenCV box filters, and its
subsampled form, the fast guided filter of He and Sun, "Fast Guided Filter",
2015 (https://arxiv.org/abs/1505.00996). Used to snap a low-resolution matte
or disparity map to the edges of the full resolution image (hair, fingers,
leaves).
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.resample import enlarge_rows


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


def _gray_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged ``(a, b)`` of the gray guided filter, each (h, w) float32: the output is ``a * guide + b``.

    Source: He et al., TPAMI 2013, Algorithm 1.
    """
    mean_i = box_filter(guide, radius)
    mean_p = box_filter(src, radius)
    var_i = box_filter(guide * guide, radius) - mean_i * mean_i
    cov_ip = box_filter(guide * src, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, radius), box_filter(b, radius)


def _float_pair(guide: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float32; raises ValueError when they differ in H, W."""
    guide = np.asarray(guide, dtype=np.float32)
    p = np.asarray(src, dtype=np.float32)
    if guide.shape[:2] != p.shape[:2]:
        raise ValueError(f"guide {guide.shape[:2]} and src {p.shape[:2]} differ in size")
    return guide, p


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
    guide, p = _float_pair(guide, src)
    radius = max(1, int(radius))
    if guide.ndim == 2:
        a, b = _gray_coefficients(guide, p, radius, eps)
        return (a * guide + b).astype(np.float32)

    return ColourGuide(guide, radius, eps).filter(p)


def _reduced_size(shape: tuple[int, int], subsample: float) -> tuple[int, int]:
    """(w, h) of the grid ``subsample`` times smaller than ``shape`` = (H, W)."""
    H, W = shape
    return max(1, round(W / subsample)), max(1, round(H / subsample))


def _reduced_grid(shape: tuple[int, ...], radius: int, subsample: float) -> tuple[tuple[int, int], int]:
    """((w, h) of the reduced grid, the window radius there, at least 1) for a guide of ``shape``.

    Raises:
        ValueError: ``subsample`` below 1 or not finite.
    """
    if not (np.isfinite(subsample) and subsample >= 1):
        raise ValueError(f"subsample must be a finite number >= 1, got {subsample}")
    return _reduced_size((shape[0], shape[1]), subsample), max(1, round(radius / subsample))


def _reduced_guide(guide: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The guide as float32, area-reduced to ``size`` = (w, h) unless it has that size already."""
    return to_float(guide if size == guide.shape[1::-1] else cv2.resize(guide, size, interpolation=cv2.INTER_AREA))


def reduced_colour_guide(guide: np.ndarray, radius: int, eps: float, *, subsample: float) -> ColourGuide:
    """The part of the fast guided filter that depends on a colour guide only, ready for sources.

    Args:
        guide: (H, W, 3) float array, values about 0..1, or uint8 0..255
            (read as value / 255).
        radius: window radius in pixels of the full-resolution image (>= 1).
        eps: regularisation, in squared guide units.
        subsample: reduction factor, finite and >= 1.

    Returns:
        the :class:`ColourGuide` of the guide reduced to ``round(H / subsample)``
        x ``round(W / subsample)`` (area mean), window radius
        ``round(radius / subsample)`` (at least 1): for
        :func:`fast_guided_coefficients`' ``colour_guide``, computed while the
        source is not known yet (a model's matte still running).

    Raises:
        ValueError: ``subsample`` below 1 or not finite.

    Source: He and Sun, "Fast Guided Filter", arXiv:1505.00996, Algorithm 2 (steps 1-2).
    """
    size, small_radius = _reduced_grid(guide.shape, radius, subsample)
    return ColourGuide(_reduced_guide(guide, size), small_radius, eps)


def fast_guided_coefficients(
    guide: np.ndarray,
    src: np.ndarray,
    radius: int,
    eps: float,
    *,
    subsample: float,
    colour_guide: ColourGuide | None = None,
) -> np.ndarray:
    """The guided filter's linear coefficients, found on a reduced grid.

    Args:
        guide: (H, W, 3) or (H, W) float array, values about 0..1, or
            uint8 0..255 (read as value / 255).
        src: the array to filter, (H, W) or at any other resolution (it is
            resized to the reduced grid: area mean when shrinking, bilinear
            when enlarging, e.g. a model's 320x320 output).
        radius: window radius in pixels of the full-resolution image (>= 1).
        eps: regularisation, in squared guide units.
        subsample: reduction factor, finite and >= 1.
        colour_guide: for a colour guide, its :func:`reduced_colour_guide`
            with the same ``radius``, ``eps`` and ``subsample``, if already
            computed (the result is the same).

    Returns:
        (h, w, C + 1) float32 on the grid ``round(H / subsample)`` x
        ``round(W / subsample)``: the window-averaged ``a`` of each of the
        guide's C channels, then ``b``; the filter's output at full
        resolution is ``sum(a_c * guide_c) + b`` with the coefficients
        enlarged bilinearly (:func:`apply_coefficients`).

    Raises:
        ValueError: ``subsample`` below 1 or not finite.

    Source: He and Sun, "Fast Guided Filter", arXiv:1505.00996, Algorithm 2.
    """
    guide = np.asarray(guide)
    p = np.asarray(src, dtype=np.float32)
    size, small_radius = _reduced_grid(guide.shape, radius, subsample)
    small_src: np.ndarray = p
    if p.shape != (size[1], size[0]):
        shrinking = p.shape[0] > size[1]
        small_src = cv2.resize(p, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if guide.ndim == 2:
        a, b = _gray_coefficients(_reduced_guide(guide, size), small_src, small_radius, eps)
        return cv2.merge([a, b])
    solver = colour_guide or reduced_colour_guide(guide, radius, eps, subsample=subsample)
    (ar, ag, ab), bias = solver.coefficients(small_src)
    return cv2.merge([ar, ag, ab, bias])


_ONES = np.ones((1, 4), np.float32)


def apply_coefficients(coefficients: np.ndarray, guide: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Rows ``y0:y1`` of the guided filter's output from its reduced coefficients.

    Args:
        coefficients: (h, w, C + 1) float32 from :func:`fast_guided_coefficients`.
        guide: the full-resolution guide, (H, W, 3) or (H, W), float or
            uint8 (read as value / 255).
        y0, y1: rows wanted.

    Returns:
        (y1 - y0, W) float32: ``sum(a_c * guide_c) + b``, the coefficients
        enlarged bilinearly to the guide's size (only these rows).

    Source: He and Sun, "Fast Guided Filter", arXiv:1505.00996, Algorithm 2 (steps 5-6).
    """
    up = enlarge_rows(coefficients, guide.shape[:2], y0, y1)
    if guide.ndim == 2:
        return up[..., 0] * to_float(guide[y0:y1]) + up[..., 1]
    # The guide with a fourth channel of ones (OpenCV's RGB -> RGBA: 255 in 8 bits, 1.0 in float),
    # times (a_r, a_g, a_b, b), summed over channels in that order: the same sums, without
    # slicing the 4-channel coefficients apart (a strided copy took half of this function's time).
    g = guide[y0:y1] if guide.dtype == np.uint8 else to_float(guide[y0:y1])
    g = to_float(cv2.cvtColor(np.ascontiguousarray(g), cv2.COLOR_RGB2RGBA))
    # ``up`` is a view of ``coefficients`` when they are at full resolution: not multiplied in place then.
    weighted = np.multiply(up, g, out=None if np.shares_memory(up, coefficients) else up)
    return cv2.transform(weighted, _ONES)


def fast_guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, *, subsample: float) -> np.ndarray:
    """The guided filter with its coefficients computed on a reduced copy.

    The linear coefficients ``a`` and ``b`` are found on the guide and the
    source reduced by ``subsample`` (area averaging, window radius
    ``radius / subsample``), enlarged bilinearly, and applied to the
    full-resolution guide strip by strip (no full-size temporary), so the
    output keeps the guide's full-resolution edges at about
    ``1 / subsample**2`` of the cost.

    Args:
        guide: (H, W, 3) or (H, W) float array, values about 0..1.
        src: (H, W) float array to filter.
        radius: window radius in pixels of the full-resolution image (>= 1).
        eps: regularisation, in squared guide units.
        subsample: reduction factor >= 1 (1 is :func:`guided_filter`).

    Returns:
        (H, W) float32, the filtered ``src``.

    Raises:
        ValueError: the shapes of ``guide`` and ``src`` differ in H, W, or
            ``subsample`` is below 1 or not finite.

    Source: He and Sun, "Fast Guided Filter", arXiv:1505.00996, Algorithm 2.
    """
    guide, p = _float_pair(guide, src)
    if subsample == 1:  # (any other bad subsample is refused by fast_guided_coefficients)
        return guided_filter(guide, p, radius, eps)
    coefficients = fast_guided_coefficients(guide, p, radius, eps, subsample=subsample)
    out = np.empty(p.shape, np.float32)

    def work(y0: int, y1: int) -> None:
        out[y0:y1] = apply_coefficients(coefficients, guide, y0, y1)

    threads.for_each_strip(work, p.shape[0], width=p.shape[1])
    return out
