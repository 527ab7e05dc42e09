"""sRGB <-> linear-light conversion.

Lens blur is a physical sum of light, so it must happen on linear values;
images are stored sRGB-encoded. Formulas: IEC 61966-2-1 (sRGB), see
https://en.wikipedia.org/wiki/SRGB#Transformation .
"""

from __future__ import annotations

import cv2
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
    shape = x.shape
    x = x.reshape(-1, 1)  # OpenCV takes any length as one column
    curve = x + np.float32(0.055)
    curve *= np.float32(1.0 / 1.055)
    cv2.pow(curve, 2.4, dst=curve)  # vectorised, several times faster than numpy's power
    np.copyto(curve, x * np.float32(1.0 / 12.92), where=x <= np.float32(0.04045))
    return curve.reshape(shape)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear light to sRGB.

    Args:
        linear: float array of any shape, linear light; values are clipped
            to 0..1 first (highlights brighter than white saturate).

    Returns:
        float32 array, same shape, sRGB-encoded 0..1.
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    shape = x.shape
    x = x.reshape(-1, 1)
    curve = cv2.pow(x, 1.0 / 2.4)
    curve *= np.float32(1.055)
    curve -= np.float32(0.055)
    np.copyto(curve, x * np.float32(12.92), where=x <= np.float32(0.0031308))
    return curve.reshape(shape)


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear Rec.709/sRGB primaries.

    Args:
        linear_rgb: (H, W, 3) float, linear light.

    Returns:
        (H, W) float32 luminance, same units as the input.
    """
    w = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    return np.asarray(linear_rgb, dtype=np.float32) @ w
