"""``depth``: Photoshop's Depth Blur — per-pixel lens blur from a depth map around a focus."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from depthblur_cli.cli.app import BatchSettings, GroupedCommand, app, fail, run_images, write_options
from depthblur_cli.cli.background import aperture
from depthblur_cli.cli.params import (
    HIGHLIGHT_THRESHOLD,
    HIGHLIGHTS,
    MATTE_MODEL,
    BladesOpt,
    CurvatureOpt,
    HighlightsOpt,
    Inputs,
    MaskOpt,
    ModelOpt,
    RotationOpt,
    SubjectBoxOpt,
    ThresholdOpt,
    _subject_box,
    schema_option,
    with_shared_options,
)
from depthblur_cli.errors import DepthblurError
from depthblur_cli.options import photoshop, schema


def _parse_point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"expected X,Y such as 0.5,0.4, got {value!r}", param_hint="--focal-selector"
        ) from None
    try:
        return schema.check("focal_point", (x, y), "X and Y")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--focal-selector") from None


def _ps(name: str):
    """The flag of a Photoshop Depth Blur option, from its one description (``options.photoshop.OPTIONS``)."""
    spec = photoshop.BY_NAME[name]
    return schema_option(spec.key, "N", help=f"{name}: {spec.meaning}.", integer=True)


def _ps_default(name: str) -> int:
    """The API's default of a Photoshop Depth Blur option."""
    return int(photoshop.BY_NAME[name].default)


def _ext(key: str, metavar: str):
    """An extension beyond the Photoshop options, from its one description (``options.schema.OPTIONS``)."""
    spec = schema.BY_KEY[key]
    return schema_option(key, metavar, help=f"[extension] {spec.meaning[0].upper()}{spec.meaning[1:]}.")


def _given(ctx: typer.Context, param: str) -> bool:
    """Whether a parameter was given on the command line (not its default)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name == "COMMANDLINE"


def _warn(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


DEPTH_EXAMPLES = """Examples:

\b
  depthblur depth portrait.jpg --focus-subject --blur-strength 70
  depthblur depth scene.jpg --depth-map scene.depth.png --focal-selector 0.3,0.6
  depthblur depth left.png --stereo-right right.png --focal-distance 20
  depthblur depth photo.jpg --ps-options '{"haze": 25, "blurStrength": 30, "focalSelector": {"x": 0.22, "y": 0.33}}'
  depthblur depth photo.jpg --ps-output '{"type": "image/jpeg", "quality": 7}' --save-depth
"""


@app.command(
    cls=GroupedCommand,
    epilog=DEPTH_EXAMPLES,
    short_help="Depth Blur (Photoshop depthBlur): lens blur from depth around a focus.",
)
@with_shared_options()
def depth(
    ctx: typer.Context,
    inputs: Inputs,
    focal_distance: Annotated[int, _ps("focalDistance")] = _ps_default("focalDistance"),
    focal_range: Annotated[int, _ps("focalRange")] = _ps_default("focalRange"),
    focal_selector: Annotated[
        str | None,
        typer.Option(
            "--focal-selector",
            "--focal-point",
            metavar="X,Y",
            help="focalSelector: focus on the depth at X,Y (fractions 0..1 of width and height); wins over the others.",
        ),
    ] = None,
    focus_subject: Annotated[
        bool,
        typer.Option(
            "--focus-subject", help="focusSubject: focus on the most prominent subject; overrides --focal-distance."
        ),
    ] = False,
    blur_strength: Annotated[int, _ps("blurStrength")] = _ps_default("blurStrength"),
    haze: Annotated[int, _ps("haze")] = _ps_default("haze"),
    temp: Annotated[int, _ps("temp")] = _ps_default("temp"),
    tint: Annotated[int, _ps("tint")] = _ps_default("tint"),
    saturation: Annotated[int, _ps("saturation")] = _ps_default("saturation"),
    brightness: Annotated[int, _ps("brightness")] = _ps_default("brightness"),
    grain: Annotated[int, _ps("grain")] = _ps_default("grain"),
    ps_options: Annotated[
        str | None,
        typer.Option(
            "--ps-options",
            metavar="JSON|@FILE",
            help="Photoshop API's options object (DepthBlurDetails) verbatim; flags given beside it win.",
        ),
    ] = None,
    ps_output: Annotated[
        str | None,
        typer.Option(
            "--ps-output",
            metavar="JSON|@FILE",
            help="Photoshop API's outputs entry: type (image/jpeg|png|tiff), quality 1..7, "
            "compression small|medium|large.",
        ),
    ] = None,
    depth_map: Annotated[
        str | None,
        typer.Option(
            "--depth-map",
            metavar="FILE",
            help="[extension] Depth or disparity file (8/16-bit PNG, TIFF, .npy, .npz); "
            "a pattern like 'depth/{stem}.png' for many inputs.",
        ),
    ] = None,
    depth_kind: Annotated[
        Literal["disparity", "depth"],
        typer.Option(
            "--depth-kind",
            metavar="KIND",
            case_sensitive=False,
            help="[extension] What --depth-map holds: 'disparity' (larger = nearer) or 'depth' (larger = farther).",
        ),
    ] = "disparity",
    stereo_right: Annotated[
        str | None,
        typer.Option(
            "--stereo-right",
            metavar="FILE",
            help="[extension] Right view of a rectified stereo pair (the input is the left view); "
            "a pattern for many inputs.",
        ),
    ] = None,
    subject_box: SubjectBoxOpt = None,
    mask: MaskOpt = None,
    depth_source: Annotated[
        Literal["auto", "embedded", "stereo", "model"],
        typer.Option(
            "--depth-source",
            metavar="SOURCE",
            case_sensitive=False,
            help="[extension] Where depth comes from when neither --depth-map nor --stereo-right is given: "
            "'auto' (the photo's own depth, then its stereo pair, then a model), 'embedded', 'stereo' "
            "(a spatial photo's pair) or 'model'.",
        ),
    ] = "auto",
    depth_model: Annotated[
        str | None,
        typer.Option(
            "--depth-model",
            metavar="NAME|PATH",
            help="[extension] Monocular depth model: catalog name or .onnx path. "
            "Default: depth-anything-v2-small if cached, else the bundled fastdepth.",
        ),
    ] = None,
    focus_disparity: Annotated[
        float | None,
        _ext("focus_disparity", "D"),
    ] = None,
    coc_scale: Annotated[
        float | None,
        _ext("coc_scale", "K"),
    ] = None,
    seed: Annotated[int, _ext("seed", "N")] = 0,
    blades: BladesOpt = 0,
    blade_rotation: RotationOpt = 0.0,
    blade_curvature: CurvatureOpt = 0.0,
    highlights: HighlightsOpt = HIGHLIGHTS,
    highlight_threshold: ThresholdOpt = HIGHLIGHT_THRESHOLD,
    model: ModelOpt = MATTE_MODEL,
    save_depth: Annotated[
        bool,
        typer.Option(
            "--save-depth", help="Also write the disparity (16-bit <stem>.depth.png) and a false-colour preview."
        ),
    ] = False,
    shared: dict | None = None,
) -> None:
    """Depth Blur (Photoshop depthBlur): per-pixel lens blur from a depth map
    around a focal point, a focal distance or the main subject, with haze,
    grain and colour controls. The Photoshop API's options come first, with
    its names, ranges and defaults; [extension] marks what it does not have.

    IMAGE: image files, directories, glob patterns ('**/*.jpg'), or '-' for
    one image on stdin."""
    from depthblur_cli.imaging.patterns import COMPANION_FIELDS, check_pattern
    from depthblur_cli.pipeline.options import DepthOptions
    from depthblur_cli.render.effects import Effects
    from depthblur_cli.render.highlights import Highlights

    assert shared is not None
    if (focus_disparity is None) != (coc_scale is None):
        raise typer.BadParameter("--focus-disparity and --coc-scale go together", param_hint="--coc-scale")
    values: dict[str, Any] = {
        "focal_distance": focal_distance, "focal_range": focal_range, "focal_selector": _parse_point(focal_selector),
        "focus_subject": focus_subject, "blur_strength": blur_strength, "haze": haze, "temp": temp, "tint": tint,
        "saturation": saturation, "brightness": brightness, "grain": grain,
    }  # fmt: skip
    try:
        for option, value in (("--depth-map", depth_map), ("--stereo-right", stereo_right)):
            if value and "{" in value:
                check_pattern(value, option=option, fields=COMPANION_FIELDS)
        if ps_options is not None:
            for key, value in photoshop.parse_options(ps_options).items():
                spec = photoshop.BY_NAME[key]
                param = spec.flag.removeprefix("--").replace("-", "_")
                if _given(ctx, param):
                    _warn(f"{spec.flag} given: it wins over {key} from --ps-options")
                else:
                    values[param] = value
        if ps_output is not None:
            out_settings = photoshop.parse_output(ps_output)
            if out_settings.fmt is not None:
                if _given(ctx, "fmt"):
                    _warn("--format given: it wins over type from --ps-output")
                else:
                    shared["fmt"] = out_settings.fmt
            if out_settings.quality is not None:
                if _given(ctx, "quality"):
                    _warn("--quality given: it wins over quality from --ps-output")
                else:
                    shared["quality"] = out_settings.quality
            if out_settings.png_compression is not None:
                if _given(ctx, "png_compression"):
                    _warn("--png-compression given: it wins over compression from --ps-output")
                else:
                    shared["png_compression"] = out_settings.png_compression
    except DepthblurError as exc:
        fail(exc)
    if values["focal_selector"] is not None and values["focus_subject"]:
        _warn("--focal-selector and --focus-subject both given: the focal selector wins")
    elif values["focus_subject"] and (_given(ctx, "focal_distance") or (ps_options and "focalDistance" in ps_options)):
        _warn("--focus-subject overrides --focal-distance (as Photoshop's focusSubject does)")
    if depth_map and stereo_right:
        _warn("--depth-map and --stereo-right both given: the depth map wins")
    if coc_scale is not None and any(_given(ctx, p) for p in ("focal_distance", "focal_range", "blur_strength")):
        _warn("--focus-disparity and --coc-scale give the blur in raw units: the focus sliders are ignored")
    options = DepthOptions(
        depth_map=depth_map,
        depth_kind=depth_kind,
        stereo_right=stereo_right,
        depth_source=depth_source.lower(),
        subject_box=_subject_box(subject_box),
        mask=mask,
        depth_model=depth_model,
        focal_point=values["focal_selector"],
        focus_subject=values["focus_subject"],
        focal_distance=values["focal_distance"],
        focal_range=values["focal_range"],
        blur_strength=values["blur_strength"],
        focus_disparity=focus_disparity,
        coc_scale=coc_scale,
        aperture=aperture(blades, blade_rotation, blade_curvature),
        highlights=Highlights.from_amount(highlights, highlight_threshold),
        effects=Effects(
            haze=values["haze"], grain=values["grain"], seed=seed, temp=values["temp"], tint=values["tint"],
            saturation=values["saturation"], brightness=values["brightness"],
        ),
    )  # fmt: skip
    write = write_options(shared, save_depth=save_depth)
    settings = BatchSettings.from_params(shared)
    companions = (("--depth-map", depth_map), ("--stereo-right", stereo_right), ("--mask", mask))
    run_images("depth", inputs, settings, options, write, matte_model=model, depth_model=depth_model,
               companions=companions)  # fmt: skip
