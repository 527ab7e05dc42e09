"""``bokeh``, ``gaussian`` and ``rembg-blur``: the subject stays sharp, the background is blurred."""

from __future__ import annotations

from typing import Annotated

import typer

from depthblur_cli.cli.app import BatchSettings, GroupedCommand, app, run_images, write_options
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
    PngFormatOpt,
    RotationOpt,
    SubjectBoxOpt,
    ThresholdOpt,
    _subject_box,
    schema_option,
    with_shared_options,
)
from depthblur_cli.options import defaults, schema

RadiusFraction = Annotated[
    float | None, schema_option("radius", "R", note=f" [default: {schema.BY_KEY['radius'].default}]")
]
RadiusPx = Annotated[float | None, schema_option("radius_px", "P")]


def aperture(blades: int, rotation: float, curvature: float):
    """The :class:`~depthblur_cli.render.kernels.Aperture` of the aperture options (curvature 1 for a round one)."""
    from depthblur_cli.render.kernels import Aperture

    if blades in (1, 2):
        raise typer.BadParameter("use 0 (round) or 3..16 blades", param_hint="--blades")
    return Aperture(blades=blades, rotation=rotation, curvature=curvature if blades else 1.0)


def _radius(radius: float | None, radius_px: float | None) -> tuple[float | None, float | None]:
    if radius_px is not None and radius is not None:
        raise typer.BadParameter("give --radius or --radius-px, not both", param_hint="--radius-px")
    return (defaults.BLUR_RADIUS if radius is None and radius_px is None else radius), radius_px


def _run(command, inputs, options, write, model, settings, default_fmt=None) -> None:
    companions = (("--mask", options.mask),)  # the user's masks are inputs: never overwritten
    run_images(command, inputs, settings, options, write, matte_model=model, default_fmt=default_fmt,
               companions=companions)  # fmt: skip


BOKEH_EXAMPLES = """Examples:

\b
  depthblur bokeh portrait.jpg                      # -> portrait.bokeh.jpg
  depthblur bokeh portrait.jpg --radius 0.03 --blades 6 -o portrait-hex.jpg
  depthblur bokeh photos/ -o blurred/ --json > report.jsonl
"""


@app.command(cls=GroupedCommand, epilog=BOKEH_EXAMPLES, short_help="Lens-blur the background (Photoroom mode=bokeh).")
@with_shared_options()
def bokeh(
    inputs: Inputs,
    radius: RadiusFraction = None,
    radius_px: RadiusPx = None,
    blades: BladesOpt = 0,
    blade_rotation: RotationOpt = 0.0,
    blade_curvature: CurvatureOpt = 0.0,
    highlights: HighlightsOpt = HIGHLIGHTS,
    highlight_threshold: ThresholdOpt = HIGHLIGHT_THRESHOLD,
    model: ModelOpt = MATTE_MODEL,
    subject_box: SubjectBoxOpt = None,
    mask: MaskOpt = None,
    shared: dict | None = None,
) -> None:
    """Lens-blur the background (Photoroom mode=bokeh): the subject stays sharp,
    the background gets a disc (or polygon) blur in linear light, and bright
    points bloom into bokeh discs.

    IMAGE: image files, directories, glob patterns ('**/*.jpg'), or '-' for
    one image on stdin."""
    from depthblur_cli.pipeline.options import BackgroundBlurOptions
    from depthblur_cli.render.highlights import Highlights

    r, rpx = _radius(radius, radius_px)
    options = BackgroundBlurOptions(
        mode="bokeh",
        radius=r,
        radius_px=rpx,
        aperture=aperture(blades, blade_rotation, blade_curvature),
        highlights=Highlights.from_amount(highlights, highlight_threshold),
        subject_box=_subject_box(subject_box),
        mask=mask,
    )
    assert shared is not None
    settings = BatchSettings.from_params(shared)
    write = write_options(shared)
    _run("bokeh", inputs, options, write, model, settings, None)


GAUSSIAN_EXAMPLES = """Examples:

\b
  depthblur gaussian photos/ -o blurred/            # every image in photos/
  depthblur gaussian product.jpg --radius-px 12
  cat in.jpg | depthblur gaussian - -o - --format jpg > out.jpg
"""


@app.command(
    cls=GroupedCommand, epilog=GAUSSIAN_EXAMPLES, short_help="Gaussian-blur the background (Photoroom mode=gaussian)."
)
@with_shared_options()
def gaussian(
    inputs: Inputs,
    radius: RadiusFraction = None,
    radius_px: RadiusPx = None,
    model: ModelOpt = MATTE_MODEL,
    subject_box: SubjectBoxOpt = None,
    mask: MaskOpt = None,
    shared: dict | None = None,
) -> None:
    """Gaussian-blur the background (Photoroom mode=gaussian): the subject stays
    sharp; the radius is the Gaussian's standard deviation.

    IMAGE: image files, directories, glob patterns ('**/*.jpg'), or '-' for
    one image on stdin."""
    from depthblur_cli.pipeline.options import BackgroundBlurOptions

    r, rpx = _radius(radius, radius_px)
    options = BackgroundBlurOptions(
        mode="gaussian", radius=r, radius_px=rpx, subject_box=_subject_box(subject_box), mask=mask
    )
    assert shared is not None
    settings = BatchSettings.from_params(shared)
    write = write_options(shared)
    _run("gaussian", inputs, options, write, model, settings, None)


REMBG_EXAMPLES = """Examples:

\b
  depthblur rembg-blur 'shop/**/*.jpg' -o 'out/{stem}.png' --radius 20 --json > report.jsonl
  depthblur rembg-blur product.jpg --cutout         # subject on transparency
  depthblur rembg-blur product.jpg --only-mask      # the matte, grayscale
"""


@app.command(
    "rembg-blur",
    cls=GroupedCommand,
    epilog=REMBG_EXAMPLES,
    short_help="Segment the subject, blur the background by N pixels (fapihub rembg/blur).",
)
@with_shared_options(fmt=PngFormatOpt)
def rembg_blur(
    inputs: Inputs,
    radius: Annotated[int, schema_option("rembg_radius", "N")] = defaults.REMBG_RADIUS_PX,
    cutout: Annotated[
        bool, typer.Option("--cutout", help="Write the subject on transparency instead (rembg's job).")
    ] = False,
    only_mask: Annotated[bool, typer.Option("--only-mask", help="Write the matte (grayscale) instead.")] = False,
    model: ModelOpt = MATTE_MODEL,
    subject_box: SubjectBoxOpt = None,
    mask: MaskOpt = None,
    shared: dict | None = None,
) -> None:
    """fapihub rembg/blur: segment the subject, Gaussian-blur the background by
    an integer radius in pixels; PNG out by default.

    IMAGE: image files, directories, glob patterns ('**/*.jpg'), or '-' for
    one image on stdin."""
    from depthblur_cli.pipeline.options import BackgroundBlurOptions

    if cutout and only_mask:
        raise typer.BadParameter("give --cutout or --only-mask, not both", param_hint="--only-mask")
    result = "cutout" if cutout else "mask" if only_mask else "blur"
    options = BackgroundBlurOptions(
        mode="gaussian", radius=None, radius_px=float(radius), result=result,
        subject_box=_subject_box(subject_box), mask=mask,
    )  # fmt: skip
    assert shared is not None
    settings = BatchSettings.from_params(shared)
    write = write_options(shared)
    _run("rembg-blur", inputs, options, write, model, settings, "PNG")
