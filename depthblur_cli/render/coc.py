"""From focus controls to a per-pixel circle of confusion (CoC).

A thin lens focused at disparity ``d_f`` images a point at disparity ``d``
as a disc of radius ``K * |d - d_f|`` pixels (the CoC is proportional to
the difference of inverse depths; see e.g. Potmesil and Chakravarty, "A Lens
and Aperture Camera Model for Synthetic Image Generation", SIGGRAPH 1981),
where ``K`` bundles aperture, focal length and sensor scale. Here the sign
is kept: > 0 nearer than the focal plane, < 0 farther.

Photoshop-style 0..100 controls are mapped onto that model:

- ``blur_strength`` s: the largest CoC in the image is ``s/100 * 3%`` of the
  longer image side (100 looks like a very fast lens).
- ``focal_range`` r: a band of half-width ``r/100 * 0.5`` (in normalised
  disparity, 0 = farthest, 1 = nearest) around the focus stays sharp.
- ``focal_distance`` f: focus at normalised disparity ``1 - f/100``
  (0 = nearest, 100 = farthest).
"""

from __future__ import annotations

import numpy as np

from depthblur_cli import threads
from depthblur_cli.options import schema

#: Largest CoC radius at blur strength 100, as a fraction of the longer side.
MAX_COC_FRACTION = 0.03


def max_coc_radius(blur_strength: float, longer_side: int) -> float:
    """Largest CoC radius in pixels for a Depth Blur "blur strength".

    Args:
        blur_strength: 0..100.
        longer_side: the image's longer side in pixels.

    Returns:
        radius in pixels, ``blur_strength/100 * 0.03 * longer_side``.
    """
    return float(np.clip(blur_strength, 0, 100)) / 100.0 * MAX_COC_FRACTION * longer_side


def focus_at_point(disparity: np.ndarray, x: float, y: float, *, window: float = 0.01) -> float:
    """Robust disparity around a point (Depth Blur's ``focalSelector``).

    Args:
        disparity: (H, W) float disparity, any units; NaN/inf are ignored.
        x, y: the point as fractions 0..1 of the width and height.
        window: half-size of the square window, fraction of the longer side
            (at least 2 pixels).

    Returns:
        the median disparity in the window, same units as ``disparity``.

    Raises:
        ValueError: if x or y is outside 0..1 or the window has no valid value.
    """
    schema.check("focal_point", (x, y), "focal point")
    h, w = disparity.shape
    half = max(2, round(window * max(h, w)))
    cx, cy = min(w - 1, round(x * (w - 1))), min(h - 1, round(y * (h - 1)))
    patch = disparity[max(0, cy - half) : cy + half + 1, max(0, cx - half) : cx + half + 1]
    valid = patch[np.isfinite(patch)]
    if valid.size == 0:
        raise ValueError("no valid depth around the focal point")
    return float(np.median(valid))


def focus_on_matte(disparity: np.ndarray, matte: np.ndarray) -> tuple[float, float]:
    """Focus disparity and depth extent of the subject given by a matte.

    Args:
        disparity: (H, W) float disparity, any units.
        matte: (H, W) float alpha 0..1 of the subject.

    Returns:
        (focus, half_extent): the median disparity of the subject's pixels
        (alpha > 0.5) and half the spread between their 10th and 90th
        percentiles, so a band of that half-width around the focus keeps
        the subject sharp. With fewer than 16 such pixels, the median of the
        whole image and 0.
    """
    weights = np.clip(matte, 0, 1).ravel()
    values = disparity.ravel()
    keep = (weights > 0.5) & np.isfinite(values)
    if keep.sum() < 16:
        finite = values[np.isfinite(values)]
        return float(np.median(finite)) if finite.size else 0.0, 0.0
    subject = values[keep]
    low, focus, high = np.percentile(subject, [10, 50, 90])
    return float(focus), float(max(high - focus, focus - low))


def signed_coc(
    disparity: np.ndarray,
    focus: float,
    scale: float,
    *,
    band: float = 0.0,
) -> np.ndarray:
    """Signed CoC radius in pixels: ``scale * (d - focus)``, minus a sharp band.

    Args:
        disparity: (H, W) float disparity (larger = nearer), any units.
        focus: disparity of the focal plane, same units.
        scale: pixels of CoC radius per unit of disparity (``K``).
        band: half-width, in disparity units, of the in-focus band around
            ``focus``; CoC grows from the band's edges.

    Returns:
        (H, W) float32, > 0 nearer than the focus, < 0 farther, 0 sharp.
    """
    disparity = np.atleast_1d(np.asarray(disparity))
    out: np.ndarray = np.empty(disparity.shape, np.float32)

    def work(y0: int, y1: int) -> None:  # elementwise, in strips of rows on the thread pool
        delta = np.subtract(disparity[y0:y1], np.float32(focus), dtype=np.float32)
        strip = np.abs(delta, out=out[y0:y1])
        strip -= np.float32(band)
        np.maximum(strip, 0.0, out=strip)
        strip *= np.float32(abs(scale))
        np.copysign(strip, delta if scale >= 0 else -delta, out=strip)
        strip += np.float32(0.0)  # -0.0 -> 0.0

    threads.for_each_strip(work, len(out), width=out.shape[1])
    return out


def scale_for_max_radius(focus: float, band: float, max_radius: float) -> float:
    """``K`` such that the extreme of normalised disparity (0 or 1) gets ``max_radius``.

    Args:
        focus: focus in normalised disparity 0..1.
        band: in-focus half-width, normalised disparity.
        max_radius: the largest CoC radius wanted, pixels.

    Returns:
        pixels of CoC per unit of normalised disparity (0 if nothing can blur).
    """
    reach = max(focus - band, 1.0 - focus - band)
    return max_radius / reach if reach > 1e-6 else 0.0
