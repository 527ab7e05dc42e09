"""The one-call library API: one function per job, with exactly the command's defaults.

Every function takes the photo as

* a file path (``str`` or ``os.PathLike``): decoded as the command decodes
  it (EXIF orientation applied); the result is a PIL image carrying the
  file's ICC profile;
* a PIL image: its pixels as they are (mode RGB, RGBA, L, LA, or anything
  Pillow converts to RGB); the result is a PIL image of the same mode (RGBA
  and LA keep their alpha);
* a NumPy array, (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grayscale,
  sRGB-encoded: ``uint8`` (0..255), ``uint16`` (0..65535) or floating point
  (0..1); the result is an array of the same shape and dtype (float input
  gives float32);
* the bytes of an image file (``bytes``, ``bytearray``, ``memoryview``) or a
  binary file object (anything with ``read()``), as rembg's ``remove()``
  takes them: decoded as a file; the result is the bytes of an image file
  of the same format (PNG when the input's cannot be written, or when the
  result has an alpha channel that JPEG cannot hold), ICC profile kept.

and returns the same kind. Models are loaded once per process and reused.
Bad values raise :class:`ValueError` (a
:class:`~depthblur_cli.errors.UsageError` for out-of-range options) with a
one-line message; model problems raise
:class:`~depthblur_cli.errors.ModelError`; unreadable files
:class:`~depthblur_cli.errors.InputError`. What the command prints as a
warning (a depth source not used, a matte that looks wrong) is issued as a
:class:`~depthblur_cli.errors.DepthblurWarning` (:func:`warnings.warn`).

>>> import numpy as np
>>> import depthblur_cli
>>> photo = np.full((64, 96, 3), 128, np.uint8)
>>> depthblur_cli.gaussian(photo).dtype, depthblur_cli.gaussian(photo).shape
(dtype('uint8'), (64, 96, 3))
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Concatenate, ParamSpec, Protocol, cast, overload

import numpy as np

from depthblur_cli.errors import DepthblurWarning
from depthblur_cli.estimation.disparity import DepthResult, disparity_from_values
from depthblur_cli.imaging import depth_files
from depthblur_cli.imaging.kinds import give_back, load_photo
from depthblur_cli.options import defaults, schema
from depthblur_cli.pipeline.options import BackgroundBlurOptions, DepthOptions
from depthblur_cli.pipeline.photo import ModelBox, Rendered, background_blur
from depthblur_cli.pipeline.photo import depth_blur as _depth_blur
from depthblur_cli.pipeline.photo import estimate_depth as _estimate_depth
from depthblur_cli.pipeline.records import Record
from depthblur_cli.render.effects import Effects
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

P = ParamSpec("P")


class SameKind(Protocol[P]):
    """A one-call function's type: the result is of the kind of the photo given (see the module docstring)."""

    @overload
    def __call__(self, image: np.ndarray, /, *args: P.args, **kwargs: P.kwargs) -> np.ndarray: ...
    @overload
    def __call__(self, image: PILImage | str | os.PathLike[str], /, *args: P.args, **kwargs: P.kwargs) -> PILImage: ...
    @overload
    def __call__(
        self, image: bytes | bytearray | memoryview | BinaryIO, /, *args: P.args, **kwargs: P.kwargs
    ) -> bytes: ...


def _same_kind(function: Callable[Concatenate[Any, P], Any]) -> SameKind[P]:
    """Type a one-call function by the kind of photo it is given (the function itself, unchanged)."""
    return cast(SameKind[P], function)


__all__ = ["Session", "bokeh", "depth_blur", "estimate_depth", "gaussian", "matte", "new_session", "rembg_blur"]


@dataclass(frozen=True)
class Session:
    """Models loaded once and kept for many calls (see :func:`new_session`); pass it as ``session=``.

    Attributes:
        model: the matting model's catalog name or ``.onnx`` path.
        depth_model: the depth model's, or None (as ``depth_model=`` says).
        offline: no model is downloaded.
        device: where the models run (``auto``, ``cpu``, ``cuda``, ...).
    """

    model: str
    depth_model: str | None
    offline: bool
    device: str
    models: ModelBox = field(repr=False, compare=False)


def new_session(
    model: str = defaults.MATTE_MODEL,
    *,
    depth_model: str | None = None,
    offline: bool = False,
    device: str = "auto",
    threads: int | None = None,
) -> Session:
    """A session for many calls, as rembg's ``new_session()``: the matting model loaded now, once.

    Every function takes it as ``session=`` (it then wins over their
    ``model``, ``depth_model`` and ``offline``); without one, a function
    keeps its own models per choice for the process. The depth model is
    loaded on its first use.

    Args:
        model: the matting model: catalog name (``depthblur models``) or
            ``.onnx`` path.
        depth_model: a monocular depth model name or path for
            :func:`depth_blur` and :func:`estimate_depth`, or None (the
            catalog default if it is cached, else the offline fallback).
        offline: never download a model.
        device: onnxruntime device: ``auto``, ``cpu``, ``cuda``, ...
        threads: onnxruntime threads per model (None: every core).

    Returns:
        the :class:`Session`.

    Raises:
        ModelError: an unknown model or device, a model not cached while
            ``offline``, or a damaged one.

    >>> import depthblur_cli, numpy as np
    >>> session = depthblur_cli.new_session(offline=True)
    >>> depthblur_cli.gaussian(np.full((64, 96, 3), 128, np.uint8), session=session).shape
    (64, 96, 3)
    """
    models = ModelBox(model, depth_model, allow_download=not offline, progress=False, device=device, threads=threads)
    models.matte_session()  # now: a model that cannot be loaded is said here, not on the first photo
    return Session(model, depth_model, offline, device, models)


@functools.lru_cache(maxsize=8)
def _cached_models(model: str, depth_model: str | None, offline: bool) -> ModelBox:
    """One :class:`ModelBox` per model choice, kept for the process."""
    return ModelBox(model, depth_model, allow_download=not offline, progress=False)


def _models(model: str, depth_model: str | None, offline: bool, session: Session | None = None) -> ModelBox:
    """The session's models, or those kept for this choice."""
    return session.models if session is not None else _cached_models(model, depth_model, offline)


def _warn(messages: list[str], public_frames: int = 1) -> None:
    """Issue a job's warnings as DepthblurWarning, attributed to the caller of the public function.

    ``public_frames``: the frames of this module between here and that caller's (1: a public function called
    this one directly).
    """
    for message in messages:
        warnings.warn(message, DepthblurWarning, stacklevel=2 + public_frames)


def _background(image: Any, options: BackgroundBlurOptions, model: str, offline: bool, session: Session | None) -> Any:
    loaded, kind = load_photo(image)
    record = Record(input="<api>")
    result = background_blur(loaded, options, _models(model, None, offline, session), record)
    _warn(record.warnings, public_frames=2)
    if options.result == "cutout":  # the subject on transparency: an alpha channel however it came
        kind = replace(kind, gray=False, alpha=True, mode="LA" if kind.mode in ("L", "LA") else "RGBA")
    return give_back(result.rgb, result.alpha, kind, loaded.icc_profile)


@_same_kind
def bokeh(
    image: Any,
    *,
    radius: float | None = defaults.BLUR_RADIUS,
    radius_px: float | None = None,
    blades: int = 0,
    blade_rotation: float = 0.0,
    blade_curvature: float = 0.0,
    highlights: float = defaults.HIGHLIGHTS,
    highlight_threshold: float = defaults.HIGHLIGHT_THRESHOLD,
    model: str = defaults.MATTE_MODEL,
    offline: bool = False,
    subject_box: tuple[float, float, float, float] | None = None,
    mask: Any = None,
    session: Session | None = None,
) -> Any:
    """Lens-blur the background, the subject sharp (``depthblur bokeh``; Photoroom ``mode=bokeh``).

    Args:
        image: the photo (see the module docstring for the kinds).
        radius: disc radius, fraction of the longer side, 0 < r <= 0.05.
        radius_px: disc radius in pixels instead (wins over ``radius``).
        blades, blade_rotation, blade_curvature: the aperture: 0 = round,
            3..16 blades; rotation in degrees; curvature 0 (polygon) .. 1.
        highlights: boost of clipped lights 0..100; highlight_threshold: the
            sRGB brightness 0..1 where it starts.
        model: matting model name or ``.onnx`` path.
        offline: never download a model.
        subject_box: the subject is in this box, (x0, y0, x1, y1) fractions of
            the width and height (``--subject-box``).
        mask: your own subject matte instead of the model's: a file path or an
            (H, W) array 0..1 (or uint8 0..255) (``--mask``).
        session: models kept for many calls (:func:`new_session`); it wins
            over ``model`` and ``offline``.

    Returns:
        the blurred photo, of the kind given.

    Raises:
        UsageError: an option out of range (also a ValueError); ValueError: an
            image array of the wrong shape or dtype; InputError: a file or bytes
            that are not an image; ModelError: a model unknown, not cached while
            ``offline``, or damaged.

    Warns:
        DepthblurWarning: what the command would print as a warning.
    """
    options = BackgroundBlurOptions(
        mode="bokeh",
        radius=None if radius_px is not None else radius,
        radius_px=radius_px,
        subject_box=subject_box,
        mask=mask,
        aperture=Aperture(blades, blade_rotation, blade_curvature if blades else 1.0),
        highlights=Highlights.from_amount(highlights, highlight_threshold),
    )
    return _background(image, options, model, offline, session)


@_same_kind
def gaussian(
    image: Any,
    *,
    radius: float | None = defaults.BLUR_RADIUS,
    radius_px: float | None = None,
    model: str = defaults.MATTE_MODEL,
    offline: bool = False,
    subject_box: tuple[float, float, float, float] | None = None,
    mask: Any = None,
    session: Session | None = None,
) -> Any:
    """Gaussian-blur the background, the subject sharp (``depthblur gaussian``; Photoroom ``mode=gaussian``).

    Args:
        image: the photo (see the module docstring for the kinds).
        radius: the Gaussian's standard deviation, fraction of the longer
            side, 0 < r <= 0.05; radius_px: in pixels instead.
        model, offline, subject_box, mask, session: as for :func:`bokeh`.

    Returns:
        the blurred photo, of the kind given.

    Raises:
        UsageError: an option out of range (also a ValueError); ValueError: an
            image array of the wrong shape or dtype; InputError: a file or bytes
            that are not an image; ModelError: a model unknown, not cached while
            ``offline``, or damaged.

    Warns:
        DepthblurWarning: what the command would print as a warning.
    """
    options = BackgroundBlurOptions(
        mode="gaussian",
        radius=None if radius_px is not None else radius,
        radius_px=radius_px,
        subject_box=subject_box,
        mask=mask,
    )
    return _background(image, options, model, offline, session)


@_same_kind
def rembg_blur(
    image: Any,
    *,
    radius: int = defaults.REMBG_RADIUS_PX,
    result: str = "blur",
    model: str = defaults.MATTE_MODEL,
    offline: bool = False,
    subject_box: tuple[float, float, float, float] | None = None,
    mask: Any = None,
    session: Session | None = None,
) -> Any:
    """Segment the subject and blur the background by ``radius`` pixels (``depthblur rembg-blur``; fapihub).

    Args:
        image: the photo (see the module docstring for the kinds).
        radius: Gaussian standard deviation in pixels, an integer 1..50.
        result: "blur" (the photo), "cutout" (the subject on transparency:
            RGBA / (H, W, 4)) or "mask" (the matte, one channel).
        model, offline, subject_box, mask, session: as for :func:`bokeh`.

    Returns:
        the result, of the kind given.

    Raises:
        UsageError: an option out of range (also a ValueError); ValueError: an
            image array of the wrong shape or dtype; InputError: a file or bytes
            that are not an image; ModelError: a model unknown, not cached while
            ``offline``, or damaged.

    Warns:
        DepthblurWarning: what the command would print as a warning.
    """
    radius = schema.check("rembg_radius", radius, "radius")
    options = BackgroundBlurOptions(
        mode="gaussian", radius=None, radius_px=float(radius), result=result, subject_box=subject_box, mask=mask
    )
    return _background(image, options, model, offline, session)


@_same_kind
def depth_blur(
    image: Any,
    depth: Any = None,
    *,
    depth_kind: str = "disparity",
    focal_selector: tuple[float, float] | None = None,
    focus_subject: bool = False,
    focal_distance: float = defaults.FOCAL_DISTANCE,
    focal_range: float = defaults.FOCAL_RANGE,
    blur_strength: float = defaults.BLUR_STRENGTH,
    haze: float = 0.0,
    grain: float = 0.0,
    seed: int = 0,
    temp: float = 0.0,
    tint: float = 0.0,
    saturation: float = 0.0,
    brightness: float = 0.0,
    blades: int = 0,
    blade_rotation: float = 0.0,
    blade_curvature: float = 0.0,
    highlights: float = defaults.HIGHLIGHTS,
    highlight_threshold: float = defaults.HIGHLIGHT_THRESHOLD,
    depth_model: str | None = None,
    model: str = defaults.MATTE_MODEL,
    offline: bool = False,
    subject_box: tuple[float, float, float, float] | None = None,
    mask: Any = None,
    session: Session | None = None,
) -> Any:
    """Depth Blur (``depthblur depth``; Photoshop ``depthBlur``): lens blur from depth around a focus.

    Args:
        image: the photo (see the module docstring for the kinds).
        depth: None (the photo's own depth map or stereo pair if it carries
            one, as a phone's HEIC does; else a depth model if one is cached
            or named; else a two-layer depth from the matte), a depth-map
            file, or an (h, w) array of disparity (or depth, see
            ``depth_kind``), resized to the photo if needed.
        depth_kind: "disparity" (larger = nearer) or "depth".
        focal_selector: focus on the point (x, y), fractions 0..1 of width
            and height (wins over the others); focus_subject: on the most
            prominent subject (overrides focal_distance); focal_distance:
            0 (nearest, the default) .. 100 (farthest). These and the rest
            are Photoshop's ``DepthBlurDetails`` by their snake_case names,
            with its ranges and defaults.
        focal_range, blur_strength, haze, grain: 0..100; seed: of the grain.
        temp, tint, saturation, brightness: colour controls -50..50 (see
            :mod:`depthblur_cli.render.effects`).
        blades, blade_rotation, blade_curvature, highlights,
        highlight_threshold: the aperture and highlights, as :func:`bokeh`.
        depth_model: a monocular depth model name or ``.onnx`` path.
        model, offline, subject_box, mask, session: as for :func:`bokeh`.

    Returns:
        the rendered photo, of the kind given.

    Raises:
        UsageError: an option out of range (also a ValueError); ValueError: an
            image array of the wrong shape or dtype; InputError: a file or bytes
            that are not an image; ModelError: a model unknown, not cached while
            ``offline``, or damaged.

    Warns:
        DepthblurWarning: what the command would print as a warning.
    """
    schema.check("focal_point", focal_selector, "focal_selector")
    options = DepthOptions(
        subject_box=subject_box,
        mask=mask,
        depth_kind=depth_kind,
        depth_model=depth_model,
        focal_point=focal_selector,
        focus_subject=focus_subject,
        focal_distance=focal_distance,
        focal_range=focal_range,
        blur_strength=blur_strength,
        aperture=Aperture(blades, blade_rotation, blade_curvature if blades else 1.0),
        highlights=Highlights.from_amount(highlights, highlight_threshold),
        effects=Effects(
            haze=haze, grain=grain, seed=seed, temp=temp, tint=tint, saturation=saturation, brightness=brightness
        ),
    )
    loaded, kind = load_photo(image)
    given = None
    if depth is not None:
        values = depth_files.read_depth_file(depth) if isinstance(depth, (str, os.PathLike)) else np.asarray(depth)
        disparity, notes = disparity_from_values(values, depth_kind, loaded.pixels.shape[:2])
        given = DepthResult(disparity, "file" if isinstance(depth, (str, os.PathLike)) else "array", notes)
    record = Record(input="<api>")
    out: Rendered = _depth_blur(
        loaded,
        options,
        _models(model, depth_model, offline, session),
        record,
        depth=given,
        keep_depth=False,
        keep_matte=False,
    )
    _warn(record.warnings)
    return give_back(out.rgb, out.alpha, kind, loaded.icc_profile)


@_same_kind
def matte(
    image: Any, *, model: str = defaults.MATTE_MODEL, offline: bool = False, session: Session | None = None
) -> Any:
    """The subject's alpha matte (``depthblur rembg-blur --only-mask``).

    Args:
        image: the photo (see the module docstring for the kinds).
        model, offline, session: as for :func:`bokeh`.

    Returns:
        one channel: an (H, W) array (uint8, uint16, or float32 0..1 as the
        input's dtype), a PIL image of mode "L" for a path or PIL image, the bytes of
        an image file (the input's format, else PNG) for bytes or a binary file.

    Raises:
        ValueError: an image array of the wrong shape or dtype; InputError: a
            file or bytes that are not an image; ModelError: a model unknown,
            not cached while ``offline``, or damaged.
    """
    loaded, kind = load_photo(image)
    alpha = _models(model, None, offline, session).matte(loaded.pixels)
    return give_back(alpha, None, kind)


def estimate_depth(
    image: Any,
    *,
    depth_model: str | None = None,
    model: str = defaults.MATTE_MODEL,
    offline: bool = False,
    session: Session | None = None,
) -> np.ndarray:
    """Relative disparity of a photo from the source ``depth`` would use.

    Args:
        image: the photo (see the module docstring for the kinds).
        depth_model: a monocular depth model name or ``.onnx`` path; None:
            Depth Anything V2 if it is cached, else the offline fallback.
        model, offline: the matting model (for the fallback) and downloads.

    Returns:
        (H, W) float32 disparity (larger = nearer), finite, in the source's
        own units (0..1 for the matte fallback).

    Raises:
        ValueError: an image array of the wrong shape or dtype; InputError: a
            file or bytes that are not an image; ModelError: a model unknown,
            not cached while ``offline``, or damaged.

    Warns:
        DepthblurWarning: a depth source that could not be used (the next was).
    """
    loaded, _ = load_photo(image)
    models = _models(model, depth_model, offline, session)
    result = _estimate_depth(loaded, DepthOptions(depth_model=depth_model), models, lambda: models.matte(loaded.pixels))
    _warn(result.notes)
    return result.disparity
