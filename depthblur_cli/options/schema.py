"""The option schema: each image option once, with its keyword, flag, type, range, default, unit and meaning.

Every consumer reads an option from here: the command's flags
(``cli/params.py`` builds the Typer option from an :class:`Option`), the
library's keyword defaults and checks (:mod:`depthblur_cli.pipeline.options`,
:class:`~depthblur_cli.render.kernels.Aperture`,
:class:`~depthblur_cli.render.highlights.Highlights`,
:class:`~depthblur_cli.render.effects.Effects`, :mod:`depthblur_cli.api`),
the server's request parsing (Photoroom's ``background.blur.radius``,
fapihub's ``radius``, Photoshop's ``DepthBlurDetails``) and the
``--ps-options`` validator (:mod:`depthblur_cli.options.photoshop`). A range
is written here and nowhere else; so is a default, except the few
constants of :mod:`~depthblur_cli.options.defaults` that this table reads.

Imports nothing heavy.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

from depthblur_cli.errors import UsageError
from depthblur_cli.options import defaults

#: An option's type: a real number, an integer, true/false, or a point ``(x, y)`` in 0..1.
Kind = Literal["number", "integer", "boolean", "point"]


@dataclass(frozen=True)
class Option:
    """One option of depthblur's image jobs.

    Attributes:
        key: this table's name for it (``"rembg_radius"``); the library's
            keyword is :attr:`name`.
        name: the library's keyword and the option dataclasses' field
            (``"radius"``, ``"blur_strength"``).
        flag: the command's flag (``"--radius"``).
        kind: ``"number"``, ``"integer"``, ``"boolean"`` or ``"point"``.
        low, high: the range (inclusive unless ``low_open``); a point's coordinates are 0..1.
        default: the default of the command and the library (None: not given).
        unit: what a number measures (``"pixels"``, ``"fraction of the longer side"``), or "".
        meaning: one line for ``--help`` and the docs.
        low_open: the low end is excluded (``0 < r``).
        whole: the library takes whole numbers only (a float with a fraction is refused).
        api: the cloud APIs' names for it, as ``((api, name), ...)``:
            ``("photoshop", "blurStrength")``, ``("photoroom", "background.blur.radius")``,
            ``("fapihub", "radius")``.
    """

    key: str
    name: str
    flag: str
    kind: Kind
    low: float
    high: float
    default: Any
    unit: str
    meaning: str
    low_open: bool = False
    whole: bool = False
    api: tuple[tuple[str, str], ...] = ()

    def api_name(self, api: str) -> str | None:
        """The option's name in ``api`` (``"photoshop"``, ``"photoroom"``, ``"fapihub"``), or None."""
        return dict(self.api).get(api)

    def bounds(self) -> str:
        """The range as the command's errors write it: ``"0 < x <= 0.05"``, ``"1 <= x <= 50"``."""
        return f"{self.low:g} {'<' if self.low_open else '<='} x <= {self.high:g}"

    def within(self, value: float) -> bool:
        """Whether a number is in the range (NaN never is)."""
        above_low = value > self.low if self.low_open else value >= self.low
        return bool(above_low and value <= self.high)

    def check(self, value: Any, where: str | None = None, *, optional: bool = False) -> Any:
        """``value`` checked against the type and range, as the library holds it.

        A number comes back as a float (an int for a :attr:`whole` option), a
        boolean as a bool, a point as an ``(x, y)`` tuple of floats; None
        (not given) passes where the default is None or ``optional`` is set.

        Args:
            value: what a caller gave.
            where: the name to put in the error (default: :attr:`name`).

        Raises:
            UsageError: wrong type, not finite, or out of range: "radius must
                be in the range 0 < x <= 0.05, got 0.06".
        """
        label = where or self.name
        if value is None and (optional or self.default is None):
            return None
        if self.kind == "boolean":
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise UsageError(f"{label} must be true or false, got {value!r}")
            return bool(value)
        if self.kind == "point":
            try:
                x, y = (float(v) for v in value)
            except (TypeError, ValueError):
                raise UsageError(f"{label} must be a point (x, y) in 0..1, got {value!r}") from None
            if not (0 <= x <= 1 and 0 <= y <= 1):  # also refuses nan
                raise UsageError(f"{label} must be in 0..1, got {x:g},{y:g}")
            return (x, y)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"{label} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or not self.within(number):
            raise UsageError(f"{label} must be in the range {self.bounds()}, got {number:g}")
        if self.whole:
            if number != int(number):
                raise UsageError(f"{label} must be a whole number, got {number:g}")
            return int(number)
        return number


#: Largest raw-units focus disparity (``--focus-disparity``), in the depth map's own units.
MAX_RAW_DISPARITY = 1e9
#: Largest raw-units CoC scale (``--coc-scale``), pixels per unit of disparity.
MAX_COC_SCALE = 1e6

_PS = "photoshop"

#: Every option with a range, in help order. Photoshop's ``DepthBlurDetails`` options are the ones
#: with a ``photoshop`` name, in the API document's order.
OPTIONS: tuple[Option, ...] = (
    Option("radius", "radius", "--radius", "number", 0, defaults.MAX_BLUR_RADIUS, defaults.BLUR_RADIUS,
           "fraction of the longer side", "blur radius as a fraction of the longer image side", low_open=True,
           api=(("photoroom", "background.blur.radius"),)),
    Option("radius_px", "radius_px", "--radius-px", "number", 0, defaults.MAX_RADIUS_PX, None, "pixels",
           "blur radius in pixels (instead of --radius)", low_open=True),
    Option("rembg_radius", "radius", "--radius", "integer", 1, defaults.MAX_REMBG_RADIUS_PX, defaults.REMBG_RADIUS_PX,
           "pixels", "blur radius in pixels (Gaussian sigma)", whole=True, api=(("fapihub", "radius"),)),
    Option("blades", "blades", "--blades", "integer", 0, 16, 0, "",
           "aperture blades: 0 = round disc, or 3..16 for a polygon", whole=True),
    Option("blade_rotation", "blade_rotation", "--blade-rotation", "number", -360, 360, 0.0, "degrees",
           "aperture polygon rotation"),
    Option("blade_curvature", "blade_curvature", "--blade-curvature", "number", 0, 1, 0.0, "",
           "blade curvature: 0 = straight (polygon) .. 1 = circle"),
    Option("highlights", "highlights", "--highlights", "number", 0, 100, defaults.HIGHLIGHTS, "",
           "specular highlight boost: bright points bloom into bright discs"),
    Option("highlight_threshold", "highlight_threshold", "--highlight-threshold", "number", 0, 1,
           defaults.HIGHLIGHT_THRESHOLD, "sRGB", "brightness above which highlights are boosted"),
    Option("focal_distance", "focal_distance", "--focal-distance", "integer", 0, 100, defaults.FOCAL_DISTANCE, "",
           "distance of the point in focus: 0 nearest .. 100 farthest", api=((_PS, "focalDistance"),)),
    Option("focal_range", "focal_range", "--focal-range", "integer", 0, 100, defaults.FOCAL_RANGE, "",
           "depth range kept sharp around the focus: 0 (a plane) .. 100", api=((_PS, "focalRange"),)),
    Option("focal_point", "focal_point", "--focal-selector", "point", 0, 1, None, "fraction of width and height",
           "focus on the depth at this point, x and y as fractions 0..1 of width and height",
           api=((_PS, "focalSelector"),)),
    Option("focus_subject", "focus_subject", "--focus-subject", "boolean", 0, 1, False, "",
           "focus on the most prominent subject; overrides focalDistance", api=((_PS, "focusSubject"),)),
    Option("blur_strength", "blur_strength", "--blur-strength", "integer", 0, 100, defaults.BLUR_STRENGTH, "",
           "strength of the blur: 100 = the largest CoC 3 % of the longer side", api=((_PS, "blurStrength"),)),
    Option("haze", "haze", "--haze", "integer", 0, 100, 0, "", "atmospheric haze growing with distance",
           api=((_PS, "haze"),)),
    Option("temp", "temp", "--temp", "integer", -50, 50, 0, "", "white balance: -50 coldest .. 50 warmest",
           api=((_PS, "temp"),)),
    Option("tint", "tint", "--tint", "integer", -50, 50, 0, "", "-50 green .. 50 magenta", api=((_PS, "tint"),)),
    Option("saturation", "saturation", "--saturation", "integer", -50, 50, 0, "",
           "-50 fully unsaturated .. 50 fully saturated (twice the chroma)", api=((_PS, "saturation"),)),
    Option("brightness", "brightness", "--brightness", "integer", -50, 50, 0, "", "midtone brightness -50 .. 50",
           api=((_PS, "brightness"),)),
    Option("grain", "grain", "--grain", "integer", 0, 100, 0, "", "film grain added after the blur",
           api=((_PS, "grain"),)),
    Option("seed", "seed", "--seed", "integer", 0, 2**32 - 1, 0, "", "seed of the grain", whole=True),
    Option("focus_disparity", "focus_disparity", "--focus-disparity", "number", -MAX_RAW_DISPARITY,
           MAX_RAW_DISPARITY, None, "the depth map's units",
           "raw units: focus at this disparity (the depth map's units); needs --coc-scale"),
    Option("coc_scale", "coc_scale", "--coc-scale", "number", 0, MAX_COC_SCALE, None, "pixels per unit of disparity",
           "raw units: CoC radius in px = K * |d - focus disparity|"),
    Option("quality", "quality", "--quality", "integer", 1, 100, defaults.QUALITY, "", "JPEG/WebP/HEIC quality",
           whole=True),
)  # fmt: skip

#: :data:`OPTIONS` by :attr:`Option.key`.
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}


def check(key: str, value: Any, where: str | None = None, *, optional: bool = False) -> Any:
    """``value`` of the option ``key`` checked (see :meth:`Option.check`).

    Raises:
        KeyError: no such option.
        UsageError: wrong type, not finite or out of range, naming ``where`` (default: the keyword).
    """
    return BY_KEY[key].check(value, where, optional=optional)
