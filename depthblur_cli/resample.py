"""Bilinear enlargement of a reduced array, a strip of full-resolution rows at a time.

Reduced layers (a blurred background, guided-filter coefficients, a model's
matte) are enlarged to the photo's size only where they are used, strip by
strip, so no full-size temporary exists. Each strip holds exactly what
enlarging the whole array would give at those rows: pixel centres align as
in OpenCV's ``resize`` (full-resolution pixel ``x`` samples the reduced array
at ``(x + 0.5) * w / W - 0.5``), borders are replicated.
"""

from __future__ import annotations

import cv2
import numpy as np


def enlarge_rows(low: np.ndarray, size: tuple[int, int], y0: int, y1: int) -> np.ndarray:
    """Rows ``y0:y1`` of ``low`` enlarged bilinearly to ``size``.

    Args:
        low: (h, w) or (h, w, C) float32 or uint8 array (C <= 4), the
            reduced array.
        size: (H, W), the full-resolution shape it stands for (H >= h, W >= w
            are usual but not required).
        y0, y1: the full-resolution rows wanted, 0 <= y0 < y1 <= H.

    Returns:
        (y1 - y0, W[, C]) of ``low``'s dtype. When ``H / h`` and ``W / w`` are the same
        integer the rows are equal to ``cv2.resize(low, (W, H),
        interpolation=cv2.INTER_LINEAR)[y0:y1]``; otherwise they are
        interpolated by ``cv2.warpAffine`` (positions to 1/32 pixel).
    """
    h, w = low.shape[:2]
    H, W = size
    f = H // h
    if f >= 1 and f * h == H and f * w == W:
        if f == 1:
            return low[y0:y1]
        # The reduced rows these need, and one more on each side: cv2.resize of this window at the
        # same integer scale interpolates them exactly as it would the whole array.
        k0, k1 = max(0, y0 // f - 1), min(h, -(-y1 // f) + 1)
        window = cv2.resize(low[k0:k1], (W, (k1 - k0) * f), interpolation=cv2.INTER_LINEAR)
        return window[y0 - k0 * f : y1 - k0 * f]
    sx, sy = w / W, h / H
    to_low = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (y0 + 0.5) * sy - 0.5]])
    return cv2.warpAffine(
        low, to_low, (W, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
