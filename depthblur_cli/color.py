"""sRGB <-> linear-light conversion.

Lens blur is a physical sum of light, so it must happen on linear values;
images are stored sRGB-encoded. Formulas: IEC 61966-2-1 (sRGB), see
https://en.wikipedia.org/wiki/SRGB#Transformation .
"""

from __future__ import annotations

import numpy as np


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Decode sRGB-encoded values to linear light.

    Args:
        srgb: float array of any shape (typically (H, W, 3)), values 0..1
            (values outside are clipped).

    Returns:
        float32 array, same shape, linear light 0..1.
    """
    x = np.clip(np.asarray(srgb, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear light to sRGB.

    Args:
        linear: float array of any shape, linear light; values are clipped
            to 0..1 first (highlights brighter than white saturate).

    Returns:
        float32 array, same shape, sRGB-encoded 0..1.
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear Rec.709/sRGB primaries.

    Args:
        linear_rgb: (H, W, 3) float, linear light.

    Returns:
        (H, W) float32 luminance, same units as the input.
    """
    w = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    return np.asarray(linear_rgb, dtype=np.float32) @ w
