"""Pixel values between their stored and their working forms: 8/16-bit integers and float32 0..1.

Photos are decoded to uint8 (8-bit files) or float32 0..1; the renderer works
in float32 0..1 strip by strip; outputs are rounded back to 8 or 16 bits.
"""

from __future__ import annotations

import numpy as np

from depthblur_cli import threads


def to_float(values: np.ndarray) -> np.ndarray:
    """uint8 0..255 values (any shape) as float32 0..1, in one pass; others as C-contiguous float32.

    Float values are not checked or rescaled (:func:`depthblur_cli.imaging.arrays.float_rgb` checks them).
    """
    if values.dtype == np.uint8:
        return np.multiply(values, np.float32(1.0 / 255.0), dtype=np.float32)
    return np.ascontiguousarray(values, dtype=np.float32)


#: Rows converted per step by :func:`quantize` (bounds its temporaries).
_QUANTIZE_ROWS = 256


def quantize(values: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Round 0..1 floats to 8- or 16-bit integers, strips of rows on the thread pool.

    Equal to ``np.round(np.clip(np.nan_to_num(values, nan=0), 0, 1) * max)``
    cast to ``dtype``, without its four full-size float temporaries (a
    24-megapixel RGB image would need over 1 GB of them).

    Args:
        values: (H, W) or (H, W, C) float array, nominally 0..1; NaN -> 0,
            values outside 0..1 are clipped.
        dtype: ``np.uint8`` (0..255) or ``np.uint16`` (0..65535).

    Returns:
        Array of ``dtype``, same shape.
    """
    top = float(np.iinfo(dtype).max)
    out = np.empty(values.shape, dtype)

    def work(y0: int, y1: int) -> None:
        strip = np.nan_to_num(np.asarray(values[y0:y1], np.float32), nan=0.0, copy=True)
        np.clip(strip, 0.0, 1.0, out=strip)
        strip *= np.float32(top)
        np.rint(strip, out=strip)
        out[y0:y1] = strip

    threads.for_each_strip(work, values.shape[0], _QUANTIZE_ROWS)
    return out


#: A decoded photo's pixels: (H, W, 3) RGB (uint8, or float32 0..1), (H, W) float32 alpha 0..1 or
#: None, its bit depth (8 or 16), and whether it is gray.
Decoded = tuple[np.ndarray, "np.ndarray | None", int, bool]
