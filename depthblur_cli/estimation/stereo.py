"""Disparity of a rectified stereo pair: semi-global matching, left-right check, filling, smoothing.

OpenCV's semi-global matcher (Hirschmuller, "Stereo Processing by Semiglobal
Matching and Mutual Information", IEEE TPAMI 2008,
https://doi.org/10.1109/TPAMI.2007.1166), a left-right consistency check,
occlusion filling with the background and a guided weighted median (Ma et
al., ICCV 2013). Results are in pixels of disparity at the input resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli.estimation.disparity import as_2d_float, fill_holes
from depthblur_cli.estimation.guided_filter import ColourGuide
from depthblur_cli.estimation.upsample import upsample_disparity
from depthblur_cli.imaging.arrays import rgb_shape

#: Stereo pairs above this many pixels are matched at a reduced size.
STEREO_MAX_PIXELS = 1_500_000


def _check_pair(left_rgb: np.ndarray, right_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left = np.asarray(left_rgb, dtype=np.float32)
    right = np.asarray(right_rgb, dtype=np.float32)
    rgb_shape(left, "left image")
    if right.shape != left.shape:
        raise ValueError(f"stereo images differ in size: left {left.shape}, right {right.shape}")
    return left, right


def _default_num_disparities(width: int) -> int:
    return max(16, -(-int(np.ceil(width / 8.0)) // 16) * 16)


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _sgbm_raw(left_rgb: np.ndarray, right_rgb: np.ndarray, num_disparities: int | None = None) -> np.ndarray:
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
    matcher = cv2.StereoSGBM.create(
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
    d = as_2d_float(disp, "disparity")
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
