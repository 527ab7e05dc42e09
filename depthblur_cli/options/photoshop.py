"""Photoshop API's Depth Blur, to the letter: the ``DepthBlurDetails`` options and the output settings.

The Photoshop API (``POST /pie/psdService/depthBlur``) defines the options
of its Neural Filter "Depth Blur" in the OpenAPI schema ``DepthBlurDetails``;
:data:`OPTIONS` is that table (name, type, range, default, the ``depth``
flag that takes it). :func:`parse_options` reads an ``options`` object
verbatim (``--ps-options``), :func:`parse_output` an ``outputs`` entry's
``type`` / ``quality`` / ``compression`` (``--ps-output``); both refuse an
unknown key, a wrong type or a value out of range with a
:class:`~depthblur_cli.errors.UsageError` naming it.

Imports nothing heavy.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthblur_cli.errors import UsageError
from depthblur_cli.options import defaults
from depthblur_cli.options.defaults import PngCompression


@dataclass(frozen=True)
class Option:
    """One field of ``DepthBlurDetails``.

    Attributes:
        name: the API's name (``"blurStrength"``).
        kind: ``"integer"``, ``"boolean"`` or ``"point"`` (``{"x", "y"}``).
        low, high: the range of an integer (a point's coordinates: 0..1).
        default: the API's default (None: none).
        flag: the ``depthblur depth`` flag (``"--blur-strength"``).
        field: the name in :class:`~depthblur_cli.pipeline.options.DepthOptions` or
            :class:`~depthblur_cli.render.effects.Effects`.
        meaning: one line for ``--help`` and the README.
    """

    name: str
    kind: str
    low: float
    high: float
    default: Any
    flag: str
    field: str
    meaning: str


#: ``DepthBlurDetails``, in the API document's order: the one place each option's range and
#: meaning are written (the defaults of the focus sliders in :mod:`~depthblur_cli.options.defaults`).
#: The ``depth`` command's flags, :class:`~depthblur_cli.pipeline.options.DepthOptions` and
#: :class:`~depthblur_cli.render.effects.Effects` read their ranges from it.
OPTIONS: tuple[Option, ...] = (
    Option(
        "focalDistance",
        "integer",
        0,
        100,
        defaults.FOCAL_DISTANCE,
        "--focal-distance",
        "focal_distance",
        "distance of the point in focus: 0 nearest .. 100 farthest",
    ),
    Option(
        "focalRange",
        "integer",
        0,
        100,
        defaults.FOCAL_RANGE,
        "--focal-range",
        "focal_range",
        "depth range kept sharp around the focus: 0 (a plane) .. 100",
    ),
    Option(
        "focalSelector",
        "point",
        0,
        1,
        None,
        "--focal-selector",
        "focal_point",
        "focus on the depth at this point, x and y as fractions 0..1 of width and height",
    ),
    Option(
        "focusSubject",
        "boolean",
        0,
        1,
        False,
        "--focus-subject",
        "focus_subject",
        "focus on the most prominent subject; overrides focalDistance",
    ),
    Option(
        "blurStrength",
        "integer",
        0,
        100,
        defaults.BLUR_STRENGTH,
        "--blur-strength",
        "blur_strength",
        "strength of the blur: 100 = the largest CoC 3 % of the longer side",
    ),
    Option("haze", "integer", 0, 100, 0, "--haze", "haze", "atmospheric haze growing with distance"),
    Option("temp", "integer", -50, 50, 0, "--temp", "temp", "white balance: -50 coldest .. 50 warmest"),
    Option("tint", "integer", -50, 50, 0, "--tint", "tint", "-50 green .. 50 magenta"),
    Option(
        "saturation",
        "integer",
        -50,
        50,
        0,
        "--saturation",
        "saturation",
        "-50 fully unsaturated .. 50 fully saturated (twice the chroma)",
    ),
    Option("brightness", "integer", -50, 50, 0, "--brightness", "brightness", "midtone brightness -50 .. 50"),
    Option("grain", "integer", 0, 100, 0, "--grain", "grain", "film grain added after the blur"),
)
BY_NAME = {o.name: o for o in OPTIONS}

#: Output ``type`` -> depthblur's format name.
OUTPUT_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif"}
#: Output JPEG ``quality`` 1..7 (7 highest, the API's default) -> JPEG quality 1..100.
JPEG_QUALITY = {1: 30, 2: 45, 3: 60, 4: 70, 5: 80, 6: 90, 7: 95, 8: 96, 9: 97, 10: 98, 11: 99, 12: 100}
#: Output PNG ``compression`` -> ``--png-compression`` (``small`` is the smallest file).
PNG_COMPRESSION: dict[str, PngCompression] = {"small": "small", "medium": "default", "large": "fast"}


#: Largest ``@FILE`` read for ``--ps-options`` / ``--ps-output``, bytes: the API's bodies are small
#: (the server refuses a depthBlur body over the same size).
MAX_JSON_BYTES = 1_000_000


def _load(text: str, option: str) -> Any:
    """JSON from ``text`` or, for ``@FILE``, from that file (a regular file of at most
    :data:`MAX_JSON_BYTES`, UTF-8).

    Raises:
        UsageError: the file cannot be read, is not a regular file, is too large or not
            UTF-8, or the text is not JSON (nested too deeply included); the option is named.
    """
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            with open(path, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    raise UsageError(f"{option}: {path} is not a regular file")
                raw = fh.read(MAX_JSON_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"{option}: cannot read {path} ({exc.strerror or exc})") from None
        if len(raw) > MAX_JSON_BYTES:
            raise UsageError(f"{option}: {path} is over {MAX_JSON_BYTES} bytes (a JSON object is expected)")
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{option}: {path} is not UTF-8 text (a JSON object is expected)") from None
    try:
        return json.loads(source)
    except RecursionError:
        raise UsageError(f"{option}: JSON nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc})") from None


def check_value(option: Option, value: Any, where: str = "--ps-options") -> Any:
    """``value`` checked against the option's type and range, as depthblur holds it.

    Returns:
        an int, a bool, or an (x, y) tuple of floats.

    Raises:
        UsageError: wrong type or out of range, naming the option.
    """
    if option.kind == "boolean":
        if not isinstance(value, bool):
            raise UsageError(f"{where}: {option.name} must be true or false, got {value!r}")
        return value
    if option.kind == "point":
        if not (isinstance(value, dict) and set(value) == {"x", "y"}):
            raise UsageError(f'{where}: {option.name} must be {{"x": X, "y": Y}}, got {value!r}')
        x, y = value["x"], value["y"]
        for axis, v in (("x", x), ("y", y)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0 <= v <= 1):
                raise UsageError(f"{where}: {option.name}.{axis} must be a number in 0..1, got {v!r}")
        return (float(x), float(y))
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where}: {option.name} must be an integer {option.low:g}..{option.high:g}, got {value!r}")
    if not option.low <= value <= option.high:
        raise UsageError(f"{where}: {option.name} must be in {option.low:g}..{option.high:g}, got {value}")
    return value


def parse_options(text: str) -> dict[str, Any]:
    """The API's ``options`` object (``DepthBlurDetails``), from JSON or ``@FILE``.

    Args:
        text: e.g. ``'{"haze": 25, "blurStrength": 30, "focalSelector": {"x": 0.22, "y": 0.33}}'``.

    Returns:
        {API name: value as depthblur holds it} for the keys given.

    Raises:
        UsageError: not a JSON object, an unknown key, a wrong type or a
            value out of range (the key is named).
    """
    data = _load(text, "--ps-options")
    if not isinstance(data, dict):
        raise UsageError(f"--ps-options must be a JSON object of DepthBlurDetails, got {type(data).__name__}")
    unknown = [k for k in data if k not in BY_NAME]
    if unknown:
        raise UsageError(f"--ps-options: unknown option {unknown[0]!r}; DepthBlurDetails has {', '.join(BY_NAME)}")
    return {key: check_value(BY_NAME[key], value) for key, value in data.items()}


@dataclass(frozen=True)
class OutputSettings:
    """An ``outputs`` entry's encoding, as depthblur's options.

    Attributes:
        fmt: ``"jpg"``, ``"png"`` or ``"tif"``, or None (not given).
        quality: JPEG quality 1..100, or None.
        png_compression: ``"fast"``, ``"default"`` or ``"small"``, or None.
    """

    fmt: str | None = None
    quality: int | None = None
    png_compression: PngCompression | None = None


def output_settings(data: dict, where: str = "--ps-output") -> OutputSettings:
    """Map an ``outputs`` entry's ``type``, ``quality`` (1..12: the spec's range; its text says 1..7)
    and ``compression`` onto the encoder.

    Other keys of an outputs entry (``href``, ``storage``, ``overwrite``) are
    ignored here: they say where the file goes, not how it is encoded.

    Raises:
        UsageError: an unknown type, compression, or a quality outside 1..12.
    """
    fmt = quality = compression = None
    if "type" in data:
        if data["type"] not in OUTPUT_TYPES:
            raise UsageError(f"{where}: type must be one of {', '.join(OUTPUT_TYPES)}, got {data['type']!r}")
        fmt = OUTPUT_TYPES[data["type"]]
    if "quality" in data:
        q = data["quality"]
        if isinstance(q, bool) or not isinstance(q, int) or q not in JPEG_QUALITY:
            raise UsageError(f"{where}: quality must be an integer 1..12 (7 the documented highest), got {q!r}")
        quality = JPEG_QUALITY[q]
    if "compression" in data:
        if data["compression"] not in PNG_COMPRESSION:
            raise UsageError(f"{where}: compression must be small, medium or large, got {data['compression']!r}")
        compression = PNG_COMPRESSION[data["compression"]]
    return OutputSettings(fmt, quality, compression)


def parse_output(text: str) -> OutputSettings:
    """An ``outputs`` entry (JSON or ``@FILE``): see :func:`output_settings`.

    Raises:
        UsageError: not a JSON object, or a bad value (named).
    """
    data = _load(text, "--ps-output")
    if not isinstance(data, dict):
        raise UsageError(f"--ps-output must be a JSON object (an outputs entry), got {type(data).__name__}")
    unknown = [k for k in data if k not in ("type", "quality", "compression", "href", "storage", "overwrite")]
    if unknown:
        raise UsageError(f"--ps-output: unknown key {unknown[0]!r}; an outputs entry has type, quality, compression")
    return output_settings(data)


def check_range(name: str, value: float, *, label: str | None = None) -> float:
    """``value`` of the option ``name`` (its API name) within its range, as a float.

    Raises:
        UsageError: out of range or NaN, naming ``label`` (default: the option's field name).
    """
    spec = BY_NAME[name]
    value = float(value)
    if not spec.low <= value <= spec.high:  # also refuses NaN
        raise UsageError(f"{label or spec.field} must be in {spec.low:g}..{spec.high:g}, got {value:g}")
    return value
