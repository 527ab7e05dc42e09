"""Layered depth-of-field renderer (the core of ``bokeh`` and ``depth``).

Given a linear-light image and a per-pixel *signed* circle-of-confusion
radius (pixels; > 0 nearer than the focal plane, < 0 farther, 0 in focus),
the scene is split into depth layers at a ladder of signed radii. Each pixel
belongs to the two layers around its CoC with linear ("tent") weights, so
blur varies continuously with depth. Layers are rendered **back to front**
with **premultiplied alpha**:

1. Layer *k* holds the pixels at its depth (weight ``w_k``) and is
   *extended behind everything nearer* (weight ``cum_k - w_k``, where
   ``cum_k`` is the weight of this layer and all nearer ones) with colours
   filled in from the layer's own pixels by push-pull interpolation
   (Gortler et al., "The Lumigraph", SIGGRAPH 1996, Sec. 3.3). Where a
   nearer blurred layer becomes partly transparent, the background revealed
   behind it is that fill, never the foreground's colour.
2. The premultiplied colour and the coverage ``cum_k`` are convolved with
   the aperture kernel of the layer's radius (large radii at reduced
   resolution: the result is smooth at that scale, so the cost stays about
   proportional to the pixel count).
3. The layer is composited *over* what is behind it:
   ``out = C_k + (1 - A_k) * out`` (Porter and Duff, "Compositing Digital
   Images", SIGGRAPH 1984).

So a sharp subject never smears into the blurred background (it is not in
the background layers at all: no halo), and a blurred foreground spills
softly over a sharp background (partial occlusion). The scheme follows the
layered gather approaches surveyed in Barsky and Kosloff, "Algorithms for
Rendering Depth of Field Effects in Computer Graphics", WSEAS 2008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.color import luminance, srgb_to_linear
from depthblur_cli.render.kernels import Aperture, aperture_kernel

#: Radii (pixels) of the layer ladder; between two rungs a pixel is blurred
#: by a linear mix of the two radii. Spacing grows with the radius (~1.3x),
#: since large blurs differ less visibly.
_LADDER = (0.0, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 10.5, 14.0, 18.0, 23.0, 30.0, 38.0, 48.0, 61.0, 77.0, 97.0, 122.0, 154.0, 194.0, 245.0)

#: Largest kernel radius (pixels) convolved at full resolution; larger
#: radii are convolved on an image downscaled by a power of sqrt(2) so the
#: kernel radius stays between this and sqrt(2) times this (direct
#: convolution cost grows with the kernel's area).
_MAX_RADIUS_AT_SCALE = 12.0
#: Scale divisor at which the fill behind nearer layers is computed at least.
_FILL_SCALE = 4


@dataclass(frozen=True)
class Highlights:
    """Specular highlight boost applied before the blur.

    Real out-of-focus lights are far brighter than the clipped 1.0 a photo
    stores; boosting near-clipped pixels lets them bloom into bright bokeh
    discs instead of grey smudges (Photoshop Lens Blur: "specular highlights
    brightness" and "threshold").

    Attributes:
        gain: extra brightness multiplier at full clipping (0 = off); a pixel
            at or above ``threshold`` is multiplied by up to ``1 + gain``.
        threshold: sRGB-encoded luminance 0..1 above which the boost ramps in.
    """

    gain: float = 0.0
    threshold: float = 0.92


def boost_highlights(linear_rgb: np.ndarray, highlights: Highlights) -> np.ndarray:
    """Brighten near-clipped pixels so they bloom when blurred.

    Args:
        linear_rgb: (H, W, 3) float32, linear light 0..1.
        highlights: gain and threshold.

    Returns:
        (H, W, 3) float32 linear light, values may exceed 1.
    """
    if highlights.gain <= 0:
        return linear_rgb
    t = float(srgb_to_linear(np.float32(min(max(highlights.threshold, 0.0), 0.999))))
    ramp = np.clip((luminance(linear_rgb) - t) / max(1e-6, 1.0 - t), 0.0, 1.0)
    return linear_rgb * (1.0 + highlights.gain * ramp * ramp)[..., None]


def radius_ladder(max_radius: float) -> np.ndarray:
    """Unsigned layer radii from 0 up to at least ``max_radius``.

    Args:
        max_radius: the largest CoC radius in the image, pixels.

    Returns:
        1-D float32 array, increasing, starting at 0.
    """
    rungs = list(_LADDER)
    while rungs[-1] < max_radius:
        rungs.append(rungs[-1] * 1.26)
    n = next(i for i, r in enumerate(rungs) if r >= max_radius) + 1
    return np.asarray(rungs[: max(n, 2)], dtype=np.float32)


def signed_levels(signed_coc: np.ndarray) -> np.ndarray:
    """Signed layer radii covering the CoC range of an image, far to near.

    Args:
        signed_coc: (H, W) float32 signed CoC radius in pixels.

    Returns:
        1-D float32 array, increasing (farthest layer first), containing 0.
    """
    far = float(max(0.0, -signed_coc.min()))
    near = float(max(0.0, signed_coc.max()))
    far_rungs = radius_ladder(far)[1:] if far > 0 else np.zeros(0, np.float32)
    near_rungs = radius_ladder(near)[1:] if near > 0 else np.zeros(0, np.float32)
    return np.concatenate([-far_rungs[::-1], [0.0], near_rungs]).astype(np.float32)


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == size:
        return img
    return cv2.resize(img, size, interpolation=interpolation)


def push_pull_fill(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill every pixel with a colour interpolated from the weighted ones.

    Pull: build a pyramid of premultiplied colour and weight by 2x2
    averaging. Push: from the coarsest level down, each level keeps its own
    colour where its weight is 1 and takes the coarser level's colour where
    its weight is 0 (linear in between). Holes of any size are filled with
    a smooth extension of their surroundings. Source: Gortler et al., "The
    Lumigraph", SIGGRAPH 1996, Sec. 3.3.

    Args:
        premultiplied: (H, W, C) float32, colour multiplied by ``weight``.
        weight: (H, W) float32 in 0..1; 0 marks a hole.

    Returns:
        (H, W, C) float32, un-premultiplied colour everywhere (0 where the
        whole image has no weight).
    """
    levels = [(premultiplied, weight)]
    p, w = premultiplied, weight
    while min(w.shape) > 1:
        size = ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2)
        p = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
        levels.append((p, w))
    p, w = levels[-1]
    colour = p / np.maximum(w, 1e-8)[..., None]
    for p, w in reversed(levels[:-1]):
        up = _resize(colour, (w.shape[1], w.shape[0]), cv2.INTER_LINEAR)
        # Trust a partly covered coarse cell more than its raw weight: the
        # weight is an average over the cell, not a confidence.
        trust = np.clip(w * 2.0, 0.0, 1.0)[..., None]
        colour = trust * (p / np.maximum(w, 1e-8)[..., None]) + (1.0 - trust) * up
    return colour.astype(np.float32)


def working_scale(radius: float, kernel: str = "disc") -> float:
    """Downscale factor at which a blur of ``radius`` pixels is convolved.

    Args:
        radius: disc radius or Gaussian sigma, pixels.
        kernel: "disc" or "gaussian" (whose support is about 2.5 sigma).

    Returns:
        1 for small blurs, else a power of sqrt(2) such that the kernel
        radius at that scale is ``_MAX_RADIUS_AT_SCALE`` .. sqrt(2) times it.
    """
    extent = radius * (2.5 if kernel == "gaussian" else 1.0)
    if extent <= _MAX_RADIUS_AT_SCALE * math.sqrt(2):
        return 1.0
    return float(2.0 ** (math.floor(2.0 * math.log2(extent / _MAX_RADIUS_AT_SCALE)) / 2.0))


def convolve(image: np.ndarray, radius: float, *, kernel: str = "disc", aperture: Aperture = Aperture()) -> np.ndarray:
    """Convolve an image with the blur kernel of ``radius``, at its resolution.

    Args:
        image: (H, W) or (H, W, C) float32, C <= 4.
        radius: pixels; the aperture rim radius for ``kernel="disc"``, the
            standard deviation for ``kernel="gaussian"``.
        kernel: "disc" (the lens aperture, see ``aperture``) or "gaussian".
        aperture: iris shape for the disc kernel.

    Returns:
        float32, same shape, blurred; borders reflect.
    """
    if radius < 0.25:
        return image
    if kernel == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=radius, borderType=cv2.BORDER_REFLECT)
    return cv2.filter2D(image, -1, aperture_kernel(radius, aperture), borderType=cv2.BORDER_REFLECT)


def render_depth_of_field(
    linear_rgb: np.ndarray,
    signed_coc: np.ndarray,
    *,
    kernel: str = "disc",
    aperture: Aperture = Aperture(),
    highlights: Highlights = Highlights(),
    levels: np.ndarray | None = None,
) -> np.ndarray:
    """Render depth of field by layered, premultiplied, back-to-front blur.

    Args:
        linear_rgb: (H, W, 3) float32, **linear light** 0..1.
        signed_coc: (H, W) float32 signed circle-of-confusion radius in
            pixels: > 0 nearer than the focal plane, < 0 farther, 0 sharp.
            For ``kernel="gaussian"`` the magnitude is the Gaussian sigma.
        kernel: "disc" (lens aperture) or "gaussian".
        aperture: iris shape for the disc kernel.
        highlights: specular boost applied before blurring.
        levels: optional increasing signed radii of the layers (must span
            the CoC range); by default a ladder of about 1.3x steps. Passing
            exactly two levels, e.g. ``[-R, 0]``, with CoC ``-R * (1 - matte)``
            gives a two-layer subject/background render where the matte is
            the subject's alpha.

    Returns:
        (H, W, 3) float32 linear light (may exceed 1 where highlights were
        boosted; clip or tone-map when encoding).

    Raises:
        ValueError: on mismatched shapes or levels that do not span the CoC.
    """
    rgb = np.asarray(linear_rgb, dtype=np.float32)
    coc = np.asarray(signed_coc, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or coc.shape != rgb.shape[:2]:
        raise ValueError(f"expected (H, W, 3) image and (H, W) CoC, got {rgb.shape} and {coc.shape}")
    levels = signed_levels(coc) if levels is None else np.asarray(levels, dtype=np.float32)
    if levels.ndim != 1 or np.any(np.diff(levels) <= 0):
        raise ValueError("levels must be strictly increasing")
    if coc.min() < levels[0] - 1e-3 or coc.max() > levels[-1] + 1e-3:
        raise ValueError(f"levels {levels[0]}..{levels[-1]} do not span the CoC {coc.min()}..{coc.max()}")
    h, w = coc.shape
    rgb = boost_highlights(rgb, highlights)
    if len(levels) == 1:
        return rgb
    # Fractional layer index of every pixel: layer k holds weight
    # cum_k - cum_{k+1}, with cum_k = clip(t - k + 1, 0, 1) the weight of
    # layer k and everything nearer.
    t = np.interp(coc.ravel(), levels, np.arange(len(levels), dtype=np.float32)).astype(np.float32).reshape(h, w)
    out = np.zeros((h, w, 3), np.float32)
    full = (w, h)
    nearer = np.clip(t + 1.0, 0.0, 1.0)  # cum of layer 0: everything
    for k, level in enumerate(levels):
        cum = nearer
        # cum of the next layer = weight of everything nearer than this one,
        # i.e. where this layer is extended behind nearer layers.
        nearer = np.clip(t - k, 0.0, 1.0)
        weight = cum - nearer
        if not weight.any():
            continue
        radius = abs(float(level))
        scale = working_scale(radius, kernel)
        size = (max(1, round(w / scale)), max(1, round(h / scale)))
        # Weights are exact at full resolution; the layer is then built,
        # filled and blurred at its working scale.
        colour = rgb * weight[..., None]  # premultiplied
        colour_s = _resize(colour, size, cv2.INTER_AREA)
        cum_s = _resize(cum, size, cv2.INTER_AREA)
        if nearer.any():
            fill_size = size if scale >= _FILL_SCALE else (max(1, w // _FILL_SCALE), max(1, h // _FILL_SCALE))
            # Premultiplied before downscaling: a cell on the layer's edge
            # carries only this layer's colour into the fill.
            fill = push_pull_fill(
                _resize(colour, fill_size, cv2.INTER_AREA), _resize(weight, fill_size, cv2.INTER_AREA)
            )
            colour_s += _resize(fill, size, cv2.INTER_LINEAR) * _resize(nearer, size, cv2.INTER_AREA)[..., None]
        r = radius * size[0] / w
        blurred = _resize(convolve(colour_s, r, kernel=kernel, aperture=aperture), full, cv2.INTER_LINEAR)
        coverage = _resize(convolve(cum_s, r, kernel=kernel, aperture=aperture), full, cv2.INTER_LINEAR)
        out *= (1.0 - coverage)[..., None]
        out += blurred
    return out
