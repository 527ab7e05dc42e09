"""The ``depthblur`` command line: a thin layer over the pipeline.

Heavy modules (OpenCV, onnxruntime, SciPy) are imported inside the
commands, so ``depthblur --help`` starts fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from depthblur_cli import __version__
from depthblur_cli.errors import EXIT_USAGE, DepthblurError
from depthblur_cli.memory import keep_freed_memory

app = typer.Typer(
    name="depthblur",
    help=(
        "Put a photo's background out of focus the way a fast lens would. "
        "Local and offline: subject matting, depth, lens blur."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: "Error: Invalid value for ..." (easy to grep in CI logs)
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List, download and locate the models.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")

# ---------------------------------------------------------------------------
# Shared options
# ---------------------------------------------------------------------------

Inputs = Annotated[
    list[str],
    typer.Argument(metavar="IMAGE", help="Image files, directories or glob patterns ('-' reads one image from stdin).", show_default=False),
]
OutputOpt = Annotated[
    Optional[str],
    typer.Option(
        "-o", "--output",
        help="Output file (one input), directory, or pattern with {stem} {name} {ext} {command} {parent}; "
        "'-' is stdout. Default: next to the input as {stem}.{command}.{ext}.",
    ),
]
FormatOpt = Annotated[Optional[str], typer.Option("--format", help="Output format: jpg, png, webp (default: the input's).")]
QualityOpt = Annotated[int, typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality.")]
SaveMaskOpt = Annotated[bool, typer.Option("--save-mask", help="Also write the subject matte as <output stem>.mask.png.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (inputs are never replaced).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON line per image (input, output, status, timings, models, errors).")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print errors only.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never download models; use only bundled or cached ones.")]
ModelOpt = Annotated[str, typer.Option("-m", "--model", help="Matting model: a catalog name (see 'depthblur models list') or an .onnx path.")]
BladesOpt = Annotated[int, typer.Option("--blades", help="Aperture blades: 0 = round disc, or 5..9 for a polygon.")]
RotationOpt = Annotated[float, typer.Option("--blade-rotation", help="Aperture polygon rotation, degrees.")]
CurvatureOpt = Annotated[float, typer.Option("--blade-curvature", min=0.0, max=1.0, help="Blade curvature: 0 = straight (polygon) .. 1 = circle.")]
HighlightsOpt = Annotated[float, typer.Option("--highlights", min=0.0, max=100.0, help="Specular highlight boost 0..100: bright points bloom into bright discs.")]
ThresholdOpt = Annotated[float, typer.Option("--highlight-threshold", min=0.0, max=1.0, help="sRGB brightness 0..1 above which highlights are boosted.")]

#: --highlights 100 multiplies a clipped pixel's light by 1 + this.
HIGHLIGHT_GAIN_AT_100 = 12.0


def _fail(error: DepthblurError) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


def _aperture(blades: int, rotation: float, curvature: float):
    from depthblur_cli.render.kernels import Aperture

    if blades != 0 and not 5 <= blades <= 9:
        raise typer.BadParameter("use 0 (round) or 5..9 blades", param_hint="--blades")
    return Aperture(blades=blades, rotation=rotation, curvature=curvature if blades else 1.0)


def _highlights(amount: float, threshold: float):
    from depthblur_cli.render.highlights import Highlights

    return Highlights(gain=amount / 100.0 * HIGHLIGHT_GAIN_AT_100, threshold=threshold)


def _run(
    command: str,
    inputs: list[str],
    output: str | None,
    fmt: str | None,
    default_fmt: str | None,
    json_lines: bool,
    quiet: bool,
    process_factory,
) -> None:
    """Expand inputs, plan outputs, run the batch, exit with its code."""
    from depthblur_cli.batch import run_batch
    from depthblur_cli.outputs import expand_inputs, plan_outputs

    try:
        paths, early = expand_inputs(inputs)
        plans = plan_outputs(paths, output, command=command, fmt=fmt, default_fmt=default_fmt) if paths else []
        process = process_factory(paths)
    except DepthblurError as exc:
        _fail(exc)
    if not plans and not early:
        typer.echo("error: no input images", err=True)
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(run_batch(plans, process, early_errors=early, json_lines=json_lines, quiet=quiet))


def _write_options(quality: int, overwrite: bool, save_mask: bool, save_depth: bool = False):
    from depthblur_cli.options import WriteOptions

    return WriteOptions(quality=quality, overwrite=overwrite, save_mask=save_mask, save_depth=save_depth)


def _background_command(command, inputs, options, write, model, offline, output, fmt, default_fmt, json_lines, quiet):
    from depthblur_cli.pipeline import ModelBox, process_background_blur

    models = ModelBox(model, allow_download=not offline, progress=not quiet)

    def factory(paths):
        return lambda plan: process_background_blur(plan, options, write, models, protected=paths)

    _run(command, inputs, output, fmt, default_fmt, json_lines, quiet, factory)


def _radius_options(radius: float | None, radius_px: float | None) -> tuple[float | None, float | None]:
    if radius_px is not None and radius is not None:
        raise typer.BadParameter("give --radius or --radius-px, not both", param_hint="--radius-px")
    if radius is not None and not 0 < radius <= 0.05:
        raise typer.BadParameter(f"{radius} is not in the range 0 < r <= 0.05", param_hint="--radius")
    if radius_px is not None and radius_px <= 0:
        raise typer.BadParameter(f"{radius_px} must be > 0", param_hint="--radius-px")
    return (0.01 if radius is None and radius_px is None else radius), radius_px


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------

RadiusFraction = Annotated[
    Optional[float],
    typer.Option("--radius", max=0.05,
                 help="Blur radius as a fraction of the longer image side, 0 < r <= 0.05 [default: 0.01]."),
]
RadiusPx = Annotated[Optional[float], typer.Option("--radius-px", help="Blur radius in pixels (instead of --radius).")]


@app.command()
def bokeh(
    inputs: Inputs,
    radius: RadiusFraction = None,
    radius_px: RadiusPx = None,
    blades: BladesOpt = 0,
    blade_rotation: RotationOpt = 0.0,
    blade_curvature: CurvatureOpt = 0.0,
    highlights: HighlightsOpt = 25.0,
    highlight_threshold: ThresholdOpt = 0.92,
    model: ModelOpt = "u2netp",
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    quality: QualityOpt = 95,
    save_mask: SaveMaskOpt = False,
    overwrite: OverwriteOpt = False,
    offline: OfflineOpt = False,
    json_lines: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Lens-blur the background (Photoroom mode=bokeh): the subject stays sharp,
    the background gets a disc (or polygon) blur in linear light, and bright
    points bloom into bokeh discs."""
    from depthblur_cli.options import BackgroundBlurOptions

    r, rpx = _radius_options(radius, radius_px)
    options = BackgroundBlurOptions(
        mode="bokeh", radius=r, radius_px=rpx,
        aperture=_aperture(blades, blade_rotation, blade_curvature),
        highlights=_highlights(highlights, highlight_threshold),
    )
    _background_command("bokeh", inputs, options, _write_options(quality, overwrite, save_mask),
                        model, offline, output, fmt, None, json_lines, quiet)


@app.command()
def gaussian(
    inputs: Inputs,
    radius: RadiusFraction = None,
    radius_px: RadiusPx = None,
    model: ModelOpt = "u2netp",
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    quality: QualityOpt = 95,
    save_mask: SaveMaskOpt = False,
    overwrite: OverwriteOpt = False,
    offline: OfflineOpt = False,
    json_lines: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Gaussian-blur the background (Photoroom mode=gaussian): the subject stays
    sharp; the radius is the Gaussian's standard deviation."""
    from depthblur_cli.options import BackgroundBlurOptions

    r, rpx = _radius_options(radius, radius_px)
    options = BackgroundBlurOptions(mode="gaussian", radius=r, radius_px=rpx)
    _background_command("gaussian", inputs, options, _write_options(quality, overwrite, save_mask),
                        model, offline, output, fmt, None, json_lines, quiet)


@app.command("rembg-blur")
def rembg_blur(
    inputs: Inputs,
    radius: Annotated[int, typer.Option("--radius", min=1, max=50, help="Blur radius in pixels, 1..50 (Gaussian sigma).")] = 10,
    cutout: Annotated[bool, typer.Option("--cutout", help="Write the subject on transparency instead (rembg's job).")] = False,
    only_mask: Annotated[bool, typer.Option("--only-mask", help="Write the matte (grayscale) instead.")] = False,
    model: ModelOpt = "u2netp",
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    quality: QualityOpt = 95,
    save_mask: SaveMaskOpt = False,
    overwrite: OverwriteOpt = False,
    offline: OfflineOpt = False,
    json_lines: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """fapihub rembg/blur: segment the subject, Gaussian-blur the background by
    an integer radius in pixels; PNG out by default."""
    from depthblur_cli.options import BackgroundBlurOptions

    if cutout and only_mask:
        raise typer.BadParameter("give --cutout or --only-mask, not both", param_hint="--only-mask")
    result = "cutout" if cutout else "mask" if only_mask else "blur"
    options = BackgroundBlurOptions(mode="gaussian", radius=None, radius_px=float(radius), result=result)
    _background_command("rembg-blur", inputs, options, _write_options(quality, overwrite, save_mask),
                        model, offline, output, fmt, "PNG", json_lines, quiet)


def _parse_point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected X,Y such as 0.5,0.4, got {value!r}", param_hint="--focal-point") from None
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise typer.BadParameter(f"X and Y must be in 0..1, got {value!r}", param_hint="--focal-point")
    return x, y


Slider = lambda name, text: typer.Option(name, min=0.0, max=100.0, help=text)  # noqa: E731
SignedSlider = lambda name, text: typer.Option(name, min=-100.0, max=100.0, help=text)  # noqa: E731


@app.command()
def depth(
    inputs: Inputs,
    depth_map: Annotated[Optional[str], typer.Option("--depth-map", help="Depth or disparity file (8/16-bit PNG, TIFF, .npy); a pattern like 'depth/{stem}.png' for many inputs.")] = None,
    depth_kind: Annotated[str, typer.Option("--depth-kind", help="What --depth-map holds: 'disparity' (larger = nearer) or 'depth' (larger = farther).")] = "disparity",
    stereo_right: Annotated[Optional[str], typer.Option("--stereo-right", help="Right view of a rectified stereo pair (the input is the left view); a pattern for many inputs.")] = None,
    depth_model: Annotated[Optional[str], typer.Option("--depth-model", help="Monocular depth model: catalog name or .onnx path. Default: depth-anything-v2-small if cached.")] = None,
    focal_point: Annotated[Optional[str], typer.Option("--focal-point", help="Focus on the point X,Y (fractions 0..1 of width and height).")] = None,
    focus_subject: Annotated[bool, typer.Option("--focus-subject", help="Focus on the most prominent subject (the default when no focus is given).")] = False,
    focal_distance: Annotated[Optional[float], Slider("--focal-distance", "Focus distance 0 (nearest) .. 100 (farthest).")] = None,
    focal_range: Annotated[float, Slider("--focal-range", "Width of the sharp band around the focus, 0..100.")] = 10.0,
    blur_strength: Annotated[float, Slider("--blur-strength", "Blur strength 0..100; 100 = largest blur radius 3% of the longer side.")] = 50.0,
    focus_disparity: Annotated[Optional[float], typer.Option("--focus-disparity", help="Raw units: focus at this disparity (in the depth map's own units). Needs --coc-scale.")] = None,
    coc_scale: Annotated[Optional[float], typer.Option("--coc-scale", min=0.0, help="Raw units: CoC radius in px = K * |d - focus disparity|.")] = None,
    blades: BladesOpt = 0,
    blade_rotation: RotationOpt = 0.0,
    blade_curvature: CurvatureOpt = 0.0,
    highlights: HighlightsOpt = 25.0,
    highlight_threshold: ThresholdOpt = 0.92,
    haze: Annotated[float, Slider("--haze", "Atmospheric haze 0..100, growing with distance (none at the nearest point); "
                                  "100 = the farthest point keeps 14% of its light.")] = 0.0,
    grain: Annotated[float, Slider("--grain", "Film grain 0..100 added after the blur, strongest in mid-tones; "
                                   "100 = std 0.08 of full scale in mid-grey.")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the grain (same seed and size, same grain).")] = 0,
    temp: Annotated[float, SignedSlider("--temp", "White balance -100..100: > 0 warmer (red up, blue down; "
                                        "100 = red/blue x2), < 0 cooler.")] = 0.0,
    tint: Annotated[float, SignedSlider("--tint", "Tint -100..100: > 0 magenta, < 0 green "
                                        "(100 = green gain down half a stop).")] = 0.0,
    saturation: Annotated[float, SignedSlider("--saturation", "Saturation -100..100: chroma x (1 + S/100); "
                                              "-100 = greyscale, 100 = twice the chroma.")] = 0.0,
    brightness: Annotated[float, SignedSlider("--brightness", "Brightness -100..100: midtone gamma "
                                              "x^(2^(-B/100)) in linear light; black and white stay.")] = 0.0,
    model: ModelOpt = "u2netp",
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    quality: QualityOpt = 95,
    save_mask: SaveMaskOpt = False,
    save_depth: Annotated[bool, typer.Option("--save-depth", help="Also write the disparity (16-bit <stem>.depth.png) and a false-colour preview.")] = False,
    overwrite: OverwriteOpt = False,
    offline: OfflineOpt = False,
    json_lines: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Depth Blur (Photoshop depthBlur): per-pixel lens blur from a depth map
    around a focal point, a focal distance or the main subject, with haze,
    grain and colour controls (all 0 = off by default)."""
    from depthblur_cli.effects import Effects
    from depthblur_cli.options import DepthOptions
    from depthblur_cli.pipeline import ModelBox, process_depth

    if depth_kind not in ("disparity", "depth"):
        raise typer.BadParameter("use 'disparity' or 'depth'", param_hint="--depth-kind")
    if (focus_disparity is None) != (coc_scale is None):
        raise typer.BadParameter("--focus-disparity and --coc-scale go together", param_hint="--coc-scale")
    from depthblur_cli.outputs import COMPANION_FIELDS, check_pattern

    try:
        for option, value in (("--depth-map", depth_map), ("--stereo-right", stereo_right)):
            if value and "{" in value:
                check_pattern(value, option=option, fields=COMPANION_FIELDS)
    except DepthblurError as exc:
        _fail(exc)
    options = DepthOptions(
        depth_map=depth_map, depth_kind=depth_kind, stereo_right=stereo_right, depth_model=depth_model,
        focal_point=_parse_point(focal_point), focus_subject=focus_subject, focal_distance=focal_distance,
        focal_range=focal_range, blur_strength=blur_strength, focus_disparity=focus_disparity, coc_scale=coc_scale,
        aperture=_aperture(blades, blade_rotation, blade_curvature),
        highlights=_highlights(highlights, highlight_threshold),
        effects=Effects(haze=haze, grain=grain, seed=seed, temp=temp, tint=tint,
                        saturation=saturation, brightness=brightness),
    )
    write = _write_options(quality, overwrite, save_mask, save_depth)
    models = ModelBox(model, depth_model, allow_download=not offline, progress=not quiet)

    def factory(paths):
        return lambda plan: process_depth(plan, options, write, models, protected=paths)

    _run("depth", inputs, output, fmt, None, json_lines, quiet, factory)


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------


@models_app.command("list")
def models_list(json_lines: JsonOpt = False) -> None:
    """Show the catalog: name, task, size, licence, and whether it is here."""
    import json

    from rich.console import Console
    from rich.table import Table

    from depthblur_cli.models import catalog, store

    rows = []
    for spec in catalog.load_catalog().values():
        path = store.find_model(spec)
        rows.append({
            "name": spec.name, "task": spec.task, "size": spec.size, "license": spec.license,
            "bundled": spec.bundled, "available": path is not None, "path": str(path) if path else None,
            "url": spec.url, "sha256": spec.sha256,
        })
    if json_lines:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"models (cache: {store.cache_dir()})")
    for col in ("name", "task", "size", "licence", "here"):
        table.add_column(col)
    for row in rows:
        size = f"{row['size'] / 1e6:.1f} MB" if row["size"] else "?"
        here = "bundled" if row["bundled"] else ("cached" if row["available"] else "download")
        table.add_row(row["name"], row["task"], size, row["license"], here)
    Console().print(table)


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="Catalog name, e.g. depth-anything-v2-small.")]) -> None:
    """Download a model into the cache (verified by SHA-256)."""
    from depthblur_cli.models import catalog, store

    try:
        path = store.ensure_model(catalog.get_spec(name), allow_download=True, progress=True)
    except DepthblurError as exc:
        _fail(exc)
    typer.echo(str(path))


@models_app.command("path")
def models_path(name: Annotated[Optional[str], typer.Argument(help="A model name; without it, the cache directory.")] = None) -> None:
    """Print the cache directory, or where a model's file is (or would be)."""
    from depthblur_cli.models import catalog, store

    if name is None:
        typer.echo(str(store.cache_dir()))
        return
    try:
        spec = catalog.get_spec(name)
    except DepthblurError as exc:
        _fail(exc)
    typer.echo(str(store.find_model(spec) or store.cached_path(spec)))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"depthblur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """depthblur."""


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    keep_freed_memory()  # full-size temporaries are reused, not page-faulted in anew
    app()


if __name__ == "__main__":
    main()
