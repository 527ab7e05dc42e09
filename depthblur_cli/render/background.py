"""Gaussian background blur: a sharp subject over one blurred background layer.

The job of ``gaussian`` and ``rembg-blur`` (and of Photoroom's
``background.blur.mode = gaussian``): the subject, given by its matte, stays
exactly as it is, and everything behind it is blurred by one Gaussian. Two
layers are enough here, so this is a short, fast path beside the general
layered renderer (:mod:`~depthblur_cli.render.lens`):

1. **Background layer by normalised convolution** (Knutsson and Westin,
   "Normalized and Differential Convolution", CVPR 1993): the background's
   colour premultiplied by its coverage ``1 - alpha`` and the coverage itself
   are blurred, and divided. Each blurred background pixel is so an average
   of *background* pixels only: no subject colour reaches it (no halo), the
   background is extended behind the subject from its own surroundings, and
   the image border needs no padding rule (outside counts as coverage 0).
2. **Reduced resolution**: a Gaussian of sigma ``s`` pixels leaves no detail
   finer than about ``s``, so the layer is reduced by an integer factor
   ``f`` (block means, :data:`SIGMA_AT_REDUCTION`), blurred there with the
   sigma that, added to the block mean's and the bilinear enlargement's own
   spread, gives ``s`` at full resolution, and enlarged again strip by strip.
3. **Premultiplied composite** of the subject over it:
   ``out = alpha * rgb + (1 - alpha) * background``; where alpha is 1 the
   pixel is returned bit for bit.

The blur is applied to the sRGB-encoded values, as common editors' Gaussian
blur is (and as the APIs this reproduces do). Full resolution is only read
and written in strips of rows on the renderer's thread pool: besides the
output, no full-size array is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.resample import enlarge_rows

#: The reduction factor is chosen so that the Gaussian keeps at least this
#: sigma, in pixels of the reduced layer. At 4, on a 12 MP photo with sigma
#: 40 (reduced 10 times), the result differs from the full-resolution
#: normalised convolution by 0.01/255 on average and by over 1/255 at
#: 0.015 % of the pixels, all within 3 pixels of the image border (at most
#: 3.4/255 there); tests/render/test_background_blur.py checks 1/255 away from it.
SIGMA_AT_REDUCTION = 4.0

#: Weight of the whole background's mean colour in the normalised
#: convolution, so a pixel with no background within reach gets a defined
#: colour (it is covered by the subject there, or nearly).
_FALLBACK_WEIGHT = 1e-4


def reduction_for(sigma: float) -> int:
    """Integer reduction factor for a Gaussian of ``sigma`` full-resolution pixels (1 = none)."""
    return max(1, int(sigma // SIGMA_AT_REDUCTION))


def _reduced_sigma(sigma: float, f: int) -> float:
    """Sigma at the reduced resolution so that block mean, blur and bilinear enlargement give ``sigma``.

    A block mean of ``f`` pixels has variance ``(f^2 - 1) / 12`` and linear
    interpolation over ``f`` pixels about ``(f^2 - 1) / 6`` (full-resolution
    pixels squared); variances of successive blurs add.
    """
    if f == 1:
        return sigma
    return math.sqrt(max(sigma * sigma - (f * f - 1) / 4.0, 0.25 * f * f)) / f


def _reduce(rgb: np.ndarray, matte: np.ndarray, f: int) -> np.ndarray:
    """Block means of (rgb * (1 - alpha), 1 - alpha): (ceil(H/f), ceil(W/f), 4) float32 (colour 0..1).

    Blocks past the image's right and bottom edges are completed with
    coverage 0, so they average only the image's own pixels' contributions.
    """
    h, w = matte.shape
    hs, ws = -(-h // f), -(-w // f)
    low = np.empty((hs, ws, 4), np.float32)
    scale = np.float32(1.0 / 255.0 if rgb.dtype == np.uint8 else 1.0)
    rows_per_strip = threads.strip_rows(w, f)

    def work(y0: int, y1: int) -> None:
        buf = np.zeros((-(-(y1 - y0) // f) * f, ws * f, 4), np.float32)
        cover = np.subtract(1.0, np.clip(matte[y0:y1], 0.0, 1.0), dtype=np.float32)
        np.multiply(rgb[y0:y1], (cover * scale)[..., None], out=buf[: y1 - y0, :w, :3])
        buf[: y1 - y0, :w, 3] = cover
        low[y0 // f : y0 // f + buf.shape[0] // f] = (
            buf if f == 1 else cv2.resize(buf, (ws, buf.shape[0] // f), interpolation=cv2.INTER_AREA)
        )

    threads.for_each_strip(work, h, rows_per_strip)
    return low


def blurred_background(rgb: np.ndarray, matte: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """The blurred background layer at reduced resolution, by normalised convolution.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8.
        matte: (H, W) float32 subject alpha 0..1.
        sigma: Gaussian standard deviation in full-resolution pixels, > 0.

    Returns:
        ((ceil(H/f), ceil(W/f), 3) float32 sRGB 0..1, the reduction ``f``):
        block ``(i, j)`` covers full-resolution pixels ``[i*f, (i+1)*f)`` x
        ``[j*f, (j+1)*f)``.

    Source: normalised convolution, Knutsson and Westin, CVPR 1993.
    """
    f = reduction_for(sigma)
    s = _reduced_sigma(sigma, f)
    colour = normalised_convolution(
        _reduce(rgb, matte, f),
        lambda low: cv2.GaussianBlur(low, (0, 0), s, dst=low, borderType=cv2.BORDER_CONSTANT),
    )
    return np.clip(colour, 0.0, 1.0, out=colour), f


def normalised_convolution(low: np.ndarray, blur: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The colour of a layer blurred from its own pixels only: blurred colour / blurred weight.

    Args:
        low: (h, w, 4) float32: colour premultiplied by its weight in [..., :3],
            the weight (0..1) in [..., 3]; may be overwritten.
        blur: blurs such an array with borders of weight 0 and returns it
            (it may blur it in place).

    Returns:
        (h, w, 3) float32 colour. The whole layer's mean colour is added with
        a weight of :data:`_FALLBACK_WEIGHT`, so a pixel with no weight
        within the blur's reach gets a defined colour.

    Source: Knutsson and Westin, "Normalized and Differential Convolution", CVPR 1993.
    """
    total = float(low[..., 3].sum())
    mean = low[..., :3].sum(axis=(0, 1)) / total if total > 0 else np.full(3, 0.5)
    blurred = blur(low)
    colour = blurred[..., :3] + (mean * _FALLBACK_WEIGHT).astype(np.float32)
    colour /= blurred[..., 3:] + np.float32(_FALLBACK_WEIGHT)
    return colour


def gaussian_background_blur(
    rgb: np.ndarray, matte: np.ndarray, sigma: float, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Blur a photo's background with a Gaussian, keep its subject exactly, without halo.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8 0..255.
        matte: (H, W) float32 subject alpha 0..1 (clipped to it).
        sigma: Gaussian standard deviation in pixels, finite, > 0.
        out: (H, W, 3) float32 or uint8 array for the result (may be
            ``rgb`` itself), or None for a new one of ``rgb``'s dtype.

    Returns:
        (H, W, 3) sRGB, float32 0..1 or uint8 (rounded) as ``out``:
        ``alpha * rgb + (1 - alpha) * B`` with ``B`` the background blurred
        by normalised convolution; pixels with alpha 1 are ``rgb``'s, bit
        for bit. From uint8 to uint8, ``B`` is rounded to 8 bits and
        enlarged and composited in 8 bits (``cv2.blendLinear``): within 1.5
        levels of the float result.

    Raises:
        ValueError: ``sigma`` not finite and > 0.

    Source: normalised convolution, Knutsson and Westin, CVPR 1993; see the
    module docstring for the reduction.
    """
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")
    h, w = matte.shape
    background, f = blurred_background(rgb, matte, sigma)
    hs, ws = background.shape[:2]
    result = np.empty((h, w, 3), rgb.dtype if rgb.dtype == np.uint8 else np.float32) if out is None else out
    eight_bit = rgb.dtype == np.uint8 and result.dtype == np.uint8
    if eight_bit:  # blended in 8 bits by OpenCV: several times faster than the float expression
        background = np.rint(background * np.float32(255.0)).astype(np.uint8)

    def work(y0: int, y1: int) -> None:
        layer = enlarge_rows(background, (hs * f, ws * f), y0, y1)[:, :w]
        alpha = np.clip(matte[y0:y1], 0.0, 1.0)
        if eight_bit:
            # (a * rgb + (1 - a) * layer) / (1 + 1e-5), rounded: exactly rgb where a is 1.
            result[y0:y1] = cv2.blendLinear(rgb[y0:y1], np.ascontiguousarray(layer), alpha, 1.0 - alpha)
            return
        alpha = alpha[..., None]
        subject = alpha * to_float(rgb[y0:y1])  # before result's rows are written: ``out`` may be ``rgb``
        if result.dtype == np.uint8:
            layer = layer * (1.0 - alpha)
            layer += subject
            result[y0:y1] = np.rint(np.clip(layer, 0.0, 1.0, out=layer) * np.float32(255.0))
        else:
            np.multiply(layer, 1.0 - alpha, out=result[y0:y1])
            result[y0:y1] += subject

    threads.for_each_strip(work, h, threads.strip_rows(w, 4 * f))
    return result
