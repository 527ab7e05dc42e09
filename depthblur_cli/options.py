"""What each job is asked to do: the options of ``bokeh``/``gaussian``/``rembg-blur``, ``depth`` and writing.

Plain dataclasses whose defaults are the command's
(:mod:`depthblur_cli.defaults`); the command line builds them from its
flags and the library takes them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from depthblur_cli import defaults
from depthblur_cli.effects import Effects
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
    """

    quality: int = defaults.QUALITY
    overwrite: bool = False
    save_mask: bool = False
    save_depth: bool = False


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
    """

    mode: str = "bokeh"
    radius: float | None = defaults.BLUR_RADIUS
    radius_px: float | None = None
    result: str = "blur"
    aperture: Aperture = field(default_factory=Aperture)
    highlights: Highlights = field(default_factory=Highlights)

    def radius_for(self, width: int, height: int) -> float:
        """Blur radius in pixels for an image of this size."""
        if self.radius_px is not None:
            return float(self.radius_px)
        return float(self.radius or 0.0) * max(width, height)


@dataclass
class DepthOptions:
    """``depth``: Photoshop Depth Blur controls (see :mod:`depthblur_cli.render.coc`).

    Attributes:
        depth_map: depth/disparity file (path or pattern with ``{stem}``,
            ``{name}``, ``{parent}``), or None.
        depth_kind: "disparity" (larger = nearer) or "depth" (larger = farther).
        stereo_right: right view of a rectified pair (path or pattern), or None.
        depth_model: catalog name or ``.onnx`` path of a monocular model, or
            None for the catalog default if cached, else the matte fallback.
        focal_point: (x, y) in 0..1, or None.
        focus_subject: focus on the matte's subject.
        focal_distance: 0 (nearest) .. 100 (farthest), or None.
        focal_range: 0..100, width of the sharp band.
        blur_strength: 0..100; 100 = largest CoC 3% of the longer side.
        focus_disparity, coc_scale: raw physical units; when both are set,
            CoC radius (px) = coc_scale * (d - focus_disparity) with d in the
            depth map's own units, and the 0..100 controls are ignored.
        aperture, highlights: lens rendering.
        effects: haze, grain and colour controls (see
            :mod:`depthblur_cli.effects`); all 0 by default.
    """

    depth_map: str | None = None
    depth_kind: str = "disparity"
    stereo_right: str | None = None
    depth_model: str | None = None
    focal_point: tuple[float, float] | None = None
    focus_subject: bool = False
    focal_distance: float | None = None
    focal_range: float = defaults.FOCAL_RANGE
    blur_strength: float = defaults.BLUR_STRENGTH
    focus_disparity: float | None = None
    coc_scale: float | None = None
    aperture: Aperture = field(default_factory=Aperture)
    highlights: Highlights = field(default_factory=Highlights)
    effects: Effects = field(default_factory=Effects)

    @property
    def raw_units(self) -> bool:
        """True when the CoC is given physically (focus disparity + CoC scale)."""
        return self.focus_disparity is not None and self.coc_scale is not None

    @property
    def focus_needs_matte(self) -> bool:
        """True when the focus is the subject: asked for, or no other focus given."""
        return not self.raw_units and self.focal_point is None and (
            self.focus_subject or self.focal_distance is None
        )
