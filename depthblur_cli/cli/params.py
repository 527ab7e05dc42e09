"""Command-line parameter types and the options every image subcommand shares.

Every numeric option is finite and bounded: ``nan``, ``inf`` and values out
of range are refused by click before anything runs (exit 2, the option
named).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

import typer

from depthblur_cli.options import defaults, schema


def finite(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A parser of finite floats in ``[low, high]`` (either end open if asked); refuses nan and inf.

    Returns:
        ``text -> float``, raising :class:`typer.BadParameter` ("must be in
        the range 0 < x <= 0.05, got 0.06") for anything else.
    """
    lo_sign, hi_sign = ("<" if low_open else "<="), ("<" if high_open else "<=")
    described = f"{low:g} {lo_sign} x {hi_sign} {high:g}"

    def parse(text: str | float) -> float:
        try:
            x = float(text)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{text!r} is not a number") from None
        if not math.isfinite(x):
            raise typer.BadParameter(f"{text} is not a finite number")
        below = x <= low if low_open else x < low
        above = x >= high if high_open else x > high
        if below or above:
            raise typer.BadParameter(f"must be in the range {described}, got {text}")
        return x

    return parse


def schema_option(
    key: str, metavar: str, *, flag: str | None = None, help: str | None = None, note: str = "", integer: bool = False
):
    """The Typer option of the schema's option ``key`` (:mod:`depthblur_cli.options.schema`).

    Its flag, its range (click refuses a value outside it, or nan/inf, with
    exit 2 and "must be in the range 0 < x <= 0.05") and its help text
    (the option's meaning, range and unit, then ``note``) all come from
    the schema; ``help`` replaces the generated text, ``flag`` the flag.
    A whole-number option (or ``integer``: the command takes whole numbers
    only, as for Photoshop's integer sliders) is an ``int`` option.
    """
    spec = schema.BY_KEY[key]
    text = help or (
        f"{spec.meaning[0].upper()}{spec.meaning[1:]}, {spec.bounds().replace('x', metavar)}"
        f"{f' ({spec.unit})' if spec.unit else ''}{note}."
    )
    if spec.whole or integer:
        return typer.Option(flag or spec.flag, metavar=metavar, min=int(spec.low), max=int(spec.high), help=text)
    return typer.Option(
        flag or spec.flag, metavar=metavar, parser=finite(spec.low, spec.high, low_open=spec.low_open), help=text
    )


#: Output formats the encoder writes (``--format``).
OutputFormat = Literal["jpg", "png", "webp", "tif", "heic", "avif"]

#: The inputs of every image command (described in each command's help text).
Inputs = Annotated[list[str], typer.Argument(metavar="IMAGE", show_default=False, hidden=True)]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        metavar="PATH",
        help="Output file (one input), directory, or pattern with {stem} {name} {ext} {command} {parent}; "
        "'-' is stdout. Default: next to the input as {stem}.{command}.{ext}.",
    ),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        case_sensitive=False,
        help="Output format: jpg, png, webp, tif, heic or avif (default: the output's suffix, else the input's).",
    ),
]
#: ``--format`` of rembg-blur, whose default is PNG (as fapihub's rembg/blur answers).
PngFormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        case_sensitive=False,
        help="Output format: jpg, png, webp, tif, heic or avif (default: the output's suffix, else PNG).",
    ),
]
QualityOpt = Annotated[int, schema_option("quality", "Q")]
PngCompressionOpt = Annotated[
    Literal["fast", "default", "small"],
    typer.Option(
        "--png-compression",
        metavar="LEVEL",
        case_sensitive=False,
        help="PNG compression: fast (ISA-L deflate), default (zlib 6) or small (9; smallest files, slowest).",
    ),
]
SaveMaskOpt = Annotated[
    bool, typer.Option("--save-mask", help="Also write the subject matte as <output stem>.mask.png.")
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace existing outputs (inputs are never replaced).")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON line per image (input, output, status, timings, models, errors).")
]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print errors only.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never download models; use only bundled or cached ones.")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "-m",
        "--model",
        metavar="NAME|PATH",
        help="Matting model: a catalog name (see 'depthblur models list'), an .onnx path, or auto: "
        "u2netp-int8 on a CPU with fast int8 instructions, else u2netp (depthblur doctor says which).",
    ),
]
BladesOpt = Annotated[int, schema_option("blades", "N")]
RotationOpt = Annotated[float, schema_option("blade_rotation", "DEG")]
CurvatureOpt = Annotated[float, schema_option("blade_curvature", "C")]
HighlightsOpt = Annotated[float, schema_option("highlights", "H")]
ThresholdOpt = Annotated[float, schema_option("highlight_threshold", "T")]

#: Defaults of the shared options, from :mod:`depthblur_cli.options.defaults`.
QUALITY = defaults.QUALITY
PNG_COMPRESSION = defaults.PNG_COMPRESSION
MATTE_MODEL = defaults.MATTE_MODEL
HIGHLIGHTS = defaults.HIGHLIGHTS
HIGHLIGHT_THRESHOLD = defaults.HIGHLIGHT_THRESHOLD

WorkersOpt = Annotated[
    str | None,
    typer.Option(
        "-j",
        "--workers",
        metavar="N|auto",
        show_default=False,
        help="Worker processes (with --engine ray: actors), each with its own models and its share of the "
        "cores (auto: one per core). Default: 1; with --engine ray, one per CPU of the cluster.",
    ),
]
EngineOpt = Annotated[
    Literal["local", "ray"],
    typer.Option(
        "--engine",
        metavar="local|ray",
        help="Where the batch runs: this machine, or a Ray cluster (pip install 'depthblur[ray]'; "
        "inputs and outputs must be reachable from every node: a shared folder or s3:// URLs).",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        envvar="RAY_ADDRESS",
        show_default=False,
        help="With --engine ray: auto (the cluster running here), HOST:PORT, ray://HOST:PORT, or local "
        "(a private cluster on this machine). Default: RAY_ADDRESS, a cluster started here, else local.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="DEVICE",
        envvar="DEPTHBLUR_DEVICE",
        help="Where the networks run: auto, cpu, cuda, tensorrt, rocm, coreml, directml, openvino "
        "(or DEPTHBLUR_DEVICE); a device that is not there falls back to the CPU with a warning.",
    ),
]
SkipExistingOpt = Annotated[
    bool,
    typer.Option("--skip-existing", help="An output already there is done: skip its input (record status skipped)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print what would be written, and do nothing.")]
JsonFileOpt = Annotated[
    str | None,
    typer.Option("--json-file", metavar="PATH", help="Write the JSON report (one record per input) to this file."),
]
StripMetadataOpt = Annotated[
    bool,
    typer.Option("--strip-metadata", help="Write no EXIF (GPS, camera, dates); keep the ICC profile and orientation."),
]


def _subject_box(value: str | None) -> tuple[float, float, float, float] | None:
    """``--subject-box X0,Y0,X1,Y1`` as four fractions in order (see :mod:`depthblur_cli.estimation.subject`)."""
    if value is None:
        return None
    from depthblur_cli.estimation.subject import check_box

    try:
        parts = tuple(float(v) for v in str(value).split(","))
        return check_box(parts)  # type: ignore[arg-type]
    except ValueError as exc:
        message = str(exc) if "box" in str(exc) else f"expected X0,Y0,X1,Y1 in 0..1, got {value!r}"
        raise typer.BadParameter(message, param_hint="--subject-box") from None


SubjectBoxOpt = Annotated[
    str | None,
    typer.Option(
        "--subject-box",
        metavar="X0,Y0,X1,Y1",
        help="The subject is in this box (fractions of width and height, e.g. 0.2,0.1,0.8,0.9): "
        "the matting model looks there only. For a product photo where it picks a detail.",
    ),
]
MaskOpt = Annotated[
    str | None,
    typer.Option(
        "--mask",
        metavar="FILE",
        help="Your own subject matte (grayscale or alpha, white = subject) instead of the model's; "
        "a pattern like 'masks/{stem}.png' for many inputs.",
    ),
]


#: The options every image subcommand shares, declared once (name, annotation, default), in help
#: order: where the results go and how they are written, then how the batch runs.
SHARED_OPTIONS: tuple[tuple[str, object, object], ...] = (
    ("output", OutputOpt, None),
    ("fmt", FormatOpt, None),
    ("quality", QualityOpt, QUALITY),
    ("png_compression", PngCompressionOpt, PNG_COMPRESSION),
    ("save_mask", SaveMaskOpt, False),
    ("overwrite", OverwriteOpt, False),
    ("offline", OfflineOpt, False),
    ("json_lines", JsonOpt, False),
    ("json_file", JsonFileOpt, None),
    ("quiet", QuietOpt, False),
    ("workers", WorkersOpt, None),
    ("device", DeviceOpt, "auto"),
    ("engine", EngineOpt, "local"),
    ("ray_address", RayAddressOpt, None),
    ("skip_existing", SkipExistingOpt, False),
    ("dry_run", DryRunOpt, False),
    ("strip_metadata", StripMetadataOpt, False),
)


def with_shared_options(**annotations: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give an image subcommand the :data:`SHARED_OPTIONS` after its own, passed to it as ``shared``.

    The command is written with its own options and a last parameter
    ``shared: dict`` (the shared options' values by name); Typer sees one
    signature with both. ``annotations`` replaces a shared option's
    annotation for this command (``rembg-blur``'s ``fmt`` defaults to PNG).
    """
    import functools
    import inspect
    import typing

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
            if p.name != "shared"
        ]
        shared = [
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=annotations.get(name, annotation),
            )
            for name, annotation, default in SHARED_OPTIONS
        ]

        @functools.wraps(command)
        def run(*args: object, **kwargs: object) -> None:
            given = {name: kwargs.pop(name) for name, _, _ in SHARED_OPTIONS}
            return command(*args, shared=given, **kwargs)

        run.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in own + shared}
        return run

    return decorate
