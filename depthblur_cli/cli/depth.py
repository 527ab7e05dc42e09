"""``depth``: Photoshop's Depth Blur — per-pixel lens blur from a depth map around a focus."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from depthblur_cli import defaults
from depthblur_cli.cli.app import app, fail, run_images
from depthblur_cli.cli.background import aperture
from depthblur_cli.cli.params import (
    HIGHLIGHT_THRESHOLD,
    HIGHLIGHTS,
    MATTE_MODEL,
    QUALITY,
    BladesOpt,
    CurvatureOpt,
    FormatOpt,
    HighlightsOpt,
    Inputs,
    JsonOpt,
    ModelOpt,
    OfflineOpt,
    OutputOpt,
    OverwriteOpt,
    QualityOpt,
    QuietOpt,
    RotationOpt,
    SaveMaskOpt,
    ThresholdOpt,
    finite,
)
from depthblur_cli.errors import DepthblurError

#: Largest raw ``--coc-scale`` (pixels of CoC per unit of disparity) and
#: ``--focus-disparity`` magnitude: far past any real map's units.
MAX_COC_SCALE = 1e6
MAX_RAW_DISPARITY = 1e9


def _parse_point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected X,Y such as 0.5,0.4, got {value!r}", param_hint="--focal-point") from None
    if not (0 <= x <= 1 and 0 <= y <= 1):  # also refuses nan
        raise typer.BadParameter(f"X and Y must be in 0..1, got {value!r}", param_hint="--focal-point")
    return x, y


def _slider(name: str, text: str, low: float = 0.0, high: float = 100.0, metavar: str = "V"):
    return typer.Option(name, metavar=metavar, parser=finite(low, high), help=text)


DEPTH_EXAMPLES = """Examples:

\b
  depthblur depth portrait.jpg --focus-subject --blur-strength 70
  depthblur depth scene.jpg --depth-map scene.depth.png --focal-point 0.3,0.6
  depthblur depth left.png --stereo-right right.png --focal-distance 20
  depthblur depth photo.jpg --haze 30 --grain 20 --temp 15 --save-depth
"""


@app.command(epilog=DEPTH_EXAMPLES, short_help="Depth Blur (Photoshop depthBlur): lens blur from depth around a focus.")
def depth(
    inputs: Inputs,
    depth_map: Annotated[
        str | None,
        typer.Option(
            "--depth-map",
            metavar="FILE",
            help="Depth or disparity file (8/16-bit PNG, TIFF, .npy, .npz); "
            "a pattern like 'depth/{stem}.png' for many inputs.",
        ),
    ] = None,
    depth_kind: Annotated[
        Literal["disparity", "depth"],
        typer.Option(
            "--depth-kind",
            metavar="KIND",
            case_sensitive=False,
            help="What --depth-map holds: 'disparity' (larger = nearer) or 'depth' (larger = farther).",
        ),
    ] = "disparity",
    stereo_right: Annotated[
        str | None,
        typer.Option(
            "--stereo-right",
            metavar="FILE",
            help="Right view of a rectified stereo pair (the input is the left view); a pattern for many inputs.",
        ),
    ] = None,
    depth_model: Annotated[
        str | None,
        typer.Option(
            "--depth-model",
            metavar="NAME|PATH",
            help="Monocular depth model: catalog name or .onnx path. Default: depth-anything-v2-small if cached.",
        ),
    ] = None,
    focal_point: Annotated[
        str | None,
        typer.Option(
            "--focal-point", metavar="X,Y", help="Focus on the point X,Y (fractions 0..1 of width and height)."
        ),
    ] = None,
    focus_subject: Annotated[
        bool,
        typer.Option(
            "--focus-subject", help="Focus on the most prominent subject (the default when no focus is given)."
        ),
    ] = False,
    focal_distance: Annotated[
        float | None, _slider("--focal-distance", "Focus distance 0 (nearest) .. 100 (farthest).")
    ] = None,
    focal_range: Annotated[
        float, _slider("--focal-range", "Width of the sharp band around the focus, 0..100.")
    ] = defaults.FOCAL_RANGE,
    blur_strength: Annotated[
        float, _slider("--blur-strength", "Blur strength 0..100; 100 = largest blur radius 3% of the longer side.")
    ] = defaults.BLUR_STRENGTH,
    focus_disparity: Annotated[
        float | None,
        _slider(
            "--focus-disparity",
            "Raw units: focus at this disparity (in the depth map's own units). Needs --coc-scale.",
            -MAX_RAW_DISPARITY,
            MAX_RAW_DISPARITY,
            "D",
        ),
    ] = None,
    coc_scale: Annotated[
        float | None,
        _slider("--coc-scale", "Raw units: CoC radius in px = K * |d - focus disparity|.", 0.0, MAX_COC_SCALE, "K"),
    ] = None,
    blades: BladesOpt = 0,
    blade_rotation: RotationOpt = 0.0,
    blade_curvature: CurvatureOpt = 0.0,
    highlights: HighlightsOpt = HIGHLIGHTS,
    highlight_threshold: ThresholdOpt = HIGHLIGHT_THRESHOLD,
    haze: Annotated[
        float,
        _slider(
            "--haze",
            "Atmospheric haze 0..100, growing with distance (none at the nearest point); "
            "100 = the farthest point keeps 14% of its light.",
        ),
    ] = 0.0,
    grain: Annotated[
        float,
        _slider(
            "--grain",
            "Film grain 0..100 added after the blur, strongest in mid-tones; 100 = std 0.08 of full scale in mid-grey.",
        ),
    ] = 0.0,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", metavar="N", min=0, max=2**32 - 1, help="Seed of the grain (same seed and size, same grain)."
        ),
    ] = 0,
    temp: Annotated[
        float,
        _slider(
            "--temp",
            "White balance -100..100: > 0 warmer (red up, blue down; 100 = red/blue x2), < 0 cooler.",
            -100,
            100,
        ),
    ] = 0.0,
    tint: Annotated[
        float,
        _slider("--tint", "Tint -100..100: > 0 magenta, < 0 green (100 = green gain down half a stop).", -100, 100),
    ] = 0.0,
    saturation: Annotated[
        float,
        _slider(
            "--saturation",
            "Saturation -100..100: chroma x (1 + S/100); -100 = greyscale, 100 = twice the chroma.",
            -100,
            100,
        ),
    ] = 0.0,
    brightness: Annotated[
        float,
        _slider(
            "--brightness",
            "Brightness -100..100: midtone gamma x^(2^(-B/100)) in linear light; black and white stay.",
            -100,
            100,
        ),
    ] = 0.0,
    model: ModelOpt = MATTE_MODEL,
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    quality: QualityOpt = QUALITY,
    save_mask: SaveMaskOpt = False,
    save_depth: Annotated[
        bool,
        typer.Option(
            "--save-depth", help="Also write the disparity (16-bit <stem>.depth.png) and a false-colour preview."
        ),
    ] = False,
    overwrite: OverwriteOpt = False,
    offline: OfflineOpt = False,
    json_lines: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Depth Blur (Photoshop depthBlur): per-pixel lens blur from a depth map
    around a focal point, a focal distance or the main subject, with haze,
    grain and colour controls (all 0 = off by default).

    IMAGE: image files, directories, glob patterns ('**/*.jpg'), or '-' for
    one image on stdin."""
    from depthblur_cli.effects import Effects
    from depthblur_cli.options import DepthOptions, WriteOptions
    from depthblur_cli.outputs import COMPANION_FIELDS, check_pattern
    from depthblur_cli.pipeline import ModelBox, process_depth
    from depthblur_cli.render.highlights import Highlights

    if (focus_disparity is None) != (coc_scale is None):
        raise typer.BadParameter("--focus-disparity and --coc-scale go together", param_hint="--coc-scale")
    try:
        for option, value in (("--depth-map", depth_map), ("--stereo-right", stereo_right)):
            if value and "{" in value:
                check_pattern(value, option=option, fields=COMPANION_FIELDS)
    except DepthblurError as exc:
        fail(exc)
    options = DepthOptions(
        depth_map=depth_map,
        depth_kind=depth_kind,
        stereo_right=stereo_right,
        depth_model=depth_model,
        focal_point=_parse_point(focal_point),
        focus_subject=focus_subject,
        focal_distance=focal_distance,
        focal_range=focal_range,
        blur_strength=blur_strength,
        focus_disparity=focus_disparity,
        coc_scale=coc_scale,
        aperture=aperture(blades, blade_rotation, blade_curvature),
        highlights=Highlights.from_amount(highlights, highlight_threshold),
        effects=Effects(
            haze=haze, grain=grain, seed=seed, temp=temp, tint=tint, saturation=saturation, brightness=brightness
        ),
    )
    write = WriteOptions(quality=quality, overwrite=overwrite, save_mask=save_mask, save_depth=save_depth)
    models = ModelBox(model, depth_model, allow_download=not offline, progress=not quiet)

    def factory(paths):
        return lambda plan: process_depth(plan, options, write, models, protected=paths)

    run_images("depth", inputs, output, fmt, None, json_lines, quiet, factory)
