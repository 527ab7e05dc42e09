"""Photoshop API's Depth Blur, to the letter: the ``DepthBlurDetails`` options and the output settings.

The Photoshop API (``POST /pie/psdService/depthBlur``) defines the options
of its Neural Filter "Depth Blur" in the OpenAPI schema ``DepthBlurDetails``;
:data:`OPTIONS` is that table, drawn from the option schema
(:mod:`depthblur_cli.options.schema`: type, range, default, the ``depth``
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
from depthblur_cli.options import schema
from depthblur_cli.options.defaults import PngCompression
from depthblur_cli.options.schema import Option

#: ``DepthBlurDetails``, in the API document's order: the options of :mod:`~depthblur_cli.options.schema`
#: that have a Photoshop name (their ranges, defaults and flags are written there, once).
OPTIONS: tuple[Option, ...] = tuple(o for o in schema.OPTIONS if o.api_name("photoshop"))
#: :data:`OPTIONS` by their API name (``"blurStrength"``).
BY_NAME: dict[str, Option] = {str(o.api_name("photoshop")): o for o in OPTIONS}

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
    """``value`` as the API's JSON gives it, checked against the option's type and range.

    Stricter than :meth:`~depthblur_cli.options.schema.Option.check`, as the
    API's schema is: an integer must be a JSON integer, a point an object
    ``{"x", "y"}``.

    Returns:
        an int, a bool, or an (x, y) tuple of floats.

    Raises:
        UsageError: wrong type or out of range, naming the option by its API name.
    """
    name = f"{where}: {option.api_name('photoshop')}"
    if option.kind == "boolean":
        if not isinstance(value, bool):
            raise UsageError(f"{name} must be true or false, got {value!r}")
        return value
    if option.kind == "point":
        if not (isinstance(value, dict) and set(value) == {"x", "y"}):
            raise UsageError(f'{name} must be {{"x": X, "y": Y}}, got {value!r}')
        for axis in ("x", "y"):
            v = value[axis]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise UsageError(f"{name}.{axis} must be a number in 0..1, got {v!r}")
        return option.check((value["x"], value["y"]), name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer {option.low:g}..{option.high:g}, got {value!r}")
    option.check(value, name)
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
