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


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    k = 2 * radius + 1
    return cv2.boxFilter(x, cv2.CV_32F, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


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
        mean_i = _box(guide, radius)
        mean_p = _box(p, radius)
        var_i = _box(guide * guide, radius) - mean_i * mean_i
        cov_ip = _box(guide * p, radius) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return (_box(a, radius) * guide + _box(b, radius)).astype(np.float32)

    mean_i = _box(guide, radius)  # (H, W, 3)
    mean_p = _box(p, radius)  # (H, W)
    cov_ip = _box(guide * p[..., None], radius) - mean_i * mean_p[..., None]
    # 3x3 covariance of the guide in each window, plus eps * identity.
    ii = guide[..., :, None] * guide[..., None, :]  # (H, W, 3, 3)
    h, w = p.shape
    var_i = _box(ii.reshape(h, w, 9), radius).reshape(h, w, 3, 3)
    var_i -= mean_i[..., :, None] * mean_i[..., None, :]
    var_i += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var_i, cov_ip[..., None])[..., 0]  # (H, W, 3)
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    q = np.einsum("hwc,hwc->hw", _box(a, radius), guide) + _box(b, radius)
    return q.astype(np.float32)
