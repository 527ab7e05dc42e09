"""Depth estimation: every source of depth ends as a dense disparity map.

"Depth" in depthblur is always **disparity** (inverse depth: larger values are
nearer), a float32 (H, W) array that is finite everywhere once it leaves this
module. Four sources produce it:

* a depth file written by another tool (:func:`disparity_from_values`), kept
  in the file's own units so that ``--focus-disparity`` / ``--coc-scale`` can
  be given in those units;
* a rectified stereo pair (:func:`disparity_from_stereo`), in pixels of
  disparity, with OpenCV's semi-global matcher (Hirschmuller, "Stereo
  Processing by Semiglobal Matching and Mutual Information", IEEE TPAMI 2008,
  https://doi.org/10.1109/TPAMI.2007.1166);
* a monocular ONNX model such as Depth Anything or MiDaS
  (:func:`disparity_from_model`), relative disparity in the model's units,
  upsampled to the photo with the fast guided filter (He and Sun 2015,
  https://arxiv.org/abs/1505.00996);
* the subject matte alone (:func:`disparity_from_matte`), an offline
  fallback with two layers: background plane at 0, subject at 1.

Where a matte is available, :func:`disparity_consistent_with_matte` makes
the depth inside the subject agree with it. For evaluation against ground
truth: :func:`bad_pixel_rate` (Middlebury bad-N), and where depth edges lie,
:func:`depth_discontinuities` and :func:`blur_boundary` (the line where a
depth-blur render turns from sharp to blurred) compared with
:func:`boundary_distance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from depthblur_cli.errors import ModelError
from depthblur_cli.estimation.guided_filter import ColourGuide, box_filter

__all__ = [
    "BoundaryDistances",
    "DepthResult",
    "bad_pixel_rate",
    "blur_boundary",
    "boundary_distance",
    "depth_discontinuities",
    "disparity_consistent_with_matte",
    "disparity_from_matte",
    "disparity_from_model",
    "disparity_from_stereo",
    "disparity_from_values",
    "fill_holes",
    "fill_occlusions",
    "normalize_disparity",
    "upsample_disparity",
]

#: Working resolution (pixels) of the fast guided filter: the coefficients are
#: solved at about this many pixels and bilinearly upsampled to the photo.
GUIDED_WORK_PIXELS = 2_000_000
#: Longest model input side, in multiples of ``spec.input_size`` (panoramas).
MODEL_MAX_ASPECT = 3.0
#: Stereo pairs above this many pixels are matched at a reduced size.
STEREO_MAX_PIXELS = 1_500_000


@dataclass
class DepthResult:
    """A dense disparity map and where it came from.

    Attributes:
        disparity: (H, W) float32, finite, larger = nearer, in the source's
            own units: the file's units ("file"), pixels ("stereo"), the
            model's relative units ("model:<name>") or 0..1 ("matte").
        source: "file", "stereo", "model:<name>" or "matte".
        notes: one-line remarks for the user (e.g. a resize that happened).
    """

    disparity: np.ndarray
    source: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- #
# Holes, files, normalisation
# --------------------------------------------------------------------------- #


def _as_2d_float(arr: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty (H, W) array, got shape {np.shape(arr)}")
    return a


def fill_holes(disp: np.ndarray) -> np.ndarray:
    """Replace NaN / +-inf pixels by the value of the nearest valid pixel.

    Nearest in the Euclidean sense, via
    :func:`scipy.ndimage.distance_transform_edt` with ``return_indices``.

    Args:
        disp: (H, W) float array (any units), NaN or inf where unknown.

    Returns:
        (H, W) float32, finite everywhere; valid pixels are unchanged.

    Raises:
        ValueError: if ``disp`` is not 2-D or has no finite pixel at all.
    """
    d = _as_2d_float(disp, "disparity")
    invalid = ~np.isfinite(d)
    if not invalid.any():
        return d.copy()
    if invalid.all():
        raise ValueError("depth map has no valid (finite) pixel")
    # EDT measures the distance to the nearest zero, i.e. to a valid pixel.
    idx = ndimage.distance_transform_edt(invalid, return_distances=False, return_indices=True)
    return d[idx[0], idx[1]].astype(np.float32)


def disparity_from_values(
    values: np.ndarray, kind: str, shape: tuple[int, int]
) -> tuple[np.ndarray, list[str]]:
    """Turn the values of a depth file into a dense disparity map for the image.

    Args:
        values: (h, w) float array read from the file, in the file's units,
            NaN/inf where unknown.
        kind: "disparity" (kept as is, larger = nearer) or "depth" (inverted
            to 1/depth; depth <= 0 is treated as a hole).
        shape: (H, W) of the image the map must match.

    Returns:
        ``(disparity, notes)``: (H, W) float32 finite disparity in the file's
        units (1/depth units for "depth"), resized with bilinear
        interpolation when (h, w) != (H, W), which does not change the value
        scale; ``notes`` holds "depth map is wxh, image is WxH: resized" when
        that happened, else is empty.

    Raises:
        ValueError: on an unknown ``kind``, a non-2-D array or a map with no
            valid pixel.
    """
    if kind not in ("disparity", "depth"):
        raise ValueError(f"unknown depth kind {kind!r} (expected 'disparity' or 'depth')")
    v = _as_2d_float(values, "depth map")
    if kind == "depth":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(np.isfinite(v) & (v > 0), 1.0 / v, np.nan).astype(np.float32)
    d = fill_holes(v)
    notes: list[str] = []
    height, width = int(shape[0]), int(shape[1])
    if d.shape != (height, width):
        notes.append(f"depth map is {d.shape[1]}x{d.shape[0]}, image is {width}x{height}: resized")
        d = cv2.resize(d, (width, height), interpolation=cv2.INTER_LINEAR)
    return d.astype(np.float32), notes


def normalize_disparity(disp: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Robust min-max normalisation of a disparity map to 0..1.

    The ``low`` and ``high`` percentiles of the finite values map to 0 and 1;
    values outside are clipped, so a few outliers do not squash the range.

    Args:
        disp: (H, W) float array, any units.
        low: lower percentile, 0..100.
        high: upper percentile, ``low``..100.

    Returns:
        (H, W) float32 in 0..1 (non-finite pixels -> 0). A constant map (or
        one without finite values) gives all zeros.

    Raises:
        ValueError: if not 0 <= low < high <= 100 or ``disp`` is not 2-D.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    d = _as_2d_float(disp, "disparity")
    finite = np.isfinite(d)
    if not finite.any():
        return np.zeros(d.shape, np.float32)
    all_finite = bool(finite.all())
    values = d.reshape(-1).copy() if all_finite else d[finite]
    lo, hi = np.percentile(values, [low, high], overwrite_input=True)  # partitions its own copy
    del values
    span = float(hi - lo)
    if not span > 1e-12 * max(1.0, abs(float(hi))):
        return np.zeros(d.shape, np.float32)
    out = np.subtract(d, lo, dtype=np.float32)  # the one full-size result, then in place
    out *= np.float32(1.0 / span)
    np.clip(out, 0.0, 1.0, out=out)
    if not all_finite:
        out[~finite] = 0.0
    return out


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


# --------------------------------------------------------------------------- #
# Where depth edges lie: discontinuities, blur boundaries, their distances
# --------------------------------------------------------------------------- #


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
    d = _as_2d_float(disparity, "disparity")
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
    size = np.abs(_as_2d_float(signed_coc, "CoC map"))
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


# --------------------------------------------------------------------------- #
# Stereo
# --------------------------------------------------------------------------- #


def _check_pair(left_rgb: np.ndarray, right_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left = np.asarray(left_rgb, dtype=np.float32)
    right = np.asarray(right_rgb, dtype=np.float32)
    if left.ndim != 3 or left.shape[2] != 3:
        raise ValueError(f"left image must be (H, W, 3), got {left.shape}")
    if right.shape != left.shape:
        raise ValueError(f"stereo images differ in size: left {left.shape}, right {right.shape}")
    return left, right


def _default_num_disparities(width: int) -> int:
    return max(16, -(-int(np.ceil(width / 8.0)) // 16) * 16)


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _sgbm_raw(
    left_rgb: np.ndarray, right_rgb: np.ndarray, num_disparities: int | None = None
) -> np.ndarray:
    """Raw semi-global matching with a left-right consistency check.

    Args:
        left_rgb, right_rgb: rectified pair, (H, W, 3) float32 sRGB 0..1.
        num_disparities: search range in pixels (rounded up to a multiple of
            16); default: the smallest multiple of 16 >= W / 8.

    Returns:
        (H, W) float32 disparity of the left view in pixels, NaN where SGBM
        found no match or the left and right disparities disagree by more
        than 1 px.

    Raises:
        ValueError: if the images are not (H, W, 3) of the same size.
    """
    left, right = _check_pair(left_rgb, right_rgb)
    width = left.shape[1]
    nd = _default_num_disparities(width) if num_disparities is None else int(num_disparities)
    nd = max(16, -(-nd // 16) * 16)
    bs = 5
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=nd,
        blockSize=bs,
        P1=8 * 3 * bs * bs,
        P2=32 * 3 * bs * bs,
        disp12MaxDiff=-1,  # our own left-right check below
        preFilterCap=63,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    l8 = np.ascontiguousarray(_to_u8(left)[..., ::-1])  # BGR, as OpenCV expects
    r8 = np.ascontiguousarray(_to_u8(right)[..., ::-1])

    def match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # SGBM leaves the first numDisparities columns unmatched; padding both
        # views on the left lets pixels there search the disparities that
        # stay inside the image (the rest fail the left-right check).
        pad = lambda x: cv2.copyMakeBorder(x, 0, 0, nd, 0, cv2.BORDER_REPLICATE)  # noqa: E731
        return matcher.compute(pad(a), pad(b))[:, nd:].astype(np.float32) / 16.0

    d_left = match(l8, r8)
    # Right-view disparity with the mirror trick: flipped right image as the
    # "left" view, flipped left image as the "right" view.
    d_right = match(np.ascontiguousarray(r8[:, ::-1]), np.ascontiguousarray(l8[:, ::-1]))[:, ::-1]

    valid_l = d_left >= 0  # SGBM writes (minDisparity - 1) where it has no match
    height = d_left.shape[0]
    xs = np.arange(width, dtype=np.int64)[None, :]
    xr = xs - np.rint(np.where(valid_l, d_left, 0)).astype(np.int64)
    inside = valid_l & (xr >= 0)
    xr_c = np.clip(xr, 0, width - 1)
    d_back = d_right[np.arange(height)[:, None], xr_c]
    consistent = inside & (d_back >= 0) & (np.abs(d_left - d_back) <= 1.0)
    return np.where(consistent, d_left, np.nan).astype(np.float32)


def fill_occlusions(disp: np.ndarray) -> np.ndarray:
    """Fill NaN / inf runs along each row with the smaller of the two neighbours.

    The smaller disparity (the farther surface) is the classic choice for
    holes left by occlusions, which belong to the background (e.g.
    Hirschmuller, TPAMI 2008, Sec. 3.5). Rows without any valid pixel are
    then filled from the nearest valid pixel in 2-D (:func:`fill_holes`).

    Args:
        disp: (H, W) float disparity, NaN or inf where unknown.

    Returns:
        (H, W) float32, finite everywhere; valid pixels are unchanged.

    Raises:
        ValueError: if ``disp`` is not 2-D or has no finite pixel.
    """
    d = _as_2d_float(disp, "disparity")
    valid = np.isfinite(d)
    height, width = d.shape
    cols = np.arange(width)[None, :]
    left_idx = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right_idx = np.minimum.accumulate(np.where(valid, cols, width)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(height)[:, None]
    left_val = np.where(left_idx >= 0, d[rows, np.clip(left_idx, 0, width - 1)], np.inf)
    right_val = np.where(right_idx < width, d[rows, np.clip(right_idx, 0, width - 1)], np.inf)
    fill = np.minimum(left_val, right_val)  # inf where neither side is valid
    out = np.where(valid, d, fill).astype(np.float32)
    out[~np.isfinite(out)] = np.nan
    return fill_holes(out)


def disparity_from_stereo(
    left_rgb: np.ndarray,
    right_rgb: np.ndarray,
    *,
    num_disparities: int | None = None,
    raw: bool = False,
    max_pixels: int = STEREO_MAX_PIXELS,
) -> np.ndarray:
    """Disparity of the left view of a rectified stereo pair, in pixels.

    Pipeline:

    1. OpenCV StereoSGBM (``MODE_SGBM_3WAY``, block 5, P1 = 8*3*5^2,
       P2 = 32*3*5^2, uniqueness 10, speckle filter 100 px / 2 px;
       Hirschmuller, TPAMI 2008, https://doi.org/10.1109/TPAMI.2007.1166).
    2. Left-right consistency check: the right view's disparity comes from
       the same matcher on the horizontally mirrored, swapped pair; pixels
       whose disparities disagree by more than 1 px are invalidated.
    3. Hole filling along scanlines with the smaller (farther, background)
       of the nearest valid left/right neighbours (occlusions belong to the
       background).
    4. Edge-aware smoothing: weighted median with guided-filter weights
       guided by the left image (Ma et al., ICCV 2013,
       https://doi.org/10.1109/ICCV.2013.13), radius max(2, W/125) px.

    Pairs larger than ``max_pixels`` are matched at a reduced size
    (``cv2.INTER_AREA``) and the disparity brought back to the input
    resolution with :func:`upsample_disparity` and multiplied by the scale,
    so SGBM's cost volume (H x W x range) stays bounded.

    Args:
        left_rgb: (H, W, 3) float32 sRGB 0..1, left view.
        right_rgb: (H, W, 3) float32 sRGB 0..1, right view, same size.
        num_disparities: search range in pixels at the input resolution
            (rounded up to a multiple of 16 at the matching resolution);
            default the smallest multiple of 16 >= W / 8.
        raw: return steps 1-2 only (NaN where invalid), for evaluation.
        max_pixels: largest pixel count matched directly.

    Returns:
        (H, W) float32 disparity of the left view in pixels at the input
        resolution (larger = nearer); finite everywhere unless ``raw``.

    Raises:
        ValueError: if the images are not (H, W, 3) of the same size, or no
            pixel could be matched consistently.
    """
    left, right = _check_pair(left_rgb, right_rgb)
    height, width = left.shape[:2]
    scale = min(1.0, float(np.sqrt(max_pixels / float(height * width))))
    nd = num_disparities
    if scale < 1.0:
        size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
        scale = size[0] / float(width)
        left_m = cv2.resize(left, size, interpolation=cv2.INTER_AREA)
        right_m = cv2.resize(right, size, interpolation=cv2.INTER_AREA)
        if nd is not None:
            nd = int(np.ceil(nd * scale))
    else:
        left_m, right_m = left, right
    d = _sgbm_raw(left_m, right_m, nd)
    if raw:
        if scale < 1.0:
            d = cv2.resize(d, (width, height), interpolation=cv2.INTER_NEAREST) / scale
        return d.astype(np.float32)
    if not np.isfinite(d).any():
        raise ValueError("stereo matching found no consistent pixel")
    filled = fill_occlusions(d)
    radius = max(2, int(round(left_m.shape[1] / 125.0)))
    out = _guided_weighted_median(left_m, filled, radius, 1e-4, min_step=1.0)
    if scale < 1.0:
        out = upsample_disparity(out, left) / scale
    return out.astype(np.float32)


# --------------------------------------------------------------------------- #
# Guided upsampling (fast guided filter)
# --------------------------------------------------------------------------- #


def _guided_weighted_median(
    guide: np.ndarray,
    disp: np.ndarray,
    radius: int,
    eps: float,
    max_bins: int = 128,
    min_step: float = 0.0,
) -> np.ndarray:
    """Weighted median of ``disp`` with guided-filter weights.

    Ma, Zhang, Lu, Wang and Zhang, "Constant Time Weighted Median Filtering
    for Stereo Matching and Beyond", ICCV 2013
    (https://doi.org/10.1109/ICCV.2013.13): the disparity range is cut into
    at most ``max_bins`` bins (no narrower than ``min_step``); the
    cumulative indicator ``disp <= level`` is guided-filtered for each level
    and the median is the first level whose filtered value reaches 0.5. A
    pixel keeps its own (sub-pixel) value when the median lies within one
    bin of it. ``guide`` (h, w, 3) float32 0..1, ``disp`` (h, w) float32;
    returns (h, w) float32 in the units of ``disp``.
    """
    lo, hi = float(disp.min()), float(disp.max())
    step = max(min_step, (hi - lo) / max_bins)
    if not step > 0:
        return disp.astype(np.float32)
    levels = lo + step * np.arange(int(np.ceil((hi - lo) / step)) + 1, dtype=np.float32)
    solver = ColourGuide(guide, radius, eps)
    result = np.full(disp.shape, levels[-1], np.float32)
    found = np.zeros(disp.shape, bool)
    for level in levels[:-1]:  # loop over disparity levels, not pixels
        cdf = solver.filter((disp <= level).astype(np.float32))
        newly = ~found & (cdf >= 0.5)
        result[newly] = level
        found |= newly
    return np.where(np.abs(result - disp) <= step, disp, result).astype(np.float32)


def _rect(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))


def _snap_depth_edges(disp: np.ndarray, guide: np.ndarray, band: int, eps: float = 2.5e-3) -> np.ndarray:
    """Move depth edges of an upsampled disparity map onto the colour edges.

    A bilinearly upsampled map places each depth edge only to within about
    one low-resolution pixel, and spreads it over that width. Around every
    depth edge we build a trimap and re-decide the uncertain band from the
    colours, in the spirit of sampling-based matting (Chuang et al.,
    "A Bayesian Approach to Digital Matting", CVPR 2001):

    1. near / far labels: ``disp`` above / below the mid-point of its local
       max and min over a window of radius 2R (R = 2 * band + 1);
    2. sure-near / sure-far: labels eroded by ``band`` pixels; what is
       neither is the uncertain band around the edge;
    3. in the band, mean colour and mean disparity of the sure-near and the
       sure-far pixels within radius R; the pixel's colour is projected on
       the far->near colour axis, alpha = clip(c.d / d.d, 0, 1), trusted in
       proportion to d.d / (d.d + eps) (similar colours fall back to the
       pixel's own position between the two disparities);
    4. band pixel = far disparity + alpha * (near - far).

    Smooth slopes (no label boundary with distinct colours) are unchanged.
    All steps are box filters and rectangular erosions (O(1) per pixel).

    Args:
        disp: (h, w) float32 disparity, any units.
        guide: (h, w, 3) float32 sRGB 0..1.
        band: half-width in pixels of the uncertain band (>= 1), about one
            low-resolution pixel.
        eps: squared colour distance below which colours are "similar".

    Returns:
        (h, w) float32 disparity, same units.
    """
    band = max(1, int(band))
    radius = 2 * band + 1
    wide = _rect(2 * radius)
    mid = 0.5 * (cv2.dilate(disp, wide) + cv2.erode(disp, wide))
    near = (disp > mid).astype(np.uint8)
    sure_n = cv2.erode(near, _rect(band)).astype(np.float32)
    sure_f = cv2.erode(1 - near, _rect(band)).astype(np.float32)
    w_n = box_filter(sure_n, radius)
    w_f = box_filter(sure_f, radius)
    uncertain = (sure_n == 0) & (sure_f == 0) & (w_n > 1e-3) & (w_f > 1e-3)
    if not uncertain.any():
        return disp
    w_n = np.maximum(w_n, 1e-6)
    w_f = np.maximum(w_f, 1e-6)
    d_n = box_filter(disp * sure_n, radius) / w_n
    d_f = box_filter(disp * sure_f, radius) / w_f
    span = d_n - d_f
    safe_span = np.where(np.abs(span) > 1e-12, span, 1.0)
    a_pos = np.clip((disp - d_f) / safe_span, 0.0, 1.0)
    dd = np.zeros(disp.shape, np.float32)
    cd = np.zeros(disp.shape, np.float32)
    for c in range(3):
        g = np.ascontiguousarray(guide[..., c])
        mu_n = box_filter(g * sure_n, radius) / w_n
        mu_f = box_filter(g * sure_f, radius) / w_f
        diff = mu_n - mu_f
        dd += diff * diff
        cd += (g - mu_f) * diff
    a_col = np.clip(cd / np.maximum(dd, 1e-12), 0.0, 1.0)
    trust = dd / (dd + eps)
    alpha = trust * a_col + (1.0 - trust) * a_pos
    return np.where(uncertain & (span > 0), d_f + alpha * span, disp).astype(np.float32)


def upsample_disparity(
    disp_lowres: np.ndarray,
    guide_rgb: np.ndarray,
    *,
    eps: float = 1e-4,
    work_pixels: int = GUIDED_WORK_PIXELS,
) -> np.ndarray:
    """Upsample a low-resolution disparity map so its edges follow the photo.

    1. The photo is reduced (``cv2.INTER_AREA``) to a working resolution of
       at most ``work_pixels`` pixels and the disparity resized to it
       (bilinear).
    2. Depth edges are snapped to colour edges within one low-resolution
       pixel (trimap + local two-colour classification, see
       ``_snap_depth_edges``), which removes the halo band a plain bilinear
       or guided upsampling leaves next to a subject.
    3. Fast guided filter (He and Sun 2015, "Fast Guided Filter",
       https://arxiv.org/abs/1505.00996; guided filter: He, Sun and Tang,
       TPAMI 2013, https://doi.org/10.1109/TPAMI.2012.213): its linear
       coefficients are solved at the working resolution with a radius of
       one working pixel, bilinearly upsampled and applied to the
       full-resolution photo, which restores sub-pixel edges (hair) at a cost
       linear in the photo's pixels.

    Args:
        disp_lowres: (h, w) float disparity, any units, finite.
        guide_rgb: (H, W, 3) float32 sRGB 0..1, the photo.
        eps: guided-filter regularisation in squared guide units (sRGB 0..1).
        work_pixels: largest pixel count of the working resolution.

    Returns:
        (H, W) float32 disparity in the units of ``disp_lowres``.

    Raises:
        ValueError: if the guide is not (H, W, 3) or the disparity not 2-D.
    """
    guide = np.asarray(guide_rgb, dtype=np.float32)
    if guide.ndim != 3 or guide.shape[2] != 3:
        raise ValueError(f"guide must be (H, W, 3), got {guide.shape}")
    d = _as_2d_float(disp_lowres, "disparity")
    height, width = guide.shape[:2]
    scale = min(1.0, float(np.sqrt(work_pixels / float(height * width))))
    wh, ww = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    full = (wh, ww) == (height, width)
    g_work = guide if full else cv2.resize(guide, (ww, wh), interpolation=cv2.INTER_AREA)
    shrink = d.shape[0] > wh or d.shape[1] > ww
    p_work = cv2.resize(d, (ww, wh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    # Scale-invariant in the disparity units: work on a 0..1 copy.
    lo, hi = float(p_work.min()), float(p_work.max())
    span = hi - lo if hi > lo else 1.0
    p_work = (p_work - lo) / span
    band = int(round(max(ww / d.shape[1], wh / d.shape[0])))
    p_work = _snap_depth_edges(p_work, g_work, band)
    coefs, q = ColourGuide(g_work, 1, eps).coefficients(p_work)
    if not full:
        q = _resize_linear(q, width, height)
    for c in range(3):  # one full-resolution plane at a time bounds the memory
        a = coefs[c] if full else _resize_linear(coefs[c], width, height)
        q += a * guide[..., c]
    return (q * span + lo).astype(np.float32)


def _resize_linear(x: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- #
# Monocular model
# --------------------------------------------------------------------------- #


def _round_multiple(x: float, multiple: int, at_least: int | None = None) -> int:
    """Nearest multiple of ``multiple`` (ties to even, as Python's ``round``),
    rounded up instead if that falls below ``at_least``; never below
    ``multiple``. Depth Anything's ``constrain_to_multiple_of`` with
    ``lower_bound`` resizing (github.com/DepthAnything/Depth-Anything-V2,
    ``depth_anything_v2/util/transform.py``)."""
    m = max(1, int(multiple))
    y = int(round(x / m)) * m
    if at_least is not None and y < at_least:
        y = int(np.ceil(x / m)) * m
    return max(m, y)


def _model_input_size(
    shape: Any, image_hw: tuple[int, int], spec: Any
) -> tuple[int, int]:
    """(h, w) the model must be fed: a static input wins, else ``spec.resize``."""
    dims = list(shape) if shape is not None else []
    static_h = static_w = None
    if len(dims) == 4:
        static_h = dims[2] if isinstance(dims[2], int) and dims[2] > 0 else None
        static_w = dims[3] if isinstance(dims[3], int) and dims[3] > 0 else None
    if static_h is not None and static_w is not None:
        return static_h, static_w
    height, width = image_hw
    size = int(spec.input_size)
    multiple = int(getattr(spec, "multiple", 1) or 1)
    mode = getattr(spec, "resize", "auto")
    if mode == "square":
        h = w = _round_multiple(size, multiple)
    elif mode in ("shorter_side", "auto"):
        # Shorter side -> input_size, both sides at least input_size after
        # rounding (Depth Anything's "lower_bound"); the longer side is capped
        # at MODEL_MAX_ASPECT * input_size so a panorama cannot blow up memory.
        short = size / float(min(height, width))
        s = min(short, MODEL_MAX_ASPECT * size / float(max(height, width)))
        floor = size if s == short else None
        h, w = _round_multiple(height * s, multiple, floor), _round_multiple(width * s, multiple, floor)
    else:
        raise ModelError(f"unknown resize mode {mode!r} in the depth model spec")
    # A partly static input (one fixed side) keeps its fixed side.
    return (static_h or h), (static_w or w)


def disparity_from_model(rgb: np.ndarray, session: Any, spec: Any) -> np.ndarray:
    """Monocular relative disparity from an ONNX model, at the photo's size.

    The input name and shape are read from ``session.get_inputs()[0]``. A
    static [1, 3, h, w] input is fed h x w; a dynamic one follows
    ``spec.resize``: "shorter_side" (and "auto") scales the shorter side to
    ``spec.input_size`` keeping the aspect, both sides rounded to multiples
    of ``spec.multiple`` (Depth Anything: 518, 14), the longer side capped
    at ``MODEL_MAX_ASPECT * input_size`` for panoramas; "square" feeds
    ``input_size`` x ``input_size`` (MiDaS-style). The photo is first reduced
    with ``cv2.INTER_AREA`` to at most twice the model size, then resized with
    ``spec.interpolation``, so a 24 MP photo never reaches the model and
    memory stays bounded. The image is normalised ``(x - mean) / std`` and
    fed NCHW float32; output 0 squeezed to (h, w) is taken as relative
    disparity (larger = nearer) and upsampled with :func:`upsample_disparity`.

    Args:
        rgb: (H, W, 3) float32 sRGB 0..1.
        session: an ``onnxruntime.InferenceSession`` (or any object with
            ``get_inputs()`` and ``run(None, feeds)``).
        spec: object with ``input_size`` (int), ``resize`` ("square" |
            "shorter_side" | "auto"), ``multiple`` (int), ``mean`` and ``std``
            (3 floats each, for 0..1 input), ``interpolation`` ("bilinear" |
            "bicubic").

    Returns:
        (H, W) float32 relative disparity in the model's own units, finite.

    Raises:
        ValueError: if ``rgb`` is not (H, W, 3).
        ModelError: if the model fails, its output is not a single (h, w)
            map, or it has no finite value.
    """
    img = np.asarray(rgb, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    height, width = img.shape[:2]
    inp = session.get_inputs()[0]
    in_h, in_w = _model_input_size(getattr(inp, "shape", None), (height, width), spec)

    small = img
    if height > 2 * in_h or width > 2 * in_w:
        f = min(1.0, max(2.0 * in_h / height, 2.0 * in_w / width))
        sh, sw = max(in_h, int(round(height * f))), max(in_w, int(round(width * f)))
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    interp = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}.get(
        getattr(spec, "interpolation", "bilinear"), cv2.INTER_LINEAR
    )
    x = cv2.resize(small, (in_w, in_h), interpolation=interp)
    x = np.clip(x, 0.0, 1.0)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 1, 3)
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, 1, 3)
    x = ((x - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    x = np.ascontiguousarray(x)

    try:
        outputs = session.run(None, {inp.name: x})
    except Exception as exc:  # onnxruntime raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"depth model failed on a {in_w}x{in_h} input: {first}") from exc
    out = np.squeeze(np.asarray(outputs[0], dtype=np.float32))
    if out.ndim != 2:
        raise ModelError(f"depth model output has shape {np.shape(outputs[0])}, expected one (h, w) map")
    if not np.isfinite(out).any():
        raise ModelError("depth model output has no finite value")
    out = fill_holes(out)
    return upsample_disparity(out, img)


# --------------------------------------------------------------------------- #
# Matte fallback
# --------------------------------------------------------------------------- #


def disparity_from_matte(alpha: np.ndarray) -> np.ndarray:
    """Two-layer disparity from a subject matte (offline fallback).

    When no depth file, stereo pair or depth model is available, the scene is
    modelled as two planes: the background at disparity 0 and the subject at
    disparity 1, with the matte's soft edges as the transition. The matte is
    lightly smoothed (Gaussian, sigma = max(1, 0.002 * max(H, W)) px) so that
    a hard binary mask still gives a continuous map. Everything in the
    background is then equally blurred (no depth gradient).

    Args:
        alpha: (H, W) float matte, 0 = background, 1 = subject (values are
            clipped to 0..1; NaN counts as background).

    Returns:
        (H, W) float32 disparity 0..1 (relative units).

    Raises:
        ValueError: if ``alpha`` is not 2-D.
    """
    a = _as_2d_float(alpha, "matte")
    a = np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    sigma = max(1.0, 0.002 * max(a.shape))
    out = cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- #
# Depth and matte agree
# --------------------------------------------------------------------------- #

#: Matte alpha from which a pixel surely belongs to the subject.
MATTE_CONFIDENT = 0.9
#: Longest side of the copy on which the subject's smooth surface is solved.
_SUBJECT_WORK_SIDE = 512


def disparity_consistent_with_matte(
    disparity: np.ndarray,
    matte: np.ndarray,
    *,
    confident: float = MATTE_CONFIDENT,
    flatten: float = 0.5,
    sigma: float | None = None,
    spread: float = 2.5,
) -> np.ndarray:
    """Make the disparity inside the subject agree with the subject matte.

    A monocular model (or stereo matching) can give parts of the subject the
    depth of the background (thin parts, hair, the rim the model blurred
    across the silhouette) or noisy spikes; the matte knows better what
    belongs to the subject. Inside the matte the disparity is replaced by a
    robust, smooth subject surface, feathered by the matte's alpha:

    1. Robust subject statistics over the confident pixels
       (``matte >= confident``): median ``m`` and MAD ``s`` (scaled by
       1.4826, the standard deviation of a normal distribution); the subject
       range is ``m +- spread * s``, never narrower than the 25th..75th
       percentiles.
    2. Every disparity is clamped into that range, so background values
       and spikes inside the subject cannot pull the surface.
    3. Smooth subject surface: normalised convolution (Knutsson and
       Westin, CVPR 1993) of the clamped disparity with the matte as weight
       (pixels with alpha < 0.5 get no weight, so the background never
       leaks in), Gaussian ``sigma``; solved at most 512 px on the longer
       side and bilinearly upsampled (it is low-frequency by construction).
    4. Subject value ``v = (1 - flatten) * surface + flatten * m``; the
       output is ``d + alpha * (v - d)``: ``v`` where the matte is 1, the
       input where it is 0, a blend in the matte's soft (edge-refined) rim,
       so the depth edge follows the matte edge.

    Disparity outside the matte is unchanged (a surface can legitimately
    be nearer than the subject, e.g. the ground it stands on). With fewer
    confident pixels than ``max(16, 1e-4 * H * W)`` the input is returned
    unchanged (no subject to trust).

    Args:
        disparity: (H, W) float disparity (larger = nearer), any units;
            non-finite pixels inside the matte are taken from the subject
            surface, outside it they stay as they are.
        matte: (H, W) float subject alpha 0..1 (NaN counts as 0).
        confident: alpha from which a pixel surely belongs to the subject.
        flatten: 0 keeps the subject's smoothed depth relief, 1 makes the
            subject one plane at its median disparity.
        sigma: Gaussian sigma of the subject surface, pixels; default 2 %
            of the longer side.
        spread: half-width of the subject range in robust standard
            deviations.

    Returns:
        (H, W) float32 disparity in the input's units.

    Raises:
        ValueError: if the shapes differ, an array is not 2-D, or
            ``confident`` is not in (0, 1], ``flatten`` not in 0..1 or
            ``spread`` not > 0.
    """
    if not 0.0 < confident <= 1.0:
        raise ValueError(f"confident must be in (0, 1], got {confident}")
    if not 0.0 <= flatten <= 1.0:
        raise ValueError(f"flatten must be in 0..1, got {flatten}")
    if not spread > 0:
        raise ValueError(f"spread must be > 0, got {spread}")
    d = _as_2d_float(disparity, "disparity")
    a = _as_2d_float(matte, "matte")
    if a.shape != d.shape:
        raise ValueError(f"matte {a.shape} and disparity {d.shape} differ in shape")
    a = np.clip(a, 0.0, 1.0)  # +-inf -> 1 / 0
    a[np.isnan(a)] = 0.0
    finite = np.isfinite(d)
    core = (a >= confident) & finite
    if core.sum() < max(16, int(1e-4 * d.size)):
        return d.copy()

    vals = d[core]
    vals = vals[:: max(1, vals.size // 1_000_000)].astype(np.float64)  # a regular sample is plenty
    q25, med, q75 = np.percentile(vals, [25, 50, 75])
    mad = 1.4826 * float(np.median(np.abs(vals - med)))
    lo, hi = min(q25, med - spread * mad), max(q75, med + spread * mad)
    clamped = np.clip(np.where(finite, d, med), lo, hi).astype(np.float32)

    height, width = d.shape
    sig = float(sigma) if sigma is not None else max(1.0, 0.02 * max(height, width))
    weight = np.where(a >= 0.5, a, 0.0).astype(np.float32)
    scale = min(1.0, _SUBJECT_WORK_SIDE / float(max(height, width)))
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    num, den = weight * clamped, weight
    if scale < 1.0:
        num = cv2.resize(num, size, interpolation=cv2.INTER_AREA)
        den = cv2.resize(den, size, interpolation=cv2.INTER_AREA)
    s_work = max(0.5, sig * scale)
    num = cv2.GaussianBlur(num, (0, 0), s_work, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(den, (0, 0), s_work, borderType=cv2.BORDER_REFLECT)
    tiny = 1e-4 * float(den.max())
    surface = np.where(den > tiny, num / np.maximum(den, tiny), np.float32(med)).astype(np.float32)
    if scale < 1.0:
        surface = cv2.resize(surface, (width, height), interpolation=cv2.INTER_LINEAR)
    subject = (1.0 - flatten) * surface + np.float32(flatten * med)
    base = np.where(finite, d, subject)
    return np.where(a > 0, base + a * (subject - base), d).astype(np.float32)
