"""Bokeh background blur: a sharp subject over one disc-blurred background layer, in linear light.

The job of ``bokeh`` (and of Photoroom's ``background.blur.mode = bokeh``):
the subject, given by its matte, stays as it is, and everything behind it
is blurred by the lens aperture at one CoC radius. The layered renderer
(:mod:`~depthblur_cli.render.lens`) does this with two levels, but its
machinery (the depth-aware pyramid, layers, their fill and stacks) is for
many depths; with two it is a short path beside it, as
:mod:`~depthblur_cli.render.background` is for the Gaussian. The same parts
as the layered renderer's are used for what matters to the look:

1. **Lights** (:mod:`~depthblur_cli.render.lights`): small clipped blobs
   are taken out and splatted at full resolution with the aperture of
   their own CoC, so a point light is a crisp disc holding its energy.
2. **Mixed pixels** at the subject's edge (:mod:`~depthblur_cli.render.edges`):
   in a thin band at a real edge, where the two sides' colours clearly
   differ, an edge pixel's background share gets the local background
   colour, so no subject colour reaches the blur, and its subject share
   stays sharp; any other partial pixel is a smooth mix of the two layers.
3. **Background layer by normalised convolution** (Knutsson and Westin,
   "Normalized and Differential Convolution", CVPR 1993): the linear
   colour premultiplied by the background weight ``1 - alpha``, and the
   weight itself, are reduced by block means by ``f`` (a power of two with
   at least :data:`~depthblur_cli.render.levels.KERNEL_RADIUS_FEW_LEVELS`
   pixels of kernel radius left, as the layered renderer reduces a level),
   convolved with the aperture kernel, and divided: each blurred background
   pixel is an average of background pixels only (no halo), extended behind
   the subject from its surroundings. Enlarged bilinearly strip by strip.
4. **Premultiplied composite** in linear light: ``out = subject part +
   (1 - coverage) * (background + lights)``, encoded to sRGB strip by
   strip. A pixel wholly of the subject is returned bit for bit.

Full resolution is read twice, in strips of rows on the thread pool (the
edge split found in the first pass is kept, sparse, for the second): no
full-size float temporary exists, only the (H, W) CoC of the lights and the
output.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.colour import decode_srgb, linear_to_srgb, linear_to_srgb8
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.render.background import normalised_convolution
from depthblur_cli.render.edges import RADIUS as EDGE_RADIUS
from depthblur_cli.render.edges import EdgeSplit, find_edge_split, split_parts
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture, aperture_kernel
from depthblur_cli.render.lens import MAX_LIGHT_COC, MIN_REDUCED_SIDE
from depthblur_cli.render.levels import KERNEL_RADIUS_FEW_LEVELS, LevelIndex, hat_weight_into, reduction_for_radius
from depthblur_cli.render.lights import Lights, find_lights
from depthblur_cli.resample import enlarge_rows

#: Level index of the subject (the background's is 0): the matte is the index.
_FOCAL = 1


def background_reduction(radius: float, shape: tuple[int, int]) -> int:
    """The power-of-two reduction at which the background of a (H, W) image is blurred by a disc of ``radius`` px.

    As the layered renderer reduces a blurred level of a two-level render:
    at least 2, the kernel keeping :data:`KERNEL_RADIUS_FEW_LEVELS` pixels
    of radius, the reduced image :data:`~depthblur_cli.render.lens.MIN_REDUCED_SIDE`.
    """
    cap = 2 ** max(1, int(math.floor(math.log2(max(2, min(shape) // MIN_REDUCED_SIDE)))))
    return max(2, min(reduction_for_radius(radius, "disc", KERNEL_RADIUS_FEW_LEVELS), cap))


class _Reader:
    """The photo's rows in linear light, lights filled with their background; the matte as level index.

    The index is the layered renderer's for the CoC ``-radius * (1 - alpha)``
    on the levels ``[-radius, 0]`` (:class:`~depthblur_cli.render.levels.LevelIndex`):
    alpha, but 0 where the CoC is within 1/32 px of the background's and 1
    where it is within :data:`~depthblur_cli.render.levels.IN_FOCUS_COC` of
    0, so the model's faint noise (alpha 1e-6 over the background) is not
    taken for a mixed edge pixel.
    """

    def __init__(self, rgb: np.ndarray, srgb: bool, matte: np.ndarray, radius: float, lights: Lights | None) -> None:
        self.rgb, self.srgb, self.matte, self.radius, self.lights = rgb, srgb, matte, radius, lights
        self.index = LevelIndex(np.array([-radius, 0.0], np.float32))

    def rows(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        """((n, W, 3) float32 linear colour, (n, W) float32 level index 0..1) of rows ``y0:y1``."""
        rgb = self.rgb[y0:y1]
        if self.srgb or rgb.dtype == np.uint8:
            colour = decode_srgb(rgb)
        else:
            colour = rgb.copy() if self.lights is not None else rgb  # the caller's pixels are never written
        if self.lights is not None:
            self.lights.fill_rows(colour, y0)
        return colour, self.index(_signed_coc(self.matte[y0:y1], self.radius))


def _background_layer(
    reader: _Reader, shape: tuple[int, int], f: int, splits: dict[int, EdgeSplit | None], rows_per_strip: int
) -> np.ndarray:
    """Block means of (linear colour x background weight, background weight): (ceil(H/f), ceil(W/f), 4) float32.

    Finds and keeps each strip's edge split on the way (``splits``, by the
    strip's first row). Blocks past the right and bottom edges are completed
    with weight 0.
    """
    h, w = shape
    hs, ws = -(-h // f), -(-w // f)
    low = np.empty((hs, ws, 4), np.float32)

    def work(y0: int, y1: int) -> None:
        a, b = max(0, y0 - EDGE_RADIUS), min(h, y1 + EDGE_RADIUS)
        colour, index = reader.rows(a, b)
        core = slice(y0 - a, y1 - a)
        split = find_edge_split(colour, index, _FOCAL, core)
        splits[y0] = split
        # The background's share of each pixel; a split pixel is wholly background, of its background colour.
        ((_, merged_index, merged_colour),) = split_parts(colour[core], index[core], _FOCAL, split, blurred_only=True)
        padded = (-(-(y1 - y0) // f) * f, ws * f)
        weight = np.zeros(padded, np.float32)
        premultiplied = np.zeros(padded + (3,), np.float32)
        np.subtract(np.float32(1.0), merged_index, out=weight[: y1 - y0, :w])
        np.multiply(merged_colour, weight[: y1 - y0, :w, None], out=premultiplied[: y1 - y0, :w])
        size = (ws, padded[0] // f)
        rows = slice(y0 // f, y0 // f + size[1])
        low[rows, :, :3] = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA)
        low[rows, :, 3] = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)

    threads.for_each_strip(work, h, rows_per_strip)
    return low


def _normalised_disc_blur(low: np.ndarray, radius: float, aperture: Aperture) -> np.ndarray:
    """Blur (h, w, 4) premultiplied colour and weight by the aperture; (h, w, 3) colour = blurred colour / weight."""
    kernel = aperture_kernel(radius, aperture)

    def blur(planes: np.ndarray) -> np.ndarray:
        # The four planes on the pool (OpenCV's filter runs on one core; the same values as one 4-channel call).
        one = [np.ascontiguousarray(planes[..., c]) for c in range(4)]
        convolve = lambda p: cv2.filter2D(p, -1, kernel, borderType=cv2.BORDER_CONSTANT)  # noqa: E731
        return np.stack(list(threads.in_order(convolve, one, threads.THREADS)), axis=-1)

    colour = normalised_convolution(low, blur)
    return np.maximum(colour, 0.0, out=colour)


def _signed_coc(alpha: np.ndarray, radius: float, out: np.ndarray | None = None) -> np.ndarray:
    """The two-level render's signed CoC of matte rows: ``-radius * (1 - alpha)``, pixels (alpha clipped to 0..1)."""
    coc = np.clip(alpha, 0.0, 1.0, out=out)
    coc -= np.float32(1.0)
    coc *= np.float32(radius)
    return coc


def _find_lights(
    rgb: np.ndarray, srgb: bool, matte: np.ndarray, radius: float, highlights: Highlights
) -> Lights | None:
    """The lights of the photo, their CoC ``-radius * (1 - alpha)`` (the signed CoC of a two-level render)."""
    h, w = matte.shape
    coc = np.empty((h, w), np.float32)
    threads.map_strips(lambda y0, y1: _signed_coc(matte[y0:y1], radius, coc[y0:y1]), h, width=w)
    return find_lights(rgb, srgb, coc, highlights, max_coc=MAX_LIGHT_COC)


def bokeh_background_blur(
    rgb: np.ndarray,
    matte: np.ndarray,
    radius: float,
    *,
    aperture: Aperture | None = None,
    highlights: Highlights | None = None,
    srgb: bool = True,
) -> np.ndarray:
    """Blur a photo's background with the lens aperture, keep its subject sharp, without halo.

    Args:
        rgb: (H, W, 3) sRGB, uint8 0..255 or float32 0..1; or, with
            ``srgb=False``, float32 linear light (values may exceed 1).
        matte: (H, W) float32 subject alpha 0..1 (clipped to it).
        radius: the background's CoC radius in pixels (the aperture's rim
            radius), finite and > 0; clamped to the image's longer side.
        aperture: iris shape (default: round).
        highlights: the boost of clipped lights (default: none, the lights
            keep their recorded value; ``--highlights`` gives the command's).
        srgb: ``rgb`` is sRGB-encoded (the result is too); else linear.

    Returns:
        (H, W, 3): for sRGB input, sRGB of ``rgb``'s dtype (uint8 rounded,
        or float32 0..1), a pixel wholly of the subject (alpha 1, not at a
        hard edge) exactly ``rgb``'s; for linear input, float32 linear light.

    Raises:
        ValueError: ``radius`` not finite and > 0, or a uint8 image with
            ``srgb=False``.

    Source: see the module docstring (normalised convolution, Knutsson and
    Westin, CVPR 1993; sprite lights and the edge split as in
    :mod:`~depthblur_cli.render.lights` and :mod:`~depthblur_cli.render.edges`).
    """
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be finite and > 0, got {radius}")
    if rgb.dtype == np.uint8 and not srgb:
        raise ValueError("a uint8 image must be sRGB-encoded (srgb=True)")
    aperture = Aperture() if aperture is None else aperture
    h, w = matte.shape
    radius = min(float(radius), float(max(h, w)))
    lights = _find_lights(rgb, srgb, matte, radius, highlights or Highlights(gain=0.0))
    reader = _Reader(rgb, srgb, matte, radius, lights)
    f = background_reduction(radius, (h, w))
    rows_per_strip = threads.strip_rows(w, f)
    splits: dict[int, EdgeSplit | None] = {}
    background = _normalised_disc_blur(
        _background_layer(reader, (h, w), f, splits, rows_per_strip), radius / f, aperture
    )
    hs, ws = background.shape[:2]
    splats = lights.splat((h, w), aperture, np.ones(lights.count, bool)) if lights is not None else None
    out = np.empty((h, w, 3), rgb.dtype if srgb and rgb.dtype == np.uint8 else np.float32)

    def compose(y0: int, y1: int) -> None:
        colour, index = reader.rows(y0, y1)
        ((cover, level, part),) = split_parts(colour, index, _FOCAL, splits[y0], sharp_only=True)  # the subject's
        hat = hat_weight_into(level, _FOCAL, np.empty(level.shape, np.float32))
        strip = np.multiply(part, hat[..., None])  # premultiplied by its cover already
        cum = hat if cover is None else np.multiply(hat, cover, out=hat)
        rest = np.subtract(np.float32(1.0), cum)
        strip += rest[..., None] * enlarge_rows(background, (hs * f, ws * f), y0, y1)[:, :w]
        if splats is not None:
            splats.add_rows(strip.transpose(2, 0, 1), y0, rest)
        if not srgb:
            out[y0:y1] = strip
            return
        if out.dtype == np.uint8:
            # Wholly the subject (rest 0), a pixel is its decoded value exactly, and 8 bits survive the
            # round trip through linear light (within 5e-5 of a level): it comes out as it went in.
            linear_to_srgb8(strip, out[y0:y1])
        else:  # floats do not survive it bit for bit: the subject's own values are put back
            out[y0:y1] = linear_to_srgb(strip, copy=False)
            np.copyto(out[y0:y1], to_float(rgb[y0:y1]), where=(rest <= 0.0)[..., None])

    threads.for_each_strip(compose, h, rows_per_strip)
    return out
