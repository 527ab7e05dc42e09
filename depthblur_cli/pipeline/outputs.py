"""Which files to process, and where each result goes.

Inputs
------
Each input argument is one of:

* a file: used as is (whatever its suffix; it is checked when decoded);
* a directory: the image files directly inside it (every suffix Pillow
  can open, any case; hidden files skipped; not recursive), sorted by name;
* a glob pattern (``*``, ``?``, ``[...]``; ``**`` matches sub-directories):
  the image files it matches, sorted;

A directory or a pattern never yields this tool's own outputs and side
files (names ending ``.bokeh``, ``.gaussian``, ``.rembg-blur``, ``.depth``,
``.mask`` or ``.depth-preview`` before the suffix), so running a command
twice on a folder does not blur its own results; a file named on the command
line is always taken.
* a URL (``s3://bucket/in/cat.jpg``; see :mod:`depthblur_cli.imaging.storage`):
  one object; a prefix (``s3://bucket/in/``): its image objects, not
  recursive; a glob (``s3://bucket/in/*.jpg``): the image objects it matches;
  the same name rules as for a directory;
* ``-``: one image read from standard input.

An argument that matches nothing is reported ("no such file", "pattern
matched no image files", "directory contains no image files") and the
others are still processed. The same file named twice is processed once.

Outputs
-------
Where the output of each input goes (``-o/--output``, a path or a URL):

1. No ``--output``: next to the input, as ``{stem}.{command}.{ext}``
   (``cat.jpg`` -> ``cat.bokeh.jpg``); an image read from stdin is written
   to stdout.
2. ``--output`` containing ``{``: a pattern with the fields ``{stem}``
   (input name without suffix), ``{name}`` (input file name), ``{ext}``
   (output suffix, without dot), ``{command}`` and ``{parent}`` (the
   input's directory). Relative results are relative to the current
   directory. Example: ``-o 'out/{parent}/{stem}_blur.{ext}'``. For stdin,
   stem and name are ``stdin`` and parent is ``.``.
3. ``--output`` naming an existing directory, or ending with ``/``, or
   several inputs: a directory, written as ``DIR/{stem}.{ext}`` (created if
   missing). With several inputs, an ``--output`` ending in an image suffix
   (``out.jpg``) or ``-`` is refused as a mistake.
4. Otherwise (one input): ``--output`` is the file to write; ``-`` is
   stdout.

The output format (and ``{ext}``) is, in order: ``--format``; else the
suffix of the ``--output`` file or pattern; else the command's default
(``rembg-blur`` uses PNG, to keep transparency); else the input's format
when it is JPEG, PNG, WebP or TIFF (judged by its suffix; for standard
input, by what it decodes to); else PNG. The suffix is the canonical one:
``jpg``, ``png``, ``webp``, ``tif``. An ``--output`` suffix that names no
format this tool writes (``.gif``, ``.avif``, ``.txt``) is refused, and so
is one contradicting ``--format``.

Two inputs whose outputs would be the same file: the second one fails
("would overwrite the output of FIRST"). An output that would replace any
input fails before anything runs. Whether the output already exists is
checked only when it is written (see ``--overwrite``).
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass

import depthblur_cli.imaging.storage as storage
from depthblur_cli.errors import DepthblurError, InputError, OutputError, UsageError
from depthblur_cli.imaging.files import file_keys
from depthblur_cli.imaging.formats import OUTPUT_FORMATS, normalize_format
from depthblur_cli.imaging.patterns import STDIN, check_pattern, input_fields
from depthblur_cli.imaging.storage import is_url

#: Suffixes of the formats this tool writes (an ``--output`` suffix must be one).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif"}
#: Name endings (before the suffix) of this tool's own outputs and side files.
OWN_OUTPUT_MARKERS = (".bokeh", ".gaussian", ".rembg-blur", ".depth", ".mask", ".depth-preview")


@dataclass
class OutputPlan:
    """Where one input's result goes.

    Attributes:
        input: the input path as given (``"-"`` for stdin).
        path: the output path (``"-"`` for stdout).
        fmt: output format, one of ``"PNG"``, ``"JPEG"``, ``"WEBP"``,
            ``"TIFF"``; None for standard input with nothing to decide it:
            the input's own format once decoded (PNG if it is another).
        error: why this input must not be processed (an
            :class:`~depthblur_cli.errors.OutputError`), or None.
    """

    input: str
    path: str
    fmt: str | None
    error: DepthblurError | None = None


def format_for(path_or_suffix: str | os.PathLike) -> str:
    """Output format named by a file name or a suffix.

    Args:
        path_or_suffix: ``"cat.JPG"``, ``".jpg"``, ``"jpg"``, ``"out/x.tiff"``.

    Returns:
        ``"PNG"``, ``"JPEG"``, ``"WEBP"`` or ``"TIFF"``.

    Raises:
        UsageError: the suffix names no supported output format.
    """
    text = os.fspath(path_or_suffix)
    suffix = os.path.splitext(text)[1] or text
    return normalize_format(suffix)


@functools.lru_cache(maxsize=1)
def input_suffixes() -> frozenset[str]:
    """Suffixes (lower case, with the dot) of every format Pillow can open here (HEIC with pillow-heif)."""
    from PIL import Image

    from depthblur_cli.imaging.embedded import register_heif

    Image.init()
    register_heif()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def is_own_output(path: str) -> bool:
    """True for a name this tool writes (``cat.bokeh.jpg``, ``cat.mask.png``, ``cat.depth-preview.png``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.endswith(OWN_OUTPUT_MARKERS)


def _is_image_name(path: str) -> bool:
    """An image's name (a suffix Pillow opens), not hidden, not one of this tool's outputs."""
    name = os.path.basename(path)
    return (
        os.path.splitext(name)[1].lower() in input_suffixes() and not name.startswith(".") and not is_own_output(name)
    )


def _is_image_file(path: str) -> bool:
    return _is_image_name(path) and os.path.isfile(path)


def expand_inputs(specs: Sequence[str]) -> tuple[list[str], list[DepthblurError]]:
    """Turn command-line input arguments into a list of input files.

    See the module docstring for the rules.

    Args:
        specs: input arguments: files, directories, glob patterns or "-".

    Returns:
        (inputs, errors): the input paths in order, without duplicates (the
        same file under two spellings counts once; "-" at most once), and
        one :class:`InputError` for each argument that matched nothing.
    """
    inputs: list[str] = []
    errors: list[DepthblurError] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if path == STDIN or is_url(path) else os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            inputs.append(path)

    for spec in specs:
        spec = os.fspath(spec)
        if spec == STDIN:
            add(STDIN)
        elif is_url(spec):
            try:
                urls = storage.expand(spec, _is_image_name)
            except DepthblurError as exc:
                errors.append(exc)
                continue
            if urls is None:
                errors.append(InputError("no such object", spec))
            elif not urls:
                errors.append(InputError("matched no image files", spec))
            for url in urls or ():
                add(url)
        elif os.path.isdir(spec):
            try:
                names = sorted(os.listdir(spec))
            except OSError as exc:
                errors.append(InputError(f"cannot list directory ({exc.strerror or exc})", spec))
                continue
            found = [p for p in (os.path.join(spec, n) for n in names) if _is_image_file(p)]
            if not found:
                errors.append(InputError("directory contains no image files", spec))
            for path in found:
                add(path)
        elif os.path.lexists(spec):
            add(spec)
        elif glob.has_magic(spec):
            found = [p for p in sorted(glob.glob(spec, recursive=True)) if _is_image_file(p)]
            if not found:
                errors.append(InputError("pattern matched no image files", spec))
            for path in found:
                add(path)
        else:
            errors.append(InputError("no such file", spec))
    return inputs, errors


def _input_format(path: str) -> str | None:
    """The input's format if it is one we write back as is (by suffix)."""
    suffix = os.path.splitext(path)[1].lower()
    known = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
    known.update({".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF", ".avif": "AVIF"})
    return known.get(suffix)


def _suffix_format(path: str, *, what: str) -> str | None:
    """Format named by the suffix of an --output file/pattern; None if it has
    no suffix or one that names no image format."""
    suffix = os.path.splitext(path)[1]
    if not suffix or "{" in suffix or "}" in suffix:
        return None
    try:
        return normalize_format(suffix)
    except UsageError:
        raise UsageError(f"cannot write {suffix} files ({what} {path!r}); use .png, .jpg, .webp or .tif") from None


def plan_outputs(
    inputs: Sequence[str],
    output: str | None,
    *,
    command: str,
    fmt: str | None,
    default_fmt: str | None = None,
) -> list[OutputPlan]:
    """Decide the output path and format of each input.

    See the module docstring for the rules. Nothing is checked on disk
    except whether ``output`` is an existing directory and whether an output
    is the same file as an input.

    Args:
        inputs: input paths as returned by :func:`expand_inputs`.
        output: the ``--output`` value, or None.
        command: the sub-command name used in default names (``"bokeh"``).
        fmt: the ``--format`` value (any alias, e.g. ``"jpg"``), or None.
        default_fmt: the command's preferred format when neither ``fmt`` nor
            the output suffix decides (``"PNG"`` for rembg-blur), or None.

    Returns:
        One :class:`OutputPlan` per input, in order; ``error`` is an
        :class:`OutputError` when two inputs would write the same file ("would
        overwrite the output of FIRST") or the output would replace an input.

    Raises:
        UsageError: unknown ``fmt``/``default_fmt``; a bad ``--output``
            pattern; an ``--output`` suffix that contradicts ``fmt`` or names
            a format that cannot be written; several inputs with an
            ``--output`` that is ``-`` or looks like one image file.
    """
    forced = normalize_format(fmt) if fmt else None
    fallback = normalize_format(default_fmt) if default_fmt else None
    inputs = [os.fspath(p) for p in inputs]

    if output is None:
        mode = "beside"
    elif "{" in output:
        mode = "pattern"
        check_pattern(output)
    elif (
        os.path.isdir(output) or output.endswith("/") or (os.sep != "/" and output.endswith(os.sep)) or len(inputs) > 1
    ):
        mode = "directory"
        if len(inputs) > 1 and not os.path.isdir(output):
            if output == STDIN:
                raise UsageError(f"cannot write {len(inputs)} images to standard output (--output -)")
            if os.path.splitext(output.rstrip("/" + os.sep))[1].lower() in IMAGE_SUFFIXES:
                raise UsageError(
                    f"--output {output!r} names one file but there are {len(inputs)} inputs; "
                    "give a directory (ending with /) or a pattern such as '{stem}_blur.{ext}'"
                )
    else:
        mode = "file"

    target = output or ""  # "" only in mode "beside"
    named = None
    if mode in ("pattern", "file") and target != STDIN:
        named = _suffix_format(target, what="--output")
        if forced and named and named != forced:
            raise UsageError(f"--format {fmt} contradicts the suffix of --output {output!r}")

    plans: list[OutputPlan] = []
    for src in inputs:
        out_fmt = forced or named or fallback or (_input_format(src) if src != STDIN else None)
        if out_fmt is None and not (src == STDIN and mode in ("beside", "file")):
            out_fmt = "PNG"
        ext = OUTPUT_FORMATS[out_fmt or "PNG"]
        fields = input_fields(src, contained=True)
        if mode == "beside":
            path = STDIN if src == STDIN else os.path.join(os.path.dirname(src), f"{fields['stem']}.{command}.{ext}")
        elif mode == "pattern":
            path = target.format(ext=ext, command=command, **fields)
        elif mode == "directory":
            path = os.path.join(target, f"{fields['stem']}.{ext}")
        else:
            path = target
        plans.append(OutputPlan(input=src, path=path, fmt=out_fmt))

    _flag_conflicts(plans, inputs)
    return plans


def _flag_conflicts(plans: list[OutputPlan], inputs: list[str]) -> None:
    """Set ``error`` on plans whose output is an input or another's output (one lookup per plan)."""
    input_for: dict[tuple, str] = {}
    for path in inputs:
        if path != STDIN:
            for key in file_keys(path):
                input_for.setdefault(key, path)
    first_for: dict[tuple, str] = {}
    for plan in plans:
        if plan.path == STDIN:
            continue
        keys = file_keys(plan.path)
        victim = next((input_for[k] for k in keys if k in input_for), None)
        if victim is not None:
            what = "its own input" if victim == plan.input else f"the input {victim}"
            plan.error = OutputError(f"output would overwrite {what}", plan.path)
            continue
        earlier = next((first_for[k] for k in keys if k in first_for), None)
        if earlier is not None:
            plan.error = OutputError(f"would overwrite the output of {earlier}", plan.path)
        else:
            first_for.update(dict.fromkeys(keys, plan.input))
