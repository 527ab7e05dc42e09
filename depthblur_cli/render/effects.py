"""Colour and atmosphere controls of ``depth`` (Photoshop Depth Blur's haze,
grain, temperature, tint, saturation and brightness).

Pure, vectorised functions on NumPy arrays; no I/O. Where each one sits in
the ``depth`` pipeline, and why:

1. :func:`add_haze` on the **linear** photo, **before** the lens blur: haze
   is light scattered by the air between the scene and the camera, so it
   is part of the scene the lens images (a hazy far background is blurred
   together with its haze, as in a real photograph).
2. the lens blur (:func:`depthblur_cli.render.lens.render_depth_of_field`).
3. :func:`adjust_colour` on the **linear** result: white balance,
   saturation and brightness are camera/development adjustments of the
   recorded light.
4. encoding to sRGB, then :func:`add_grain` on the **sRGB-encoded** result:
   grain is texture of the recording medium, on top of everything, so
   blurred areas get the same grain as sharp ones and do not look plastic.

Slider mappings (the value 0 of every control is exactly "no change"):

- ``haze`` 0..100: extinction coefficient ``beta = haze/100 * HAZE_BETA_MAX``
  per unit of relative distance (0 = nearest, 1 = farthest).
- ``grain`` 0..100: standard deviation of the grain in mid-grey, in sRGB
  units, ``grain/100 * GRAIN_SIGMA_MAX``.
The colour controls run -50..50, as Photoshop's Depth Blur API defines them
(``temp`` -50 coldest .. 50 warmest, ``saturation`` -50 fully unsaturated ..
50 fully saturated); ``COLOUR_MAX`` = 50:

- ``temp`` -50..50: red gain ``2**(+temp/50 * TEMP_STOPS/2)``, blue gain
  ``2**(-temp/50 * TEMP_STOPS/2)`` (> 0 warmer; at 50 red/blue is 2x).
- ``tint`` -50..50: green gain ``2**(-tint/50 * TINT_STOPS)``, red and
  blue gains ``2**(+tint/50 * TINT_STOPS / 2)`` (> 0 magenta, < 0 green,
  as in Camera Raw). The temp/tint gains are scaled so that a neutral grey
  keeps its luminance.
- ``saturation`` -50..50: chroma around the luminance scaled by
  ``1 + saturation/50`` (-50 = greyscale, 50 = twice the chroma).
- ``brightness`` -50..50: a midtone gamma on linear light,
  ``x ** 2**(-brightness/50)``; black and white stay put (50: linear
  mid-grey 0.18 becomes 0.42, i.e. sRGB 0.46 becomes 0.68).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.colour import luminance
from depthblur_cli.imaging.arrays import rgb_shape
from depthblur_cli.options import schema

__all__ = [
    "AIRLIGHT_LUMINANCE",
    "AIRLIGHT_TINT",
    "COLOUR_MAX",
    "GRAIN_SIGMA_MAX",
    "GRAIN_SIZE_PX",
    "HAZE_BETA_MAX",
    "TEMP_STOPS",
    "TINT_STOPS",
    "Effects",
    "add_grain",
    "add_haze",
    "adjust_colour",
    "colour_gains",
    "estimate_airlight",
]

#: Extinction coefficient at ``haze`` 100: the farthest point keeps
#: exp(-2) = 14% of its own light.
HAZE_BETA_MAX = 2.0
#: Linear luminance of the airlight (sRGB 0.91): bright, but just under the
#: default highlight threshold (sRGB 0.92), so the haze itself never blooms.
AIRLIGHT_LUMINANCE = 0.8
#: Share of the far scene's own colour in the airlight (the rest is white).
AIRLIGHT_TINT = 0.25
#: Grain standard deviation in mid-grey at ``grain`` 100, sRGB units.
GRAIN_SIGMA_MAX = 0.08
#: Standard deviation (pixels) of the Gaussian that correlates the grain.
GRAIN_SIZE_PX = 0.7
#: The colour controls' range: -COLOUR_MAX..COLOUR_MAX (Photoshop's Depth Blur API: -50..50).
COLOUR_MAX = schema.BY_KEY["temp"].high
#: White-balance shift at ``temp`` +-50, in stops between red and blue.
TEMP_STOPS = 1.0
#: Green-magenta shift at ``tint`` +-50, in stops of the green gain.
TINT_STOPS = 0.5


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    return rgb_shape(np.asarray(rgb, dtype=np.float32), "image")


@dataclass(frozen=True)
class Effects:
    """The colour and atmosphere sliders of ``depth``.

    Attributes:
        haze: 0..100, atmospheric haze growing with distance.
        grain: 0..100, film grain added after the blur.
        seed: seed of the grain's random generator (same seed and image
            size, same grain).
        temp: -50..50, white balance; > 0 warmer.
        tint: -50..50; > 0 magenta, < 0 green.
        saturation: -50..50; -50 = greyscale.
        brightness: -50..50, midtone gamma; > 0 brighter.

    Raises:
        ValueError: a slider or the seed outside its range (a
            :class:`~depthblur_cli.errors.UsageError`).
    """

    haze: float = 0.0
    grain: float = 0.0
    seed: int = 0
    temp: float = 0.0
    tint: float = 0.0
    saturation: float = 0.0
    brightness: float = 0.0

    def __post_init__(self) -> None:
        for name in ("haze", "grain", "temp", "tint", "saturation", "brightness", "seed"):
            schema.check(name, getattr(self, name))

    @property
    def colour_is_identity(self) -> bool:
        """True when temp, tint, saturation and brightness are all 0."""
        return self.temp == 0 and self.tint == 0 and self.saturation == 0 and self.brightness == 0

    @property
    def is_identity(self) -> bool:
        """True when no control changes the image."""
        return self.haze == 0 and self.grain == 0 and self.colour_is_identity

    def as_dict(self) -> dict[str, float | int]:
        """The non-zero controls (and the seed when there is grain), for the report."""
        values = {k: getattr(self, k) for k in ("haze", "grain", "temp", "tint", "saturation", "brightness")}
        out: dict[str, float | int] = {k: v for k, v in values.items() if v != 0}
        if self.grain:
            out["seed"] = self.seed
        return out


# ---------------------------------------------------------------------------
# Haze
# ---------------------------------------------------------------------------


def _distance(disparity: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    d = np.asarray(disparity, dtype=np.float32)
    if d.shape != shape:
        raise ValueError(f"disparity must be (H, W) = {shape}, got {d.shape}")
    if not np.all(np.isfinite(d)) or d.min() < 0 or d.max() > 1:
        raise ValueError("disparity must be normalised: finite values in 0..1")
    return 1.0 - d


def estimate_airlight(linear_rgb: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """A bright airlight colour, slightly tinted by the scene's brightest far region.

    He et al. (CVPR 2009) take the airlight from the brightest pixels of the
    most haze-opaque (farthest) region. A photo without haze has no such
    region, so here the airlight is near-white: ``AIRLIGHT_TINT`` (25%) of
    the colour of the brightest 1% of the farthest 10% of pixels (its
    largest channel scaled to 1), the rest white, then scaled to linear
    luminance ``AIRLIGHT_LUMINANCE`` (0.8) and clipped to 0..1. A bluish sky
    or a warm far wall so gives a faintly bluish or warm haze.

    Args:
        linear_rgb: (H, W, 3) float32 linear light 0..1.
        disparity: (H, W) float normalised disparity 0..1, larger = nearer.

    Returns:
        (3,) float32 linear RGB in 0..1.

    Raises:
        ValueError: bad shapes or a disparity outside 0..1.
    """
    rgb = _check_rgb(linear_rgb)
    distance = _distance(disparity, rgb.shape[:2]).ravel()
    pixels = rgb.reshape(-1, 3)
    far = distance >= np.quantile(distance, 0.9)
    far_rgb = pixels[far]
    lum = luminance(far_rgb[None])[0]
    count = max(1, int(round(0.01 * lum.size)))
    brightest = far_rgb[np.argpartition(lum, lum.size - count)[-count:]].mean(axis=0)
    peak = float(brightest.max())
    colour = brightest / peak if peak > 1e-6 else np.ones(3, np.float32)
    mix = (1.0 - AIRLIGHT_TINT) + AIRLIGHT_TINT * colour
    mix = mix * (AIRLIGHT_LUMINANCE / float(luminance(mix[None, None])[0, 0]))
    return np.clip(mix, 0.0, 1.0).astype(np.float32)


def add_haze(
    linear_rgb: np.ndarray, disparity: np.ndarray, amount: float, airlight: np.ndarray | None = None
) -> np.ndarray:
    """Atmospheric haze that thickens with distance (Koschmieder's model).

    ``I = J * t + A * (1 - t)`` with transmission ``t = exp(-beta * z)``,
    the atmospheric scattering model as used by He, Sun and Tang, "Single
    Image Haze Removal Using Dark Channel Prior", CVPR 2009. The relative
    distance is ``z = 1 - disparity`` (0 at the nearest point, which gets
    no haze, 1 at the farthest) and ``beta = amount/100 * HAZE_BETA_MAX``
    (100: the farthest point keeps 14% of its own light).

    Args:
        linear_rgb: (H, W, 3) float32 **linear light** 0..1 (the scene
            before the lens blur).
        disparity: (H, W) float normalised disparity 0..1, larger = nearer
            (as from :func:`depthblur_cli.estimation.disparity.normalize_disparity`).
        amount: 0..100; 0 returns a copy of the input.
        airlight: (3,) linear RGB of the haze, or None for
            :func:`estimate_airlight`.

    Returns:
        (H, W, 3) float32 linear light 0..1.

    Raises:
        ValueError: bad shapes, amount outside 0..100, disparity outside 0..1
            or an airlight that is not 3 values in 0..1.
    """
    rgb = _check_rgb(linear_rgb)
    amount = schema.check("haze", amount)
    distance = _distance(disparity, rgb.shape[:2])
    if amount == 0:
        return rgb.copy()
    if airlight is None:
        airlight = estimate_airlight(rgb, disparity)
    a = np.asarray(airlight, dtype=np.float32)
    if a.shape != (3,) or not np.all((a >= 0) & (a <= 1)):
        raise ValueError(f"airlight must be 3 linear values in 0..1, got {airlight!r}")
    t = np.exp(-np.float32(amount / 100.0 * HAZE_BETA_MAX) * distance)[..., None]
    return (rgb * t + a * (1.0 - t)).astype(np.float32)


# ---------------------------------------------------------------------------
# Grain
# ---------------------------------------------------------------------------


def add_grain(srgb: np.ndarray, amount: float, seed: int = 0) -> np.ndarray:
    """Film grain: monochrome, slightly clumped, strongest in the mid-tones.

    Gaussian white noise from ``np.random.default_rng(seed)`` is blurred by
    a Gaussian of ``GRAIN_SIZE_PX`` (0.7 px) so it looks like grain rather
    than pixel noise, rescaled to unit standard deviation, weighted by
    ``4 * Y' * (1 - Y')`` of the pixel's sRGB luma ``Y'`` (1 in mid-grey, 0
    in pure black and white, as the density response of film is flattest at
    its toe and shoulder) and added to all three channels. The grain is a
    function of the seed and the image size only.

    Args:
        srgb: (H, W, 3) float32 **sRGB-encoded** 0..1 (the final image).
        amount: 0..100; standard deviation in mid-grey
            ``amount/100 * GRAIN_SIGMA_MAX`` (0.08). 0 returns a copy.
        seed: seed of the random generator, >= 0.

    Returns:
        (H, W, 3) float32 sRGB 0..1 (clipped).

    Raises:
        ValueError: bad shape, amount outside 0..100 or a seed outside 0..2**32 - 1.
    """
    rgb = _check_rgb(srgb)
    amount = schema.check("grain", amount)
    schema.check("seed", seed)
    if amount == 0:
        return rgb.copy()
    h, w = rgb.shape[:2]
    white = np.random.default_rng(seed).standard_normal((h, w), dtype=np.float32)
    noise: np.ndarray = cv2.GaussianBlur(white, (0, 0), GRAIN_SIZE_PX, borderType=cv2.BORDER_REFLECT)
    noise /= max(float(noise.std()), 1e-6)
    luma = np.clip(luminance(rgb), 0.0, 1.0)
    sigma = np.float32(amount / 100.0 * GRAIN_SIGMA_MAX)
    grain = sigma * 4.0 * luma * (1.0 - luma) * noise
    return np.clip(rgb + grain[..., None], 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------


def colour_gains(temp: float = 0.0, tint: float = 0.0) -> np.ndarray:
    """Per-channel linear gains of a white-balance shift.

    ``temp`` moves red and blue in opposite directions (``TEMP_STOPS`` stops
    apart at +-50), ``tint`` moves green against red and blue
    (``TINT_STOPS`` stops of green at +-50). The gains are then scaled so
    that a neutral grey keeps its luminance: the shift changes colour, not
    exposure.

    Args:
        temp: -50..50, > 0 warmer (red up, blue down).
        tint: -50..50, > 0 magenta (green down), < 0 green.

    Returns:
        (3,) float32 gains for R, G, B; exactly (1, 1, 1) for 0, 0.

    Raises:
        ValueError: a value outside -50..50.
    """
    temp = schema.check("temp", temp)
    tint = schema.check("tint", tint)
    if temp == 0 and tint == 0:
        return np.ones(3, np.float32)
    t, m = temp / COLOUR_MAX * TEMP_STOPS / 2, tint / COLOUR_MAX * TINT_STOPS
    gains = np.array([2.0 ** (t + m / 2), 2.0 ** (-m), 2.0 ** (-t + m / 2)])
    gains /= gains @ np.array([0.2126, 0.7152, 0.0722])
    return gains.astype(np.float32)


def adjust_colour(
    linear_rgb: np.ndarray,
    temp: float = 0.0,
    tint: float = 0.0,
    saturation: float = 0.0,
    brightness: float = 0.0,
) -> np.ndarray:
    """White balance, saturation and brightness, in linear light.

    In order: per-channel gains from :func:`colour_gains` (``temp``,
    ``tint``); chroma scaled around the Rec.709 luminance Y by
    ``1 + saturation/50`` (``Y + s * (rgb - Y)``, negative results clipped
    to 0); then a midtone gamma ``x ** 2**(-brightness/50)`` per channel,
    which keeps black and white and brightens (> 0) or darkens the mid-tones
    without clipping.

    Args:
        linear_rgb: (H, W, 3) float32 **linear light**, >= 0 (values above 1,
            e.g. boosted highlights, are allowed).
        temp, tint, saturation, brightness: -50..50 each; 0 = unchanged.

    Returns:
        (H, W, 3) float32 linear light; with all four at 0, a copy of the
        input (bit-identical).

    Raises:
        ValueError: bad shape or a value outside -50..50.
    """
    rgb = _check_rgb(linear_rgb)
    gains = colour_gains(temp, tint)
    saturation = schema.check("saturation", saturation)
    brightness = schema.check("brightness", brightness)
    out = rgb.copy()
    if temp or tint:
        out *= gains
    if saturation:
        y = luminance(out)[..., None]
        out = np.maximum(y + np.float32(1.0 + saturation / COLOUR_MAX) * (out - y), 0.0)
    if brightness:
        out = np.power(np.maximum(out, 0.0), np.float32(2.0 ** (-brightness / COLOUR_MAX)))
    return out.astype(np.float32, copy=False)
