"""The pipeline: one photo in, one processed photo out, for every subcommand.

Pure functions do the image work (:func:`blur_background`,
:func:`render_depth_blur`); :class:`ModelBox` loads each model once per
process and reuses its session across a batch; :func:`process_image` runs
one input end to end (load, estimate, render, write) and returns a
:class:`Record`, the line of the machine-readable report. The batch loop
with progress and the report lives in :mod:`depthblur_cli.batch`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthblur_cli.imaging import codec, depth_files
from depthblur_cli import effects as fx
from depthblur_cli.colour import linear_to_srgb, srgb_to_linear
from depthblur_cli.errors import InputError, OutputError, UsageError
from depthblur_cli.estimation.disparity import (
    DepthResult,
    disparity_consistent_with_matte,
    disparity_from_matte,
    disparity_from_values,
    normalize_disparity,
)
from depthblur_cli.estimation.monocular import disparity_from_model
from depthblur_cli.estimation.stereo import disparity_from_stereo
from depthblur_cli.estimation.matte import estimate_matte
from depthblur_cli.models import catalog, sessions, store
from depthblur_cli.outputs import OutputPlan, companion_path
from depthblur_cli.render import coc as coc_model
from depthblur_cli.render.kernels import Aperture
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.lens import render_depth_of_field

# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


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

    quality: int = 95
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
    radius: float | None = 0.01
    radius_px: float | None = None
    result: str = "blur"
    aperture: Aperture = Aperture()
    highlights: Highlights = Highlights()

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
    focal_range: float = 10.0
    blur_strength: float = 50.0
    focus_disparity: float | None = None
    coc_scale: float | None = None
    aperture: Aperture = Aperture()
    highlights: Highlights = Highlights(gain=2.0)
    effects: fx.Effects = fx.Effects()

    @property
    def raw_units(self) -> bool:
        """True when the CoC is given physically (focus disparity + CoC scale)."""
        return self.focus_disparity is not None and self.coc_scale is not None


# ---------------------------------------------------------------------------
# Image work (pure functions)
# ---------------------------------------------------------------------------


def blur_background(
    rgb: np.ndarray,
    matte: np.ndarray,
    radius_px: float,
    *,
    mode: str = "bokeh",
    aperture: Aperture = Aperture(),
    highlights: Highlights = Highlights(),
) -> np.ndarray:
    """Blur the background of a photo and keep the subject sharp, without halo.

    The subject (alpha = ``matte``) is a sharp layer in the focal plane and
    the background a layer of CoC ``radius_px`` behind it. The background
    layer is extended behind the subject by interpolation from background
    pixels only, then blurred, then the subject is composited over it with
    premultiplied alpha: subject colours never leak into the blur.

    Args:
        rgb: (H, W, 3) float32 sRGB 0..1.
        matte: (H, W) float32 alpha 0..1 of the subject.
        radius_px: blur radius in pixels (disc radius for "bokeh", Gaussian
            sigma for "gaussian"); 0 returns the input.
        mode: "bokeh" (disc aperture in linear light, highlights boosted) or
            "gaussian" (Gaussian in sRGB, like common editors).
        aperture: iris shape for "bokeh".
        highlights: specular boost for "bokeh".

    Returns:
        (H, W, 3) float32 sRGB 0..1.

    Raises:
        ValueError: unknown mode, negative radius or mismatched shapes.
    """
    if mode not in ("bokeh", "gaussian"):
        raise ValueError(f"unknown blur mode {mode!r}")
    if radius_px < 0:
        raise ValueError(f"radius must be >= 0, got {radius_px}")
    if radius_px < 0.25:
        return rgb.astype(np.float32, copy=True)
    signed = (-radius_px * (1.0 - np.clip(matte, 0.0, 1.0))).astype(np.float32)
    levels = np.array([-radius_px, 0.0], np.float32)
    if mode == "gaussian":
        out = render_depth_of_field(rgb, signed, kernel="gaussian", levels=levels)
        return np.clip(out, 0.0, 1.0, out=out)
    # Decoded to linear light strip by strip inside the renderer: no full-size linear copy.
    out = render_depth_of_field(rgb, signed, kernel="disc", aperture=aperture, highlights=highlights, levels=levels, srgb=True)
    return linear_to_srgb(out, copy=False)


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
    """
    if options.raw_units:
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
    elif options.focal_distance is not None and not options.focus_subject:
        focus = 1.0 - float(np.clip(options.focal_distance, 0, 100)) / 100.0
        method = "distance"
    else:
        assert matte is not None
        focus, extent = coc_model.focus_on_matte(d, matte)
        band = max(band, min(extent, 0.25))
        method = "subject"
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
    grain on the final image (see :mod:`depthblur_cli.effects`). With
    ``options.effects`` all 0 this is exactly the plain lens blur.

    Args:
        rgb: (H, W, 3) float32 sRGB 0..1.
        signed_coc: (H, W) float32 signed CoC radius, pixels (> 0 near).
        options: aperture, highlights and effects.
        disparity: (H, W) float normalised disparity 0..1 (larger = nearer);
            needed only when ``options.effects.haze`` > 0.
        airlight: (3,) linear RGB of the haze, or None to estimate it.

    Returns:
        (H, W, 3) float32 sRGB 0..1.

    Raises:
        ValueError: haze without a disparity, or bad shapes.
    """
    fxo = options.effects
    lens_options = {"aperture": options.aperture, "highlights": options.highlights}
    if fxo.haze > 0:
        if disparity is None:
            raise ValueError("haze needs the normalised disparity")
        linear = fx.add_haze(srgb_to_linear(rgb), disparity, fxo.haze, airlight)
        out = render_depth_of_field(linear, signed_coc, **lens_options, out=linear)  # in place: one full-size copy
    else:
        # Decoded strip by strip inside the renderer: no full-size linear copy.
        out = render_depth_of_field(rgb, signed_coc, **lens_options, srgb=True)
    if not fxo.colour_is_identity:
        out = fx.adjust_colour(out, fxo.temp, fxo.tint, fxo.saturation, fxo.brightness)
    out = linear_to_srgb(out, copy=False)  # the render's own array
    if fxo.grain > 0:
        out = fx.add_grain(out, fxo.grain, fxo.seed)
    return out


# ---------------------------------------------------------------------------
# Models, loaded once per process
# ---------------------------------------------------------------------------


class ModelBox:
    """The models a batch needs, resolved lazily and loaded once.

    Args:
        matte_model: catalog name or ``.onnx`` path of the matting model.
        depth_model: catalog name or path of the depth model, or None for
            "the catalog default if it is already cached, else none".
        allow_download: fetch missing catalog models (False = offline).
        progress: show download progress bars.
    """

    def __init__(
        self,
        matte_model: str = catalog.DEFAULT_MATTE_MODEL,
        depth_model: str | None = None,
        *,
        allow_download: bool = True,
        progress: bool = True,
    ) -> None:
        self.matte_model = matte_model
        self.depth_model = depth_model
        self.allow_download = allow_download
        self.progress = progress
        self._matte: tuple[Any, Any] | None = None
        self._depth: tuple[Any, Any] | None | bool = False  # False = not resolved yet

    def matte_session(self) -> tuple[Any, Any]:
        """(spec, session) of the matting model. Raises ModelError."""
        if self._matte is None:
            spec, path = store.resolve_model(
                self.matte_model, "matte", allow_download=self.allow_download, progress=self.progress
            )
            self._matte = (spec, sessions.get_session(path))
        return self._matte

    def depth_session(self) -> tuple[Any, Any] | None:
        """(spec, session) of the depth model, or None if none is available offline.

        Raises:
            ModelError: an explicitly requested model cannot be had.
        """
        if self._depth is False:
            if self.depth_model is not None:
                spec, path = store.resolve_model(
                    self.depth_model, "depth", allow_download=self.allow_download, progress=self.progress
                )
            else:
                spec = catalog.get_spec(catalog.DEFAULT_DEPTH_MODEL)
                path = store.find_model(spec)
            self._depth = None if path is None else (spec, sessions.get_session(path))
        return self._depth  # type: ignore[return-value]

    @property
    def loaded_matte_model(self) -> str | None:
        """Name of the matting model if it has been loaded, else None."""
        return None if self._matte is None else self._matte[0].name

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 subject alpha 0..1 for an (H, W, 3) sRGB photo."""
        spec, session = self.matte_session()
        return estimate_matte(rgb, session, spec)


# ---------------------------------------------------------------------------
# One image end to end
# ---------------------------------------------------------------------------


@dataclass
class Record:
    """One line of the machine-readable report (``--json``).

    Attributes:
        input: input path ("-" for stdin).
        output: output path, or None if nothing was written.
        status: "ok" or "error".
        error: {"code", "message"} when status is "error".
        warnings: one-line remarks (e.g. "no depth model: ...").
        info: what was done: size, radius, models, depth source, focus...
        timings: seconds per stage ("load", "matte", "depth", "render",
            "write", "total").
        side_outputs: extra files written (mask, depth).
    """

    input: str
    output: str | None = None
    status: str = "ok"
    error: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    side_outputs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, timings rounded to milliseconds."""
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "warnings": self.warnings,
            **self.info,
            "side_outputs": self.side_outputs,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


class _Clock:
    def __init__(self, record: Record) -> None:
        self.record = record
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.record.timings[stage] = self.record.timings.get(stage, 0.0) + now - self.last
        self.last = now

    def total(self) -> None:
        self.record.timings["total"] = time.perf_counter() - self.start


def _read_stdin() -> bytes:
    return sys.stdin.buffer.read()


def load_input(path: str) -> codec.LoadedImage:
    """Decode an input photo ("-" reads stdin). Raises InputError."""
    if path == "-":
        return codec.load_image("-", data=_read_stdin())
    return codec.load_image(path)


def _side_path(output: str, suffix: str) -> str:
    p = Path(output)
    return str(p.with_name(f"{p.stem}.{suffix}"))


def _write_main(plan: OutputPlan, image: codec.LoadedImage, rgb, alpha, write: WriteOptions, protected, record):
    if plan.fmt == "JPEG" and alpha is not None and float(np.min(alpha)) < 1.0:
        if record.info.get("result") == "cutout":
            raise OutputError("JPEG cannot hold transparency; use --format png or webp", path=plan.path)
        record.warnings.append("JPEG has no alpha: transparent areas flattened onto white")
    codec.save_image(
        plan.path,
        rgb,
        alpha,
        fmt=plan.fmt,
        quality=write.quality,
        icc_profile=image.icc_profile,
        exif=image.exif,
        overwrite=write.overwrite,
        protected=protected,
    )
    record.output = plan.path


def _write_mask(output: str, matte: np.ndarray, write: WriteOptions, protected, record: Record) -> None:
    if output == "-":
        record.warnings.append("--save-mask needs a file output (not stdout); mask not written")
        return
    path = _side_path(output, "mask.png")
    codec.save_image(path, matte, fmt="PNG", overwrite=write.overwrite, protected=protected)  # grayscale
    record.side_outputs.append(path)


def process_background_blur(
    plan: OutputPlan, options: BackgroundBlurOptions, write: WriteOptions, models: ModelBox, protected=()
) -> Record:
    """Run ``bokeh`` / ``gaussian`` / ``rembg-blur`` on one input and write it.

    Args:
        plan: the input and where its output goes (from ``plan_outputs``).
        options: blur mode, radius, result kind.
        write: output options.
        models: the batch's models.
        protected: paths never to overwrite (all inputs).

    Returns:
        the report record (status "ok").

    Raises:
        DepthblurError: bad input, unwritable output, model problems.
    """
    record = Record(input=plan.input)
    clock = _Clock(record)
    image = load_input(plan.input)
    h, w = image.rgb.shape[:2]
    clock.lap("load")
    spec, _ = models.matte_session()
    matte = models.matte(image.rgb)
    clock.lap("matte")
    radius_px = options.radius_for(w, h)
    record.info.update(
        command=options.mode, result=options.result, width=w, height=h,
        radius_px=round(radius_px, 3), matte_model=spec.name,
    )
    if options.result == "mask":
        rgb, alpha = matte, None  # written as a one-channel grayscale image
    elif options.result == "cutout":
        rgb = image.rgb
        alpha = matte if image.alpha is None else matte * image.alpha
    else:
        rgb = blur_background(
            image.rgb, matte, radius_px, mode=options.mode, aperture=options.aperture, highlights=options.highlights
        )
        alpha = image.alpha
    clock.lap("render")
    _write_main(plan, image, rgb, alpha, write, protected, record)
    if write.save_mask:
        _write_mask(plan.path, matte, write, protected, record)
    clock.lap("write")
    clock.total()
    return record


def estimate_depth(
    image: codec.LoadedImage, options: DepthOptions, models: ModelBox, matte_fn: Callable[[], np.ndarray]
) -> DepthResult:
    """Dense disparity for a photo from the first available source.

    Order: ``depth_map`` file, ``stereo_right`` view, an explicit or cached
    depth model, else the subject-layer fallback built from the matte.

    Args:
        image: the decoded photo.
        options: depth sources.
        models: the batch's models.
        matte_fn: returns the subject matte (computed once, on demand).

    Returns:
        the disparity (H, W) float32, its source and notes.

    Raises:
        InputError: unreadable depth map or right view, or wrong size pair.
        ModelError: a requested depth model cannot be had.
    """
    h, w = image.rgb.shape[:2]
    if options.depth_map:
        path = companion_path(options.depth_map, image.source)
        values = depth_files.read_depth_file(path)
        try:
            disp, notes = disparity_from_values(values, options.depth_kind, (h, w))
        except ValueError as exc:
            raise InputError(str(exc), path=path) from None
        return DepthResult(disp, "file", [f"{path}: {n}" for n in notes])
    if options.stereo_right:
        path = companion_path(options.stereo_right, image.source, option="--stereo-right")
        right = codec.load_image(path)
        if right.rgb.shape != image.rgb.shape:
            raise InputError(
                f"right view is {right.rgb.shape[1]}x{right.rgb.shape[0]}, left is {w}x{h}; "
                "a rectified pair must have the same size",
                path=path,
            )
        return DepthResult(disparity_from_stereo(image.rgb, right.rgb), "stereo", [])
    found = models.depth_session()
    if found is not None:
        spec, session = found
        return DepthResult(disparity_from_model(image.rgb, session, spec), f"model:{spec.name}", [])
    return DepthResult(
        disparity_from_matte(matte_fn()),
        "matte",
        [
            f"no depth model available offline: using a two-layer depth from the subject matte; "
            f"run 'depthblur models pull {catalog.DEFAULT_DEPTH_MODEL}' or pass --depth-model PATH "
            "(or --depth-map / --stereo-right) for real depth"
        ],
    )


def process_depth(
    plan: OutputPlan, options: DepthOptions, write: WriteOptions, models: ModelBox, protected=()
) -> Record:
    """Run ``depth`` (Depth Blur) on one input and write it.

    Args:
        plan: the input and where its output goes.
        options: depth sources and focus controls.
        write: output options.
        models: the batch's models.
        protected: paths never to overwrite (all inputs).

    Returns:
        the report record.

    Raises:
        DepthblurError: bad input or depth map, unwritable output, model problems.
    """
    record = Record(input=plan.input)
    clock = _Clock(record)
    image = load_input(plan.input)
    h, w = image.rgb.shape[:2]
    clock.lap("load")
    matte_cache: list[np.ndarray] = []

    def matte_fn() -> np.ndarray:
        if not matte_cache:
            start = time.perf_counter()
            matte_cache.append(models.matte(image.rgb))
            record.timings["matte"] = time.perf_counter() - start
            clock.last += record.timings["matte"]
        return matte_cache[0]

    # The depth map and right view of this photo are inputs too: never written.
    companions = (("--depth-map", options.depth_map), ("--stereo-right", options.stereo_right))
    protected = [*protected, *(companion_path(t, plan.input, option=o) for o, t in companions if t)]
    result = estimate_depth(image, options, models, matte_fn)
    record.warnings.extend(result.notes)
    clock.lap("depth")
    needs_matte = not options.raw_units and options.focal_point is None and (
        options.focus_subject or options.focal_distance is None
    )
    if needs_matte and (result.source == "stereo" or result.source.startswith("model:")):
        # The subject is in focus: make its estimated depth agree with its
        # matte (a given depth file is the user's and is left alone).
        result.disparity = disparity_consistent_with_matte(result.disparity, matte_fn())
    signed, decision = choose_focus(result.disparity, options, matte_fn() if needs_matte else None, max(h, w))
    effects = options.effects.as_dict()
    disparity = airlight = None
    if options.effects.haze > 0:
        disparity = normalize_disparity(result.disparity)
        airlight = fx.estimate_airlight(srgb_to_linear(image.rgb), disparity)
        effects["airlight"] = [round(float(v), 4) for v in airlight]
    rgb = render_depth_blur(image.rgb, signed, options, disparity=disparity, airlight=airlight)
    clock.lap("render")
    record.info.update(
        command="depth", width=w, height=h, depth_source=result.source,
        focus={"method": decision.method, "disparity": round(decision.focus, 5), "band": round(decision.band, 5)},
        max_coc_px=round(decision.max_radius, 3),
    )
    if effects:
        record.info["effects"] = effects
    if models.loaded_matte_model is not None:
        record.info["matte_model"] = models.loaded_matte_model
    _write_main(plan, image, rgb, image.alpha, write, protected, record)
    if write.save_mask:
        _write_mask(plan.path, matte_fn(), write, protected, record)
    if write.save_depth:
        if plan.path == "-":
            record.warnings.append("--save-depth needs a file output (not stdout); depth not written")
        else:
            for suffix, writer in (("depth.png", depth_files.save_depth_png16), ("depth-preview.png", depth_files.save_depth_preview)):
                path = _side_path(plan.path, suffix)
                writer(path, result.disparity, overwrite=write.overwrite, protected=protected)
                record.side_outputs.append(path)
    clock.lap("write")
    clock.total()
    return record
