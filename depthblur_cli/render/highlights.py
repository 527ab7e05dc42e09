"""Specular highlights: how clipped lights are brightened before the lens blur.

Real out-of-focus lights are far brighter than the clipped 1.0 a photo
stores; giving clipped lights back their estimated energy lets them bloom
into bright bokeh discs instead of grey smudges (Photoshop Lens Blur:
"specular highlights brightness" and "threshold"). The estimate is
:mod:`~depthblur_cli.render.light_energy`'s; these settings cap it and say
what counts as clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from depthblur_cli.options import defaults, schema


@dataclass(frozen=True)
class Highlights:
    """Specular highlight boost applied before the blur.

    The default is the command's (``--highlights 25``).

    Attributes:
        gain: the most light added to a clipped pixel of a light, in units of
            the clip level (linear 1.0; 0 = the recorded value): a cap on the
            estimate of its missing energy.
        threshold: sRGB-encoded level 0..1 from which a channel counts as clipped.
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
