"""The model catalog: which ONNX models depthblur knows and how to feed them.

The data lives in ``models/catalog.json`` (shipped inside the wheel as
``depthblur_cli.model_files/catalog.json``); this module turns it into frozen
:class:`ModelSpec` records. Provenance and licences of every entry are in
``models/README.md``.

Errors: every problem (unknown name, unreadable or malformed catalog) raises
:class:`~depthblur_cli.errors.ModelError`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from depthblur_cli.errors import ModelError
from depthblur_cli.models.paths import bundled_dir
from depthblur_cli.options import defaults

#: Matte (subject / background) model used when none is named: ``"auto"``, not a
#: catalog name; :func:`depthblur_cli.models.sessions.matte_model_for` picks
#: ``u2netp-int8`` or ``u2netp`` for the machine.
DEFAULT_MATTE_MODEL = defaults.MATTE_MODEL
#: Depth model used when none is named.
DEFAULT_DEPTH_MODEL = defaults.DEPTH_MODEL
#: Depth model used offline when the default one is not in the cache (bundled).
OFFLINE_DEPTH_MODEL = defaults.OFFLINE_DEPTH_MODEL

#: The tasks a model can serve.
TASKS = ("matte", "depth")
#: How an image is resized before inference. ``"auto"`` is only used for
#: user-supplied depth models (see :func:`depthblur_cli.models.store.resolve_model`):
#: use the session's static input H, W when it has one, else ``"shorter_side"``
#: with ``input_size`` 518 and ``multiple`` 14.
RESIZE_MODES = ("square", "shorter_side", "auto")
INTERPOLATIONS = ("bilinear", "bicubic")
#: What a depth model outputs: relative disparity (larger = nearer) or depth (larger = farther).
OUTPUTS = ("disparity", "depth")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    """One model: where to get it, how to verify it, how to preprocess for it.

    Attributes:
        name: catalog name (``"u2netp"``), or the file stem for a user file.
        task: ``"matte"`` (subject alpha) or ``"depth"`` (relative disparity).
        filename: file name in the cache (or in the bundle when ``bundled``).
        url: pinned download URL; ``None`` for the bundled model and user files.
        sha256: lowercase hex SHA-256 of the file; ``""`` for an unverified
            user-supplied file.
        size: file size in bytes, ``None`` when not known in advance.
        license: SPDX identifier of the weights' licence (``"unknown"`` for
            user files).
        bundled: the file ships inside the package (no download).
        input_size: pixels; the square side (``resize="square"``) or the
            shorter side (``resize="shorter_side"``).
        resize: ``"square"`` (stretch to input_size x input_size),
            ``"shorter_side"`` (keep aspect, shorter side = input_size, both
            sides rounded to multiples of ``multiple``) or ``"auto"`` (see
            :data:`RESIZE_MODES`).
        multiple: both network input sides are multiples of this (1, or 14
            for Depth Anything's 14-pixel ViT patches).
        mean: per-channel RGB mean, applied to values in 0..1 as
            ``(x - mean) / std``.
        std: per-channel RGB standard deviation (see ``mean``).
        interpolation: ``"bilinear"`` or ``"bicubic"`` resampling for the input.
        description: one line for ``depthblur models`` listings.
        output: what a depth model's output holds: ``"disparity"`` (relative
            inverse depth, larger = nearer: Depth Anything, MiDaS) or
            ``"depth"`` (metric depth, larger = farther: FastDepth).
    """

    name: str
    task: str
    filename: str
    url: str | None
    sha256: str
    size: int | None
    license: str
    bundled: bool
    input_size: int
    resize: str
    multiple: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    description: str
    output: str = "disparity"


def _triple(value: object, field: str, name: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ModelError(f"model catalog: {name}.{field} must be 3 numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


def _parse_entry(raw: dict) -> ModelSpec:
    """Build and validate one :class:`ModelSpec` from a catalog.json object.

    Raises:
        ModelError: a field is missing or has an invalid value.
    """
    name = raw.get("name", "?")
    try:
        spec = ModelSpec(
            name=str(raw["name"]),
            task=str(raw["task"]),
            filename=str(raw["filename"]),
            url=None if raw["url"] is None else str(raw["url"]),
            sha256=str(raw["sha256"]).lower(),
            size=None if raw["size"] is None else int(raw["size"]),
            license=str(raw["license"]),
            bundled=bool(raw["bundled"]),
            input_size=int(raw["input_size"]),
            resize=str(raw["resize"]),
            multiple=int(raw.get("multiple", 1)),
            mean=_triple(raw["mean"], "mean", name),
            std=_triple(raw["std"], "std", name),
            interpolation=str(raw["interpolation"]),
            description=str(raw.get("description", "")),
            output=str(raw.get("output", "disparity")),
        )
    except KeyError as exc:
        raise ModelError(f"model catalog: {name} lacks field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model catalog: {name} has a bad value ({exc})") from None
    problems = []
    if spec.task not in TASKS:
        problems.append(f"task {spec.task!r}")
    if not _SHA256_RE.match(spec.sha256):
        problems.append("sha256 is not 64 hex digits")
    if spec.resize not in ("square", "shorter_side"):
        problems.append(f"resize {spec.resize!r}")
    if spec.interpolation not in INTERPOLATIONS:
        problems.append(f"interpolation {spec.interpolation!r}")
    if spec.output not in OUTPUTS:
        problems.append(f"output {spec.output!r}")
    if spec.input_size <= 0 or spec.multiple <= 0:
        problems.append("input_size and multiple must be positive")
    if any(s == 0 for s in spec.std):
        problems.append("std must not be 0")
    if spec.bundled == (spec.url is not None):
        problems.append("exactly one of bundled / url must be set")
    if problems:
        raise ModelError(f"model catalog: {spec.name}: bad " + "; ".join(problems))
    return spec


@functools.cache
def _load() -> tuple[ModelSpec, ...]:
    path = bundled_dir() / "catalog.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model catalog ({exc})", path=path) from None
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ModelError("model catalog has no 'models' list", path=path)
    specs = tuple(_parse_entry(e) for e in entries)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ModelError("model catalog has duplicate names", path=path)
    return specs


def load_catalog() -> dict[str, ModelSpec]:
    """Return every catalog entry by name, in catalog order.

    The file (``catalog.json`` in :func:`~depthblur_cli.models.paths.bundled_dir`)
    is read and validated once per process; each call returns a fresh dict.

    Raises:
        ModelError: the catalog is missing, not JSON, or an entry is invalid.
    """
    return {spec.name: spec for spec in _load()}


def get_spec(name: str) -> ModelSpec:
    """Return the catalog entry called ``name``.

    Raises:
        ModelError: no such entry; the message lists the known names.
    """
    catalog = load_catalog()
    try:
        return catalog[name]
    except KeyError:
        known = ", ".join(catalog)
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None
