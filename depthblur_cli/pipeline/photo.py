"""One photo in, one processed photo out: load, estimate, render, write.

:class:`ModelBox` loads each model once per process and reuses its session
across a batch; :func:`process_background_blur` and :func:`process_depth`
run one input end to end and return its :class:`~depthblur_cli.pipeline.records.Record`.
The image work itself is in :mod:`depthblur_cli.pipeline.compose`; the batch loop
with progress and the report in :mod:`depthblur_cli.batch.run`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthblur_cli import threads
from depthblur_cli.colour import srgb_to_linear
from depthblur_cli.errors import InputError, OutputError
from depthblur_cli.estimation.disparity import (
    DepthResult,
    disparity_consistent_with_matte,
    disparity_from_values,
    disparity_with_subject_in_front,
    normalize_disparity,
)
from depthblur_cli.estimation.embedded import embedded_disparity
from depthblur_cli.estimation.monocular import disparity_from_model
from depthblur_cli.estimation.stereo import disparity_from_stereo
from depthblur_cli.estimation.subject import subject_matte
from depthblur_cli.imaging import codec, depth_files, files, patterns
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.models import catalog
from depthblur_cli.options import defaults
from depthblur_cli.pipeline.compose import blur_background, choose_focus, render_depth_blur
from depthblur_cli.pipeline.modelbox import ModelBox
from depthblur_cli.pipeline.options import BackgroundBlurOptions, DepthOptions, WriteOptions
from depthblur_cli.pipeline.outputs import OutputPlan
from depthblur_cli.pipeline.records import Clock, Record
from depthblur_cli.render import effects as fx

__all__ = [
    "ModelBox",
    "Rendered",
    "background_blur",
    "depth_blur",
    "estimate_depth",
    "load_input",
    "process_background_blur",
    "process_depth",
]


def _read_stdin() -> bytes:
    """Standard input, whole, up to :data:`~depthblur_cli.options.defaults.STDIN_MAX_BYTES`: InputError beyond."""
    data = sys.stdin.buffer.read(defaults.STDIN_MAX_BYTES + 1)
    if len(data) > defaults.STDIN_MAX_BYTES:
        raise InputError(f"standard input is over {defaults.STDIN_MAX_BYTES // 1_000_000} MB (give a file)", "-")
    return data


def load_input(path: str) -> codec.LoadedImage:
    """Decode an input photo ("-" reads stdin; a URL is fetched). Raises InputError."""
    if path == "-":
        return codec.load_image("-", data=_read_stdin())
    return codec.load_image(path)


def _side_path(output: str, suffix: str) -> str:
    """``out/cat.jpg`` -> ``out/cat.SUFFIX`` (string work: a URL keeps its ``//``)."""
    head, name = os.path.split(output)
    return os.path.join(head, f"{os.path.splitext(name)[0]}.{suffix}")


#: Input formats written back as they are; any other becomes PNG.
_KEPT_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")


def _write_main(plan: OutputPlan, image: codec.LoadedImage, rgb, alpha, write: WriteOptions, protected, record):
    """Write the result as planned: the input's format for standard input with nothing else to say,
    16 bits where the input had them and the format holds them (PNG, TIFF), grayscale for a grayscale
    input without transparency, EXIF unless stripped."""
    fmt = plan.fmt or (image.format if image.format in _KEPT_FORMATS else "PNG")
    if fmt == "JPEG" and alpha is not None and float(np.min(alpha)) < 1.0:
        if record.info.get("result") == "cutout":
            raise OutputError("JPEG cannot hold transparency; use --format png or webp", path=plan.path)
        record.warnings.append("JPEG has no alpha: transparent areas flattened onto white")
    exif = None if write.strip_metadata else image.exif
    if exif and fmt == "JPEG" and len(exif) > codec.JPEG_MAX_EXIF:
        record.warnings.append(f"EXIF of {len(exif)} bytes is too long for JPEG (64 KB): not kept")
        exif = None
    if image.gray and alpha is None and rgb.ndim == 3:
        gray = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # equal channels stay exactly themselves
        rgb = np.rint(gray).astype(np.uint8) if rgb.dtype == np.uint8 else gray
    codec.save_image(
        plan.path,
        rgb,
        alpha,
        fmt=fmt,
        quality=write.quality,
        png_compression=write.png_compression,
        bit_depth=image.bit_depth if fmt in ("PNG", "TIFF") else 8,
        icc_profile=image.icc_profile,
        exif=exif,
        overwrite=write.overwrite,
        protected=protected,
    )
    record.output = plan.path
    record.info["format"] = fmt


def _check_outputs(plan: OutputPlan, write: WriteOptions, protected, *, save_mask=False, save_depth=False) -> None:
    """Refuse, before any work, an output or side output that exists (without ``--overwrite``),
    is an input, or is not a regular file: so a re-run fails in a moment, and a side output's
    clash never leaves the main output written alone."""
    if plan.path == "-":
        return
    targets = [plan.path]
    if save_mask:
        targets.append(_side_path(plan.path, "mask.png"))
    if save_depth:
        targets += [_side_path(plan.path, "depth.png"), _side_path(plan.path, "depth-preview.png")]
    for target in targets:
        files.check_target(target, overwrite=write.overwrite, protected=protected)


def _write_mask(output: str, matte: np.ndarray, write: WriteOptions, protected, record: Record) -> None:
    if output == "-":
        record.warnings.append("--save-mask needs a file output (not stdout); mask not written")
        return
    path = _side_path(output, "mask.png")
    codec.save_image(  # grayscale
        path, matte, fmt="PNG", png_compression=write.png_compression, overwrite=write.overwrite, protected=protected
    )
    record.side_outputs.append(path)


@dataclass
class Rendered:
    """What one photo's job produced, before it is written.

    Attributes:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8 (an 8-bit photo's
            background blur or cutout), or (H, W) float32 for a matte
            written as grayscale (``--only-mask``).
        alpha: (H, W) float32 opacity 0..1, or None.
        matte: (H, W) float32 subject alpha 0..1, if one was computed.
        depth: the disparity used (``depth`` only).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    matte: np.ndarray | None = None
    depth: DepthResult | None = None


def background_blur(
    image: codec.LoadedImage,
    options: BackgroundBlurOptions,
    models: ModelBox,
    record: Record,
    clock: Clock | None = None,
    *,
    reuse_input: bool = False,
) -> Rendered:
    """``bokeh`` / ``gaussian`` / ``rembg-blur`` of a decoded photo.

    Args:
        image: the decoded photo.
        options: blur mode, radius, result kind.
        models: the models (the matting model is loaded on first use).
        record: receives what was done (``info``) and, with ``clock``, the
            stage timings.
        clock: times the stages "matte" and "render", or None.
        reuse_input: ``image.pixels`` may be overwritten by the result (the
            caller decoded it and needs it no more; see
            :func:`~depthblur_cli.pipeline.compose.blur_background`).

    Returns:
        the result and the matte.

    Raises:
        ModelError: the matting model cannot be had or fails.
    """
    w, h = image.size
    spec, _ = models.matte_session()
    matte = subject_matte(image, options, models.matte, record.warnings)  # 8-bit photos stay 8-bit
    if clock:
        clock.lap("matte")
    radius_px = options.radius_for(w, h)
    record.info.update(
        command=record.info.get("command", options.mode),
        result=options.result,
        width=w,
        height=h,
        radius_px=round(radius_px, 3),
        matte_model=spec.name,
    )
    if options.result == "mask":
        rgb, alpha = matte, None  # written as a one-channel grayscale image
    elif options.result == "cutout":
        rgb = image.pixels
        alpha = matte if image.alpha is None else matte * image.alpha
    else:
        rgb = blur_background(
            image.pixels,
            matte,
            radius_px,
            mode=options.mode,
            aperture=options.aperture,
            highlights=options.highlights,
            reuse_input=reuse_input,
        )
        alpha = image.alpha
    if clock:
        clock.lap("render")
    return Rendered(rgb, alpha, matte)


def process_background_blur(
    plan: OutputPlan,
    options: BackgroundBlurOptions,
    write: WriteOptions,
    models: ModelBox,
    protected=(),
    *,
    command: str | None = None,
) -> Record:
    """Run ``bokeh`` / ``gaussian`` / ``rembg-blur`` on one input and write it.

    Args:
        plan: the input and where its output goes (from ``plan_outputs``).
        options: blur mode, radius, result kind.
        write: output options.
        models: the batch's models.
        protected: paths never to overwrite (all inputs): a ProtectedFiles or paths.
        command: the subcommand's name for the report (default: the mode).

    Returns:
        the report record (status "ok").

    Raises:
        DepthblurError: bad input, unwritable output, model problems.
    """
    record = Record(input=plan.input)
    if command:
        record.info["command"] = command
    _check_outputs(plan, write, protected, save_mask=write.save_mask)  # before the work: an existing output fails fast
    clock = Clock(record)
    session = threads.submit(models.matte_session)  # the matting model loads while the photo decodes
    image = load_input(plan.input)
    session.result()  # its ModelError, if any, after the photo's own InputError
    clock.lap("load")
    result = background_blur(image, options, models, record, clock, reuse_input=True)
    _write_main(plan, image, result.rgb, result.alpha, write, protected, record)
    if write.save_mask and result.matte is not None:
        _write_mask(plan.path, result.matte, write, protected, record)
    clock.lap("write")
    clock.total()
    return record


def _depth_from_file(values: np.ndarray, path: str, options: DepthOptions, shape: tuple[int, int]) -> DepthResult:
    """The disparity of a depth file's ``values`` for an (H, W) image. Raises InputError naming ``path``."""
    try:
        disp, notes = disparity_from_values(values, options.depth_kind, shape)
    except ValueError as exc:
        raise InputError(str(exc), path=path) from None
    return DepthResult(disp, "file", [f"{path}: {n}" for n in notes])


def estimate_depth(
    image: codec.LoadedImage, options: DepthOptions, models: ModelBox, matte_fn: Callable[[], np.ndarray]
) -> DepthResult:
    """Dense disparity for a photo from the first available source.

    Order: ``depth_map`` file, ``stereo_right`` view, then as
    ``options.depth_source`` says (``auto``: all three in turn): the photo's
    own depth map (a HEIF depth image, upsampled guided by the photo), its
    own stereo pair (an Apple spatial photo), an explicit or cached depth
    model (Depth Anything V2 by default), else the bundled FastDepth network
    with the matte's subject in front
    (:func:`~depthblur_cli.estimation.disparity.disparity_with_subject_in_front`).
    An embedded source that cannot be used is named in the notes and the
    next is taken.

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
    w, h = image.size
    if options.depth_map:
        path = patterns.companion_path(options.depth_map, image.source)
        return _depth_from_file(depth_files.read_depth_file(path), path, options, (h, w))
    if options.stereo_right:
        path = patterns.companion_path(options.stereo_right, image.source, option="--stereo-right")
        right = codec.load_image(path)
        if right.pixels.shape != image.pixels.shape:
            raise InputError(
                f"right view is {right.size[0]}x{right.size[1]}, left is {w}x{h}; "
                "a rectified pair must have the same size",
                path=path,
            )
        return DepthResult(disparity_from_stereo(image.rgb, right.rgb), "stereo", [])
    notes: list[str] = []
    if options.depth_source in ("auto", "embedded"):
        embedded = embedded_disparity(image, notes)
        if embedded is not None:
            return embedded
    if options.depth_source in ("auto", "stereo") and image.stereo_right is not None:
        right_view = image.stereo_right
        if right_view.shape == image.pixels.shape:
            return DepthResult(disparity_from_stereo(image.rgb, to_float(right_view)), "stereo:spatial", notes)
        notes.append(f"{image.source}: the stereo pair's views differ in size: not used")
    elif options.depth_source == "stereo":
        notes.append(f"{image.source}: --depth-source stereo, but the photo is not a stereo pair")
    result = _depth_from_model(image, models, matte_fn)
    result.notes[:0] = notes
    return result


def _depth_from_model(image: codec.LoadedImage, models: ModelBox, matte_fn: Callable[[], np.ndarray]) -> DepthResult:
    """Disparity from the depth model (the cached default or the one asked for), else FastDepth with the matte."""
    found = models.depth_session()
    if found is not None:
        spec, session = found
        return DepthResult(disparity_from_model(image.pixels, session, spec), f"model:{spec.name}", [])
    spec, session = models.offline_depth_session()
    # The model reads the photo's own pixels (8-bit ones stay 8-bit for the render).
    disparity = disparity_with_subject_in_front(disparity_from_model(image.pixels, session, spec), matte_fn())
    return DepthResult(
        disparity,
        f"model:{spec.name}+matte",
        [
            f"depth from the small offline {spec.name} network; "
            f"for better depth: depthblur models pull {catalog.DEFAULT_DEPTH_MODEL}"
        ],
    )


def depth_blur(
    image: codec.LoadedImage,
    options: DepthOptions,
    models: ModelBox,
    record: Record,
    clock: Clock | None = None,
    *,
    depth: DepthResult | None = None,
    keep_depth: bool = True,
    keep_matte: bool = True,
) -> Rendered:
    """``depth`` (Depth Blur) of a decoded photo.

    Args:
        image: the decoded photo.
        options: depth sources, focus and effects.
        models: the models (loaded on first use).
        record: receives what was done, warnings and, with ``clock``, timings.
        clock: times the stages "matte", "depth" and "render", or None.
        depth: the disparity to use, or None to take it from the first
            source :func:`estimate_depth` finds.
        keep_depth: keep the disparity; False drops it before the render
            (a full-size float map less at the render's peak): the result's
            ``depth``, and ``depth`` if given, then hold an empty (0, 0)
            disparity.
        keep_matte: return the matte, if one was computed; False lets it
            go before the render (a full-size map less at its peak).

    Returns:
        the result, the matte if one was needed, and the depth used.

    Raises:
        InputError: unreadable depth map or right view.
        ModelError: a model cannot be had or fails.
    """
    w, h = image.size
    matte_cache: list[np.ndarray] = []

    def matte_fn() -> np.ndarray:
        if not matte_cache:
            start = time.perf_counter()
            matte_cache.append(subject_matte(image, options, models.matte, record.warnings))
            record.timings["matte"] = time.perf_counter() - start
            if clock:
                clock.last += record.timings["matte"]
        return matte_cache[0]

    result = estimate_depth(image, options, models, matte_fn) if depth is None else depth
    record.warnings.extend(result.notes)
    if clock:
        clock.lap("depth")
    needs_matte = options.focus_needs_matte
    estimated = result.source.startswith("stereo") or (
        result.source.startswith("model:") and "+matte" not in result.source
    )
    if needs_matte and estimated:
        # The subject is in focus: make its estimated depth agree with its
        # matte (a given depth file is the user's and is left alone).
        result.disparity = disparity_consistent_with_matte(result.disparity, matte_fn())
    signed, decision = choose_focus(result.disparity, options, matte_fn() if needs_matte else None, max(h, w))
    effects: dict[str, Any] = dict(options.effects.as_dict())
    disparity = airlight = None
    if options.effects.haze > 0:
        disparity = normalize_disparity(result.disparity)
        airlight = fx.estimate_airlight(srgb_to_linear(image.rgb), disparity)
        effects["airlight"] = [round(float(v), 4) for v in airlight]
    if not keep_depth:  # dropped from the result itself, which the caller may hold too
        result.disparity = np.empty((0, 0), np.float32)
    if not keep_matte:
        matte_cache.clear()
    # 8-bit pixels are decoded by the renderer strip by strip: no full-size float copy.
    rgb = render_depth_blur(image.pixels, signed, options, disparity=disparity, airlight=airlight)
    if clock:
        clock.lap("render")
    record.info.update(
        command="depth",
        width=w,
        height=h,
        depth_source=result.source,
        focus={"method": decision.method, "disparity": round(decision.focus, 5), "band": round(decision.band, 5)},
        max_coc_px=round(decision.max_radius, 3),
    )
    if effects:
        record.info["effects"] = effects
    if models.loaded_matte_model is not None:
        record.info["matte_model"] = models.loaded_matte_model
    return Rendered(rgb, image.alpha, matte_cache[0] if matte_cache else None, result)


def process_depth(
    plan: OutputPlan, options: DepthOptions, write: WriteOptions, models: ModelBox, protected=()
) -> Record:
    """Run ``depth`` (Depth Blur) on one input and write it.

    Args:
        plan: the input and where its output goes.
        options: depth sources and focus controls.
        write: output options.
        models: the batch's models.
        protected: paths never to overwrite (all inputs): a ProtectedFiles or paths.

    Returns:
        the report record.

    Raises:
        DepthblurError: bad input or depth map, unwritable output, model problems.
    """
    record = Record(input=plan.input)
    # The depth map and right view of this photo are inputs too: never written.
    companions = (("--depth-map", options.depth_map), ("--stereo-right", options.stereo_right))
    paths = (patterns.companion_path(t, plan.input, option=o) for o, t in companions if t)
    protected = files.ProtectedFiles(paths, parent=files.as_protected(protected))
    _check_outputs(plan, write, protected, save_mask=write.save_mask, save_depth=write.save_depth)
    clock = Clock(record)
    # A depth file is decoded on the thread pool while the photo is (both release the GIL).
    depth_path = patterns.companion_path(options.depth_map, plan.input) if options.depth_map else None
    reading = threads.submit(depth_files.read_depth_file, depth_path) if depth_path else None
    image = load_input(plan.input)
    clock.lap("load")
    depth = None
    if reading is not None and depth_path is not None:
        values, reading = reading.result(), None  # the future would keep the raw values through the render
        depth = _depth_from_file(values, depth_path, options, image.pixels.shape[:2])
        del values
    # Without --save-depth (--save-mask) the render's peak holds no disparity map (matte).
    result = depth_blur(
        image, options, models, record, clock, depth=depth, keep_depth=write.save_depth, keep_matte=write.save_mask
    )
    _write_main(plan, image, result.rgb, result.alpha, write, protected, record)
    if write.save_mask:
        matte = result.matte if result.matte is not None else subject_matte(image, options, models.matte)
        _write_mask(plan.path, matte, write, protected, record)
    if write.save_depth and result.depth is not None:
        if plan.path == "-":
            record.warnings.append("--save-depth needs a file output (not stdout); depth not written")
        else:
            for suffix, writer in (
                ("depth.png", depth_files.save_depth_png16),
                ("depth-preview.png", depth_files.save_depth_preview),
            ):
                path = _side_path(plan.path, suffix)
                writer(path, result.depth.disparity, overwrite=write.overwrite, protected=protected)
                record.side_outputs.append(path)
    clock.lap("write")
    clock.total()
    return record
