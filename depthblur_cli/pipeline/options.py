"""What each job is asked to do: the options of ``bokeh``/``gaussian``/``rembg-blur``, ``depth`` and writing.

Plain dataclasses whose defaults are the command's
(:mod:`depthblur_cli.options.defaults`); the command line builds them from its
flags and the library takes them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from depthblur_cli.errors import UsageError
from depthblur_cli.options import defaults, schema
from depthblur_cli.render.effects import Effects
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture


@dataclass
class WriteOptions:
    """How results are written (shared by every subcommand).

    Attributes:
        quality: JPEG/WebP quality 1..100.
        overwrite: replace existing outputs (never an input).
        save_mask: also write the subject matte as ``<output stem>.mask.png``.
        save_depth: also write the disparity as a 16-bit
            ``<output stem>.depth.png`` and a false-colour
            ``<output stem>.depth-preview.png``.
        png_compression: "fast", "default" or "small" (ISA-L deflate; zlib 6, 9).
        strip_metadata: write no EXIF (GPS, camera, dates); the ICC profile
            and the upright orientation are kept.
    """

    quality: int = defaults.QUALITY
    png_compression: defaults.PngCompression = defaults.PNG_COMPRESSION
    strip_metadata: bool = False
    overwrite: bool = False
    save_mask: bool = False
    save_depth: bool = False


def _checked_box(box: Any) -> tuple[float, float, float, float] | None:
    """A subject box checked (:func:`~depthblur_cli.estimation.subject.check_box`), or None. Raises UsageError."""
    if box is None:
        return None
    from depthblur_cli.estimation.subject import check_box

    try:
        return check_box(tuple(box))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"subject_box: {exc}") from None


@dataclass
class BackgroundBlurOptions:
    """``bokeh``, ``gaussian`` and ``rembg-blur``: blur what is not the subject.

    Attributes:
        mode: "bokeh" (lens blur: aperture disc in linear light, highlights
            bloom) or "gaussian" (classic Gaussian blur in sRGB).
        radius: blur radius as a fraction of the longer image side, or None.
        radius_px: blur radius in pixels (wins over ``radius``). For
            "gaussian" the radius is the Gaussian's standard deviation (as
            in Pillow's ``GaussianBlur``); for "bokeh" it is the disc radius.
        result: "blur" (the photo, background blurred), "cutout" (the
            subject on transparency) or "mask" (the matte as grayscale).
        aperture: iris shape for "bokeh".
        highlights: specular boost for "bokeh".
        subject_box: (x0, y0, x1, y1) fractions: the subject is in this box
            (the model runs on it alone), or None.
        mask: the user's own subject matte (a file, a per-input pattern like
            ``masks/{stem}.png``, or an (H, W) array 0..1), which replaces
            the model's, or None.

    Raises:
        UsageError: unknown mode or result, ``radius`` or ``radius_px``
            outside its range in :mod:`~depthblur_cli.options.schema`
            (0 < r <= 0.05; 0 < r <= 2000 px) or not finite, a subject box
            out of order.
    """

    mode: str = "bokeh"
    radius: float | None = defaults.BLUR_RADIUS
    radius_px: float | None = None
    result: str = "blur"
    aperture: Aperture = field(default_factory=Aperture)
    highlights: Highlights = field(default_factory=Highlights)
    subject_box: tuple[float, float, float, float] | None = None
    mask: Any = None

    def __post_init__(self) -> None:
        self.subject_box = _checked_box(self.subject_box)
        if self.mode not in ("bokeh", "gaussian"):
            raise UsageError(f"mode must be 'bokeh' or 'gaussian', got {self.mode!r}")
        if self.result not in ("blur", "cutout", "mask"):
            raise UsageError(f"result must be 'blur', 'cutout' or 'mask', got {self.result!r}")
        schema.check("radius", self.radius, optional=True)
        schema.check("radius_px", self.radius_px)

    def radius_for(self, width: int, height: int) -> float:
        """Blur radius in pixels for an image of this size."""
        if self.radius_px is not None:
            return float(self.radius_px)
        return float(self.radius or 0.0) * max(width, height)


#: ``--depth-source`` values (see :attr:`DepthOptions.depth_source`).
DEPTH_SOURCES = ("auto", "embedded", "stereo", "model")


@dataclass
class DepthOptions:
    """``depth``: Photoshop Depth Blur controls (see :mod:`depthblur_cli.render.coc`).

    Attributes:
        depth_map: depth/disparity file (path or pattern with ``{stem}``,
            ``{name}``, ``{parent}``), or None.
        depth_kind: "disparity" (larger = nearer) or "depth" (larger = farther).
        stereo_right: right view of a rectified pair (path or pattern), or None.
        depth_source: without ``depth_map`` or ``stereo_right``: ``"auto"``
            (the photo's own depth map, then its own stereo pair, then a
            model), ``"embedded"``, ``"stereo"`` or ``"model"`` (that one only).
        depth_model: catalog name or ``.onnx`` path of a monocular model, or
            None for the catalog default if cached, else the matte fallback.
        focal_point: (x, y) in 0..1 (Photoshop's ``focalSelector``), or None;
            it wins over the others.
        focus_subject: focus on the matte's subject; overrides
            ``focal_distance`` (``focusSubject``).
        focal_distance: 0 (nearest) .. 100 (farthest) (``focalDistance``).
        focal_range: 0..100, width of the sharp band (``focalRange``).
        blur_strength: 0..100; 100 = largest CoC 3% of the longer side.
        focus_disparity, coc_scale: raw physical units; when both are set,
            CoC radius (px) = coc_scale * (d - focus_disparity) with d in the
            depth map's own units, and the 0..100 controls are ignored.
        aperture, highlights: lens rendering.
        effects: haze, grain and colour controls (see
            :mod:`depthblur_cli.render.effects`); all 0 by default.
        subject_box, mask: steer the subject (see :class:`BackgroundBlurOptions`).

    Raises:
        UsageError: a value out of its range or not finite, an unknown
            ``depth_kind``, or only one of ``focus_disparity`` / ``coc_scale``.
    """

    depth_map: str | None = None
    depth_kind: str = "disparity"
    stereo_right: str | None = None
    depth_source: str = "auto"
    depth_model: str | None = None
    focal_point: tuple[float, float] | None = None
    focus_subject: bool = False
    focal_distance: float = defaults.FOCAL_DISTANCE
    focal_range: float = defaults.FOCAL_RANGE
    blur_strength: float = defaults.BLUR_STRENGTH
    focus_disparity: float | None = None
    coc_scale: float | None = None
    aperture: Aperture = field(default_factory=Aperture)
    highlights: Highlights = field(default_factory=Highlights)
    effects: Effects = field(default_factory=Effects)
    subject_box: tuple[float, float, float, float] | None = None
    mask: Any = None

    def __post_init__(self) -> None:
        self.subject_box = _checked_box(self.subject_box)
        if self.depth_kind not in ("disparity", "depth"):
            raise UsageError(f"depth_kind must be 'disparity' or 'depth', got {self.depth_kind!r}")
        if self.depth_source not in DEPTH_SOURCES:
            raise UsageError(f"depth_source must be one of {', '.join(DEPTH_SOURCES)}, got {self.depth_source!r}")
        for key in ("focal_point", "focal_range", "blur_strength", "focal_distance", "focus_disparity", "coc_scale"):
            schema.check(key, getattr(self, key))
        if (self.focus_disparity is None) != (self.coc_scale is None):
            raise UsageError("focus_disparity and coc_scale go together")

    @property
    def raw_units(self) -> bool:
        """True when the CoC is given physically (focus disparity + CoC scale)."""
        return self.focus_disparity is not None and self.coc_scale is not None

    @property
    def focus_needs_matte(self) -> bool:
        """True when the focus is the subject (asked for, and no focal point wins over it)."""
        return not self.raw_units and self.focal_point is None and self.focus_subject
