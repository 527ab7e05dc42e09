"""Checks of the arrays the library's image functions take, with one-line errors.

A uint8 photo passed where float sRGB 0..1 is expected would be read as
values up to 255 and give garbage; these checks refuse it with a message
that says what to pass instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Arrays larger than this (elements) are checked on every third row and column.
_SAMPLE_ABOVE = 1 << 20


def one_channel(values: np.ndarray, name: str, error: Callable[[str], Exception] = ValueError) -> np.ndarray:
    """``values`` as a non-empty (H, W) array: 2-D as it is, (H, W, 1) squeezed (no copy, dtype kept).

    Args:
        values: a per-pixel map (a depth map, a disparity, a mask).
        name: the argument's name, for the message.
        error: builds the exception from the message (default ValueError).

    Raises:
        ValueError (or what ``error`` builds): any other shape, or empty:
            "NAME must be a non-empty (H, W) array, got shape (H, W, 3)".
    """
    arr = np.asarray(values)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise error(f"{name} must be a non-empty (H, W) array, got shape {np.shape(values)}")
    return arr


def rgb_shape(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """``rgb`` as it is, once its shape is a non-empty (H, W, 3) (dtype and values not checked).

    Raises:
        ValueError: "NAME must be a non-empty (H, W, 3) array, got shape (H, W)".
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (H, W, 3) array, got shape {rgb.shape}")
    return rgb


def float_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """``rgb`` as an (H, W, 3) float32 array, checked.

    Args:
        rgb: (H, W, 3) floating-point array, values 0..1 (sRGB-encoded or
            linear, as the caller documents).
        name: the argument's name, for the message.

    Returns:
        float32 (H, W, 3), the input itself when it already is one.

    Raises:
        ValueError: not (H, W, 3), empty, not a floating-point dtype (e.g.
            uint8: divide by 255 first), or values far outside 0..1 or not
            finite (large arrays: checked on every third row and column).
    """
    arr = rgb_shape(np.asarray(rgb), name)
    _check_float(arr, name)
    return np.asarray(arr, dtype=np.float32)


def rgb_pixels(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """``rgb`` as (H, W, 3) uint8 0..255 (returned as it is) or float32 0..1 (as :func:`float_rgb`).

    Raises:
        ValueError: see :func:`float_rgb`.
    """
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.shape[0] and arr.shape[1]:
        return arr
    return float_rgb(arr, name)


def unit_map(values: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """A per-pixel map in 0..1 (a matte), as (H, W) float32, checked.

    Args:
        values: (H, W) floating-point array, values 0..1.
        shape: the (H, W) it must have.
        name: the argument's name, for the message.

    Raises:
        ValueError: wrong shape, not floating point, or values outside 0..1.
    """
    arr = np.asarray(values)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    _check_float(arr, name)
    return np.asarray(arr, dtype=np.float32)


def _check_float(arr: np.ndarray, name: str) -> None:
    if not np.issubdtype(arr.dtype, np.floating):
        hint = (
            " (divide a uint8 image by 255, or pass it to depthblur_cli's one-call functions)"
            if arr.dtype == np.uint8
            else ""
        )
        raise ValueError(f"{name} must be floating point 0..1, got dtype {arr.dtype}{hint}")
    if arr.size:
        # A regular sample of a large image tells 0..255 from 0..1 just as well, 9x cheaper.
        sample = arr[::3, ::3] if arr.size > _SAMPLE_ABOVE else arr
        lo, hi = float(np.min(sample)), float(np.max(sample))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name} holds NaN or infinite values")
        if lo < -0.01 or hi > 1.01:
            raise ValueError(f"{name} must hold values in 0..1, got {lo:g}..{hi:g}")
