"""Pure image work of each job: background blur, focus to CoC, depth blur with effects.

Functions of arrays to arrays, no I/O and no models: the per-image
orchestration (load, estimate, render, write) is in
:mod:`depthblur_cli.pipeline.photo`, the one-call API in :mod:`depthblur_cli.api`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthblur_cli.colour import decode_srgb, linear_to_srgb
from depthblur_cli.errors import UsageError
from depthblur_cli.estimation.disparity import normalize_disparity
from depthblur_cli.imaging.arrays import rgb_pixels, unit_map
from depthblur_cli.pipeline.options import DepthOptions
from depthblur_cli.render import coc as coc_model
from depthblur_cli.render import effects as fx
from depthblur_cli.render.background import gaussian_background_blur
from depthblur_cli.render.bokeh import bokeh_background_blur
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture
from depthblur_cli.render.lens import render_depth_of_field


def blur_background(
    rgb: np.ndarray,
    matte: np.ndarray,
    radius_px: float,
    *,
    mode: str = "bokeh",
    aperture: Aperture | None = None,
    highlights: Highlights | None = None,
    reuse_input: bool = False,
) -> np.ndarray:
    """Blur the background of a photo and keep the subject sharp, without halo.

    The subject (alpha = ``matte``) is a sharp layer in the focal plane and
    the background a layer of CoC ``radius_px`` behind it, blurred from
    background pixels only, and the subject is composited over it with
    premultiplied alpha: subject colours never leak into the blur. "gaussian"
    uses the two-layer path of :mod:`depthblur_cli.render.background`
    (normalised convolution, in sRGB); "bokeh" that of
    :mod:`depthblur_cli.render.bokeh` (normalised convolution with the
    aperture in linear light, the lights splatted and the subject's mixed
    edge pixels split as in the layered renderer).

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8 0..255.
        matte: (H, W) float32 alpha 0..1 of the subject.
        radius_px: blur radius in pixels (disc radius for "bokeh", Gaussian
            sigma for "gaussian"); below 0.25 returns a copy of the input.
        mode: "bokeh" (disc aperture in linear light, highlights boosted) or
            "gaussian" (Gaussian in sRGB, like common editors).
        aperture: iris shape for "bokeh" (default: round).
        highlights: specular boost for "bokeh" (default: the command's,
            ``--highlights 25``).
        reuse_input: the caller no longer needs ``rgb``, so its array may
            hold the result ("gaussian" writes it there when ``rgb`` is a
            writeable C-contiguous array: one full-size array less; "bokeh"
            always returns a new one).

    Returns:
        (H, W, 3) sRGB of ``rgb``'s type: float32 0..1, or uint8 (rounded).

    Raises:
        ValueError: unknown mode, a radius that is negative or not finite,
            an image that is not (H, W, 3) float 0..1 or a matte of another
            shape or range.
    """
    if mode not in ("bokeh", "gaussian"):
        raise ValueError(f"unknown blur mode {mode!r}")
    if not 0 <= radius_px < float("inf"):
        raise ValueError(f"radius must be finite and >= 0, got {radius_px}")
    rgb = rgb_pixels(rgb)
    matte = unit_map(matte, rgb.shape[:2], "matte")
    aperture = Aperture() if aperture is None else aperture
    highlights = Highlights() if highlights is None else highlights
    if radius_px < 0.25:
        return rgb.copy()
    if mode == "gaussian":
        reusable = reuse_input and rgb.flags.c_contiguous and rgb.flags.writeable
        return gaussian_background_blur(rgb, matte, radius_px, out=rgb if reusable else None)
    return bokeh_background_blur(rgb, matte, radius_px, aperture=aperture, highlights=highlights)


@dataclass
class FocusDecision:
    """How the focal plane was chosen (for the report).

    Attributes:
        method: "point", "subject", "distance" or "raw".
        focus: focus disparity (normalised 0..1, or raw units for "raw").
        band: half-width of the in-focus band, same units.
        scale: CoC pixels per unit of disparity.
        max_radius: largest CoC radius in the image, pixels.
    """

    method: str
    focus: float
    band: float
    scale: float
    max_radius: float


def choose_focus(
    disparity: np.ndarray, options: DepthOptions, matte: np.ndarray | None, longer_side: int
) -> tuple[np.ndarray, FocusDecision]:
    """Signed CoC map (pixels) from a disparity map and Depth Blur controls.

    Args:
        disparity: (H, W) float32 disparity, raw units, finite.
        options: the focus controls.
        matte: (H, W) float32 subject alpha, required for focus-subject.
        longer_side: image's longer side, pixels.

    Returns:
        ((H, W) float32 signed CoC radius in pixels, the decision made).

    Raises:
        UsageError: a focal point outside 0..1.
        ValueError: the focus is the subject and ``matte`` is None.
    """
    if options.focus_disparity is not None and options.coc_scale is not None:  # raw units
        focus, scale = float(options.focus_disparity), float(options.coc_scale)
        signed = coc_model.signed_coc(disparity, focus, scale)
        return signed, FocusDecision("raw", focus, 0.0, scale, float(np.abs(signed).max()))
    d = normalize_disparity(disparity)
    band = float(np.clip(options.focal_range, 0, 100)) / 100.0 * 0.5
    if options.focal_point is not None:
        try:
            focus = coc_model.focus_at_point(d, *options.focal_point)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        method = "point"
    elif options.focus_subject:  # Photoshop: focusSubject overrides focalDistance
        if matte is None:
            raise ValueError("focus on the subject needs its matte")
        focus, extent = coc_model.focus_on_matte(d, matte)
        band = max(band, min(extent, 0.25))
        method = "subject"
    else:
        focus = 1.0 - float(np.clip(options.focal_distance, 0, 100)) / 100.0
        method = "distance"
    max_radius = coc_model.max_coc_radius(options.blur_strength, longer_side)
    scale = coc_model.scale_for_max_radius(focus, band, max_radius)
    return coc_model.signed_coc(d, focus, scale, band=band), FocusDecision(method, focus, band, scale, max_radius)


def render_depth_blur(
    rgb: np.ndarray,
    signed_coc: np.ndarray,
    options: DepthOptions,
    *,
    disparity: np.ndarray | None = None,
    airlight: np.ndarray | None = None,
) -> np.ndarray:
    """Lens blur of a photo for a signed CoC map, in linear light, with the effects.

    Order: haze on the linear scene (it is part of what the lens sees),
    lens blur, colour adjustments on the linear result, sRGB encoding, then
    grain on the final image (see :mod:`depthblur_cli.render.effects`). With
    ``options.effects`` all 0 this is exactly the plain lens blur.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8 0..255.
        signed_coc: (H, W) float32 signed CoC radius, pixels (> 0 near).
        options: aperture, highlights and effects.
        disparity: (H, W) float normalised disparity 0..1 (larger = nearer);
            needed only when ``options.effects.haze`` > 0.
        airlight: (3,) linear RGB of the haze, or None to estimate it.

    Returns:
        (H, W, 3) float32 sRGB 0..1; uint8 (rounded) for a uint8 photo
        without effects (the same values as rounding the float result).

    Raises:
        ValueError: haze without a disparity, an image that is not (H, W, 3)
            uint8 or float 0..1, or bad shapes.
    """
    rgb = rgb_pixels(rgb)
    fxo = options.effects
    if fxo.haze > 0:
        if disparity is None:
            raise ValueError("haze needs the normalised disparity")
        decoded = decode_srgb(rgb)
        linear = fx.add_haze(decoded, disparity, fxo.haze, airlight)
        out = render_depth_of_field(
            linear, signed_coc, aperture=options.aperture, highlights=options.highlights, out=linear
        )  # in place: one full-size copy
    elif rgb.dtype == np.uint8 and fxo.colour_is_identity and fxo.grain <= 0:
        # An 8-bit photo without effects: decoded and encoded back to 8 bits strip by strip inside
        # the renderer (no full-size float array at all).
        return render_depth_of_field(
            rgb,
            signed_coc,
            aperture=options.aperture,
            highlights=options.highlights,
            srgb=True,
            out=np.empty(rgb.shape, np.uint8),
        )
    else:
        # Decoded strip by strip inside the renderer: no full-size linear copy.
        out = render_depth_of_field(
            rgb, signed_coc, aperture=options.aperture, highlights=options.highlights, srgb=True
        )
    if not fxo.colour_is_identity:
        out = fx.adjust_colour(out, fxo.temp, fxo.tint, fxo.saturation, fxo.brightness)
    out = linear_to_srgb(out, copy=False)  # the render's own array
    if fxo.grain > 0:
        out = fx.add_grain(out, fxo.grain, fxo.seed)
    return out
