"""Disparity values: holes, file values, normalisation, the matte fallback, agreement with the matte.

"Depth" in depthblur is always **disparity** (inverse depth: larger values are
nearer), a float32 (H, W) array that is finite everywhere once it leaves
:mod:`depthblur_cli.estimation`. Its sources are a depth file
(:func:`disparity_from_values`), a stereo pair
(:mod:`~depthblur_cli.estimation.stereo`), a monocular network
(:mod:`~depthblur_cli.estimation.monocular`) and, offline, the subject matte
alone (:func:`disparity_from_matte`); where a matte is available,
:func:`disparity_consistent_with_matte` makes the depth inside the subject
agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.imaging.arrays import one_channel
from depthblur_cli.resample import enlarge_rows


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


def as_2d_float(arr: np.ndarray, what: str) -> np.ndarray:
    """``arr`` as (H, W) float32 ((H, W, 1) squeezed). Raises ValueError naming ``what`` otherwise."""
    return one_channel(np.asarray(arr, dtype=np.float32), what)


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
    d = as_2d_float(disp, "disparity")
    invalid = ~np.isfinite(d)
    if not invalid.any():
        return d.copy()
    if invalid.all():
        raise ValueError("depth map has no valid (finite) pixel")
    # SciPy is imported here, not at the top: it costs 0.2 s of start-up that the
    # background-blur commands (which never fill holes) would otherwise pay on every run.
    from scipy import ndimage

    # EDT measures the distance to the nearest zero, i.e. to a valid pixel.
    idx = ndimage.distance_transform_edt(invalid, return_distances=False, return_indices=True)
    return d[idx[0], idx[1]].astype(np.float32)


def disparity_from_values(values: np.ndarray, kind: str, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
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
    v = as_2d_float(values, "depth map")
    if kind == "depth":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(np.isfinite(v) & (v > 0), 1.0 / v, np.nan).astype(np.float32)
    d = fill_holes(v)
    notes: list[str] = []
    height, width = int(shape[0]), int(shape[1])
    if d.shape != (height, width):
        notes.append(f"depth map is {d.shape[1]}x{d.shape[0]}, image is {width}x{height}: resized")
        d = cv2.resize(d, (width, height), interpolation=cv2.INTER_LINEAR)
    return d, notes  # float32 already (fill_holes): no second full-size copy


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
    d = as_2d_float(disp, "disparity")
    # Which strips of rows are all finite (on the pool): most maps are, and need no mask.
    all_finite = all(threads.map_strips(lambda y0, y1: bool(np.isfinite(d[y0:y1]).all()), len(d), width=d.shape[1]))
    values = d.reshape(-1).copy() if all_finite else d[np.isfinite(d)]
    if not values.size:
        return np.zeros(d.shape, np.float32)
    lo, hi = np.percentile(values, [low, high], overwrite_input=True)  # partitions its own copy
    del values
    span = float(hi - lo)
    if not span > 1e-12 * max(1.0, abs(float(hi))):
        return np.zeros(d.shape, np.float32)
    out = np.empty(d.shape, np.float32)  # the one full-size result, computed in strips on the pool

    def scale(y0: int, y1: int) -> None:
        # A map near float32's limits (+-3e38) overflows d - lo to inf: clipped to 1 below, as it should be.
        with np.errstate(over="ignore", invalid="ignore"):
            rows = np.subtract(d[y0:y1], lo, dtype=np.float32, out=out[y0:y1])
            rows *= np.float32(1.0 / span)
        np.clip(rows, 0.0, 1.0, out=rows)
        if not all_finite:
            rows[~np.isfinite(d[y0:y1])] = 0.0

    threads.for_each_strip(scale, len(d), width=d.shape[1])
    return out


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
    a = as_2d_float(alpha, "matte")
    a = np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    sigma = max(1.0, 0.002 * max(a.shape))
    out = cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


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
    d = as_2d_float(disparity, "disparity")
    matte = as_2d_float(matte, "matte")
    if matte.shape != d.shape:
        raise ValueError(f"matte {matte.shape} and disparity {d.shape} differ in shape")
    height, width = d.shape
    # The maps are read in strips of rows on the pool: only the result is full-size (and, for a
    # moment, the two planes the subject's surface is reduced from).
    vals = np.concatenate(
        threads.map_strips(lambda y0, y1: _confident(d, matte, y0, y1, confident), height, width=width)
    )
    if vals.size < max(16, int(1e-4 * d.size)):
        return d.copy()
    vals = vals[:: max(1, vals.size // 1_000_000)].astype(np.float64)  # a regular sample is plenty
    q25, med, q75 = np.percentile(vals, [25, 50, 75])
    mad = 1.4826 * float(np.median(np.abs(vals - med)))
    lo, hi = min(q25, med - spread * mad), max(q75, med + spread * mad)
    del vals

    sig = float(sigma) if sigma is not None else max(1.0, 0.02 * max(height, width))
    scale = min(1.0, _SUBJECT_WORK_SIDE / float(max(height, width)))
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    num, den = _weighted_subject(d, matte, float(med), lo, hi, size)
    s_work = max(0.5, sig * scale)
    num = cv2.GaussianBlur(num, (0, 0), s_work, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(den, (0, 0), s_work, borderType=cv2.BORDER_REFLECT)
    tiny = 1e-4 * float(den.max())
    surface = np.where(den > tiny, num / np.maximum(den, tiny), np.float32(med)).astype(np.float32)
    out = np.empty((height, width), np.float32)

    def blend(y0: int, y1: int) -> None:
        rows = d[y0:y1]
        a = _alpha(matte, y0, y1)
        level = enlarge_rows(surface, (height, width), y0, y1) if scale < 1.0 else surface[y0:y1]
        subject = (1.0 - flatten) * level + np.float32(flatten * med)
        base = np.where(np.isfinite(rows), rows, subject)
        out[y0:y1] = np.where(a > 0, base + a * (subject - base), rows)

    threads.for_each_strip(blend, height, width=width)
    return out


def _alpha(matte: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Rows of a matte as alpha 0..1 (+-inf -> 1 / 0, NaN -> 0)."""
    a = np.clip(matte[y0:y1], 0.0, 1.0)
    a[np.isnan(a)] = 0.0
    return a


def _confident(d: np.ndarray, matte: np.ndarray, y0: int, y1: int, confident: float) -> np.ndarray:
    """The finite disparities of rows ``y0:y1`` where the matte is at least ``confident``."""
    rows = d[y0:y1]
    return rows[(_alpha(matte, y0, y1) >= confident) & np.isfinite(rows)]


def _weighted_subject(
    d: np.ndarray, matte: np.ndarray, med: float, lo: float, hi: float, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha x clamped disparity, alpha) where alpha >= 0.5 (else 0), area-reduced to ``size`` = (w, h).

    Non-finite disparities count as ``med``; all are clamped to ``lo .. hi``.
    """
    height, width = d.shape
    num = np.empty((height, width), np.float32)
    den = np.empty((height, width), np.float32)

    def weigh(y0: int, y1: int) -> None:
        rows = d[y0:y1]
        a = _alpha(matte, y0, y1)
        np.copyto(den[y0:y1], np.where(a >= 0.5, a, np.float32(0.0)))
        clamped = np.clip(np.where(np.isfinite(rows), rows, np.float32(med)), lo, hi).astype(np.float32)
        np.multiply(den[y0:y1], clamped, out=num[y0:y1])

    threads.for_each_strip(weigh, height, width=width)
    if size == (width, height):
        return num, den
    return cv2.resize(num, size, interpolation=cv2.INTER_AREA), cv2.resize(den, size, interpolation=cv2.INTER_AREA)


#: Percentile of the background's disparity the subject is lifted to at least.
SUBJECT_FRONT_PERCENTILE = 95.0


def disparity_with_subject_in_front(disparity: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """A weak depth network's disparity with the matte's subject made one surface in front of the background.

    The offline depth (the bundled FastDepth) orders the background
    plausibly but can put the subject behind it (on ``chelsea.png`` its
    median lies below the background's). The matte knows the subject:

    1. the disparity is normalised to 0..1 (:func:`normalize_disparity`);
    2. inside the matte it becomes one plane at the subject's median
       (:func:`disparity_consistent_with_matte` with ``flatten=1``): the
       network's relief inside the subject is not to be trusted, and a
       subject in focus is sharp all over;
    3. the subject is lifted, by the matte's alpha, so that its median is at
       least the background's :data:`SUBJECT_FRONT_PERCENTILE` th percentile
       (background: alpha < 0.1).

    Measured on the Middlebury motorcycle pair against its ground truth
    (Spearman, share of pixels off by more than 4 px after a least-squares
    scale and shift): FastDepth alone 0.780 / 57.9 %, with this 0.851 /
    47.1 %, the matte's two layers alone 0.251 / 77.7 %.

    Args:
        disparity: (H, W) float disparity (larger = nearer), any units, finite.
        matte: (H, W) float subject alpha 0..1.

    Returns:
        (H, W) float32 disparity 0..1 (subject lifted above it where needed);
        the normalised input where the matte has no confident subject.

    Raises:
        ValueError: if the shapes differ or an array is not 2-D.
    """
    consistent = disparity_consistent_with_matte(normalize_disparity(disparity), matte, flatten=1.0)
    m = as_2d_float(matte, "matte")
    if m.shape != consistent.shape:
        raise ValueError(f"matte {m.shape} and disparity {consistent.shape} differ in shape")

    def values(y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        """The subject's (alpha >= MATTE_CONFIDENT) and the background's (alpha < 0.1) values in these rows."""
        a = np.clip(m[y0:y1], 0.0, 1.0)
        rows = consistent[y0:y1]
        return rows[a >= MATTE_CONFIDENT], rows[a < 0.1]

    parts = threads.map_strips(values, len(m), width=m.shape[1])
    core, background = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    del parts
    if core.size < max(16, int(1e-4 * m.size)) or not background.size:
        return consistent
    lift = max(0.0, float(np.percentile(background, SUBJECT_FRONT_PERCENTILE) - np.median(core)))
    del core, background

    def raise_subject(y0: int, y1: int) -> None:
        consistent[y0:y1] += np.clip(m[y0:y1], 0.0, 1.0) * np.float32(lift)

    threads.for_each_strip(raise_subject, len(m), width=m.shape[1])
    return consistent
