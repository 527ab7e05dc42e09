"""sRGB <-> linear-light conversion.

Lens blur is a physical sum of light, so it must happen on linear values;
images are stored sRGB-encoded. Formulas: IEC 61966-2-1 (sRGB), see
https://en.wikipedia.org/wiki/SRGB#Transformation .
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads

#: Values converted per step: bounds the temporaries of a 24 MP image.
_CHUNK = 1 << 20


def _convert(values: np.ndarray, convert_chunk, copy: bool) -> np.ndarray:
    """Apply ``convert_chunk`` chunk by chunk to a float32 copy of ``values`` (or to ``values`` itself).

    The chunks of a large array are converted on the thread pool
    (:mod:`depthblur_cli.threads`): each is independent, so the result is the same.
    """
    if copy or not (isinstance(values, np.ndarray) and values.dtype == np.float32 and values.flags.c_contiguous):
        values = np.array(values, dtype=np.float32)
    out = values
    flat = out.reshape(-1)

    def convert(start: int) -> None:
        convert_chunk(flat[start : start + _CHUNK].reshape(-1, 1))  # OpenCV takes a column of any length

    for _ in threads.in_order(convert, list(range(0, flat.size, _CHUNK)), threads.THREADS):
        pass
    return out


def _decode_chunk(x: np.ndarray) -> None:
    np.clip(x, 0.0, 1.0, out=x)
    low = x <= np.float32(0.04045)
    linear_low = x[low] * np.float32(1.0 / 12.92)
    x += np.float32(0.055)
    x *= np.float32(1.0 / 1.055)
    cv2.pow(x, 2.4, dst=x)  # vectorised, several times faster than numpy's power
    x[low] = linear_low


def _encode_chunk(x: np.ndarray) -> None:
    np.clip(x, 0.0, 1.0, out=x)
    low = x <= np.float32(0.0031308)
    encoded_low = x[low] * np.float32(12.92)
    cv2.pow(x, 1.0 / 2.4, dst=x)
    x *= np.float32(1.055)
    x -= np.float32(0.055)
    x[low] = encoded_low


def srgb_to_linear(srgb: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Decode sRGB-encoded values to linear light.

    Args:
        srgb: float array of any shape (typically (H, W, 3)), values 0..1
            (values outside are clipped).
        copy: False converts a C-contiguous float32 array in place (saves
            a full-size copy; the input is then the output).

    Returns:
        float32 array, same shape, linear light 0..1.
    """
    return _convert(srgb, _decode_chunk, copy)


_SRGB8_LUT: np.ndarray | None = None


def srgb8_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Decode 8-bit sRGB values to linear light by table lookup.

    Args:
        srgb: uint8 array of any shape (typically (H, W, 3)), 0..255.

    Returns:
        float32 array, same shape, linear light 0..1: bit for bit what
        :func:`srgb_to_linear` gives for ``value * float32(1 / 255)``, several
        times faster.
    """
    global _SRGB8_LUT
    if _SRGB8_LUT is None:
        _SRGB8_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)).reshape(1, 256)
    values = np.asarray(srgb, dtype=np.uint8)
    if values.ndim == 3 and values.shape[2] in (3, 4) and values.size:
        return cv2.LUT(values, _SRGB8_LUT)  # (H, W, C): OpenCV's table lookup, 4-5x NumPy's indexing
    return _SRGB8_LUT[0][values]


def decode_srgb(srgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded pixels, uint8 0..255 (by :func:`srgb8_to_linear`) or float 0..1 (by
    :func:`srgb_to_linear`), in linear light 0..1: a new float32 array of the same shape."""
    return srgb8_to_linear(srgb) if srgb.dtype == np.uint8 else srgb_to_linear(srgb)


def linear_to_srgb(linear: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Encode linear light to sRGB.

    Args:
        linear: float array of any shape, linear light; values are clipped
            to 0..1 first (highlights brighter than white saturate).
        copy: False converts a C-contiguous float32 array in place.

    Returns:
        float32 array, same shape, sRGB-encoded 0..1.
    """
    return _convert(linear, _encode_chunk, copy)


def linear_to_srgb8(linear: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Encode linear light to 8-bit sRGB into ``out``, rounded.

    The values :func:`linear_to_srgb` and then
    :func:`~depthblur_cli.imaging.pixels.quantize` give (NaN -> 0), without
    a second float array: ``linear`` is encoded in place.

    Args:
        linear: float32 C-contiguous array, linear light (clipped to 0..1);
            overwritten.
        out: uint8 array of the same shape.

    Returns:
        ``out``.
    """
    linear_to_srgb(linear, copy=False)
    np.nan_to_num(linear, copy=False, nan=0.0)
    linear *= np.float32(255.0)
    np.rint(linear, out=linear)
    np.copyto(out, linear, casting="unsafe")
    return out


#: Rec. 709 luma weights of linear R, G, B, as a 1x3 matrix for ``cv2.transform``.
_LUMA = np.array([[0.2126, 0.7152, 0.0722]], dtype=np.float32)


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear Rec.709/sRGB primaries.

    Args:
        linear_rgb: (H, W, 3) float, linear light.

    Returns:
        (H, W) float32 luminance, same units as the input.
    """
    rgb = np.asarray(linear_rgb, dtype=np.float32)
    if rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size:
        return cv2.transform(np.ascontiguousarray(rgb), _LUMA)  # one pass, SIMD
    return rgb @ _LUMA[0]
