"""Specular highlights: clipped lights brightened before the lens blur.

Real out-of-focus lights are far brighter than the clipped 1.0 a photo
stores; boosting near-clipped pixels lets them bloom into bright bokeh discs
instead of grey smudges (Photoshop Lens Blur: "specular highlights
brightness" and "threshold").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthblur_cli.colour import luminance, srgb_to_linear
from depthblur_cli.options import defaults, schema


@dataclass(frozen=True)
class Highlights:
    """Specular highlight boost applied before the blur.

    The default is the command's (``--highlights 25``).

    Attributes:
        gain: extra brightness multiplier at full clipping (0 = off); a pixel
            at or above ``threshold`` is multiplied by up to ``1 + gain``.
        threshold: sRGB-encoded luminance 0..1 above which the boost ramps in.
    """

    gain: float = defaults.highlight_gain(defaults.HIGHLIGHTS)
    threshold: float = defaults.HIGHLIGHT_THRESHOLD

    @classmethod
    def from_amount(cls, amount: float, threshold: float = defaults.HIGHLIGHT_THRESHOLD) -> Highlights:
        """The boost for a ``--highlights`` amount 0..100 (0 = off) and an sRGB ``threshold`` 0..1.

        Raises:
            UsageError: either outside its range (:mod:`depthblur_cli.options.schema`).
        """
        schema.check("highlights", amount)
        schema.check("highlight_threshold", threshold)
        return cls(gain=defaults.highlight_gain(amount), threshold=threshold)


def boost_highlights(linear_rgb: np.ndarray, highlights: Highlights) -> np.ndarray:
    """Brighten near-clipped pixels so they bloom when blurred.

    Args:
        linear_rgb: (H, W, 3) float32, linear light 0..1.
        highlights: gain and threshold.

    Returns:
        (H, W, 3) float32 linear light, values may exceed 1; the input
        itself when no pixel reaches the threshold.
    """
    if highlights.gain <= 0:
        return linear_rgb
    t = float(srgb_to_linear(np.array([min(max(highlights.threshold, 0.0), 0.999)], np.float32))[0])
    ramp = luminance(linear_rgb)
    if not ramp.size or float(ramp.max()) <= t:
        return linear_rgb
    ramp -= np.float32(t)
    ramp *= np.float32(1.0 / max(1e-6, 1.0 - t))
    np.clip(ramp, 0.0, 1.0, out=ramp)
    np.square(ramp, out=ramp)
    ramp *= np.float32(highlights.gain)
    ramp += np.float32(1.0)
    return linear_rgb * ramp[..., None]
