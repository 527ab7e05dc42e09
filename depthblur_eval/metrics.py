"""Depth evaluation metrics against ground truth (tests and benchmarks only; not shipped).

Middlebury bad-N (:func:`bad_pixel_rate`), and where depth edges lie:
:func:`depth_discontinuities`, :func:`blur_boundary` (the line where a
depth-blur render turns from sharp to blurred), compared with
:func:`boundary_distance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from depthblur_cli.estimation.disparity import as_2d_float


def bad_pixel_rate(estimate: np.ndarray, truth: np.ndarray, threshold: float = 2.0) -> float:
    """Middlebury "bad pixel" rate of a disparity estimate.

    Scharstein and Szeliski, "A Taxonomy and Evaluation of Dense Two-Frame
    Stereo Correspondence Algorithms", IJCV 2002 (bad-N metric).

    Args:
        estimate: (H, W) disparity in pixels; NaN/inf counts as bad.
        truth: (H, W) ground-truth disparity in pixels, non-finite where
            unknown (those pixels are ignored).
        threshold: error above which a pixel is bad, in pixels.

    Returns:
        Fraction 0..1 of pixels with finite truth where
        ``|estimate - truth| > threshold`` or the estimate is not finite.

    Raises:
        ValueError: if the shapes differ or no truth pixel is finite.
    """
    est = np.asarray(estimate, dtype=np.float64)
    gt = np.asarray(truth, dtype=np.float64)
    if est.shape != gt.shape:
        raise ValueError(f"estimate {est.shape} and truth {gt.shape} differ in shape")
    known = np.isfinite(gt)
    if not known.any():
        raise ValueError("ground truth has no finite pixel")
    with np.errstate(invalid="ignore"):
        good = np.abs(est[known] - gt[known]) <= threshold  # NaN -> False
    return float(1.0 - good.mean())


def depth_discontinuities(disparity: np.ndarray, step: float) -> np.ndarray:
    """Pixels on the near side of a depth discontinuity.

    A pair of 4-neighbours whose disparities differ by more than ``step`` is
    a discontinuity; the nearer pixel of the pair (larger disparity, the
    occluding surface, whose outline is the visible edge in the photo) is
    marked, so an edge is a 1-pixel line on the object's silhouette. Pairs
    with a non-finite value are skipped (a hole is not an edge).

    Args:
        disparity: (H, W) float disparity (larger = nearer), any units,
            NaN/inf where unknown.
        step: smallest jump counted, in the units of ``disparity``.

    Returns:
        (H, W) bool.

    Raises:
        ValueError: if ``disparity`` is not 2-D or ``step`` is not > 0.
    """
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    d = as_2d_float(disparity, "disparity")
    edges = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):  # NaN/inf differences compare False
        dx = d[:, 1:] - d[:, :-1]
        dy = d[1:] - d[:-1]
        edges[:, :-1] |= dx < -step  # left pixel nearer
        edges[:, 1:] |= dx > step  # right pixel nearer
        edges[:-1] |= dy < -step
        edges[1:] |= dy > step
    return edges


def blur_boundary(signed_coc: np.ndarray, threshold: float = 1.0) -> np.ndarray:
    """The line between the sharp and the blurred part of a depth-blur render.

    A pixel is sharp when its circle of confusion is below ``threshold``
    pixels (``|coc| < threshold``; below about one pixel a lens blur is
    invisible) and blurred otherwise; NaN pixels are neither. The boundary
    is the sharp pixels with a blurred 4-neighbour: a 1-pixel line on the
    sharp side, where the rendered image changes from sharp to blurred.

    Args:
        signed_coc: (H, W) float CoC radius in pixels (sign ignored), NaN
            where unknown (e.g. computed from a raw disparity with holes).
        threshold: CoC radius, pixels, from which a pixel counts as blurred.

    Returns:
        (H, W) bool.

    Raises:
        ValueError: if ``signed_coc`` is not 2-D or ``threshold`` is not > 0.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    size = np.abs(as_2d_float(signed_coc, "CoC map"))
    with np.errstate(invalid="ignore"):
        sharp = size < threshold
        blurred = size >= threshold
    next_to_blur = np.zeros(size.shape, bool)
    next_to_blur[:, 1:] |= blurred[:, :-1]
    next_to_blur[:, :-1] |= blurred[:, 1:]
    next_to_blur[1:] |= blurred[:-1]
    next_to_blur[:-1] |= blurred[1:]
    return sharp & next_to_blur


@dataclass(frozen=True)
class BoundaryDistances:
    """How far two boundary maps lie from each other, in pixels.

    ``estimated_*``: over the pixels of the estimated boundary, the distance
    to the nearest reference pixel (large where the estimate has edges the
    reference has not). ``reference_*``: the other way round (large where a
    reference edge was missed). ``*_within``: the share 0..1 of those pixels
    at most ``tolerance`` pixels away. The two means together are the
    symmetric Chamfer distance (Barrow et al., IJCAI 1977).
    """

    estimated_mean: float
    estimated_median: float
    estimated_p90: float
    estimated_within: float
    estimated_count: int
    reference_mean: float
    reference_median: float
    reference_p90: float
    reference_within: float
    reference_count: int
    tolerance: float

    @property
    def chamfer(self) -> float:
        """Symmetric Chamfer distance: mean of the two mean distances."""
        return 0.5 * (self.estimated_mean + self.reference_mean)

    def summary(self) -> str:
        """One line: both directions' mean / median / 90th percentile / share within."""
        tol = f"{self.tolerance:g}"
        return (
            f"estimated->reference mean {self.estimated_mean:.2f} median {self.estimated_median:.2f} "
            f"p90 {self.estimated_p90:.2f} px, {self.estimated_within:.0%} within {tol} px "
            f"(of {self.estimated_count} px); "
            f"reference->estimated mean {self.reference_mean:.2f} median {self.reference_median:.2f} "
            f"p90 {self.reference_p90:.2f} px, {self.reference_within:.0%} within {tol} px "
            f"(of {self.reference_count} px)"
        )


def boundary_distance(
    estimated: np.ndarray,
    reference: np.ndarray,
    *,
    region: np.ndarray | None = None,
    tolerance: float = 3.0,
) -> BoundaryDistances:
    """Distances between an estimated and a reference boundary map.

    Each boundary pixel's distance to the nearest pixel of the other map is
    read from a Euclidean distance transform
    (:func:`scipy.ndimage.distance_transform_edt`), in both directions.
    Boundary maps come from :func:`depth_discontinuities` (edges of a
    disparity map) or :func:`blur_boundary` (where a render turns from sharp
    to blurred), e.g. of an estimated and a ground-truth disparity.

    Args:
        estimated: (H, W) bool, the estimated boundary.
        reference: (H, W) bool, the true boundary.
        region: optional (H, W) bool; only boundary pixels inside it are
            measured (the nearest pixel of the other map may lie anywhere).
        tolerance: distance, pixels, for the ``*_within`` shares.

    Returns:
        :class:`BoundaryDistances`: mean, median, 90th percentile and share
        within ``tolerance`` in each direction, and the pixel counts. A
        direction with no pixel to measure gives distances 0, share 1 and a
        count of 0; if the other map is empty the distances are ``inf`` and
        the share 0.

    Raises:
        ValueError: if the shapes differ.
    """
    est = np.asarray(estimated, dtype=bool)
    ref = np.asarray(reference, dtype=bool)
    if est.shape != ref.shape or est.ndim != 2:
        raise ValueError(f"boundary maps must be 2-D of one shape, got {est.shape} and {ref.shape}")
    keep = np.ones(est.shape, bool) if region is None else np.asarray(region, dtype=bool)
    if keep.shape != est.shape:
        raise ValueError(f"region {keep.shape} and boundaries {est.shape} differ in shape")

    def one_way(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, float, float, int]:
        pts = src & keep
        n = int(pts.sum())
        if n == 0:
            return 0.0, 0.0, 0.0, 1.0, 0
        if not dst.any():
            return float("inf"), float("inf"), float("inf"), 0.0, n
        dist = ndimage.distance_transform_edt(~dst)[pts]
        return (
            float(dist.mean()),
            float(np.median(dist)),
            float(np.percentile(dist, 90)),
            float((dist <= tolerance).mean()),
            n,
        )

    return BoundaryDistances(*one_way(est, ref), *one_way(ref, est), float(tolerance))
