"""Guided upsampling of a low-resolution disparity map to the photo.

Depth edges are snapped to colour edges, then the fast guided filter (He and
Sun 2015, https://arxiv.org/abs/1505.00996) restores sub-pixel edges at a
cost linear in the photo's pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.estimation.disparity import as_2d_float
from depthblur_cli.estimation.guided_filter import ColourGuide, box_filter
from depthblur_cli.imaging.arrays import rgb_shape
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.resample import enlarge_rows

#: Working resolution (pixels) of the fast guided filter: the coefficients are
#: solved at about this many pixels and bilinearly upsampled to the photo.
GUIDED_WORK_PIXELS = 2_000_000


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
       full-resolution photo strip by strip
       (:func:`~depthblur_cli.resample.enlarge_rows`), which restores
       sub-pixel edges (hair) at a cost linear in the photo's pixels.

    Args:
        disp_lowres: (h, w) float disparity, any units, finite.
        guide_rgb: (H, W, 3) float32 sRGB 0..1, or uint8 (read as value /
            255), the photo.
        eps: guided-filter regularisation in squared guide units (sRGB 0..1).
        work_pixels: largest pixel count of the working resolution.

    Returns:
        (H, W) float32 disparity in the units of ``disp_lowres``.

    Raises:
        ValueError: if the guide is not (H, W, 3) or the disparity not 2-D.
    """
    guide = np.asarray(guide_rgb)
    if guide.dtype != np.uint8:
        guide = guide.astype(np.float32, copy=False)
    rgb_shape(guide, "guide")
    d = as_2d_float(disp_lowres, "disparity")
    height, width = guide.shape[:2]
    scale = min(1.0, float(np.sqrt(work_pixels / float(height * width))))
    wh, ww = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    full = (wh, ww) == (height, width)
    # (a float copy of an 8-bit guide lives only while it is reduced)
    g_work = to_float(guide) if full else cv2.resize(to_float(guide), (ww, wh), interpolation=cv2.INTER_AREA)
    shrink = d.shape[0] > wh or d.shape[1] > ww
    p_work = cv2.resize(d, (ww, wh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    # Scale-invariant in the disparity units: work on a 0..1 copy.
    lo, hi = float(p_work.min()), float(p_work.max())
    span = hi - lo if hi > lo else 1.0
    p_work = (p_work - lo) / span
    band = int(round(max(ww / d.shape[1], wh / d.shape[0])))
    p_work = _snap_depth_edges(p_work, g_work, band)
    coefs, q = ColourGuide(g_work, 1, eps).coefficients(p_work)
    del g_work
    # b and the three a's, enlarged and applied to the photo a strip of rows at a time on the pool:
    # no full-size temporary besides the result.
    planes = np.ascontiguousarray(np.stack([q, coefs[0], coefs[1], coefs[2]], axis=-1), dtype=np.float32)
    out = np.empty((height, width), np.float32)

    def work(y0: int, y1: int) -> None:
        up = enlarge_rows(planes, (height, width), y0, y1)
        g = to_float(guide[y0:y1])
        rows = up[..., 0] + up[..., 1] * g[..., 0]
        rows += up[..., 2] * g[..., 1]
        rows += up[..., 3] * g[..., 2]
        np.multiply(rows, np.float32(span), out=out[y0:y1])
        out[y0:y1] += np.float32(lo)

    threads.for_each_strip(work, height, width=width)
    return out
