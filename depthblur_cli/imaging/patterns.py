"""Path patterns: an output or a per-input companion file named from its input's ``{stem}``, ``{name}``, ``{parent}``.

Output patterns (``-o 'out/{stem}.{ext}'``) also take ``{ext}`` and
``{command}``; companion patterns (``--depth-map 'depth/{stem}.png'``,
``--stereo-right``, ``--mask``) take the input's fields only. For standard
input (``-``) stem and name are ``stdin`` and parent is ``.``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence

from depthblur_cli.errors import UsageError

#: Fields allowed in an ``--output`` pattern.
PATTERN_FIELDS = ("stem", "name", "ext", "command", "parent")
#: The input (and output) name of standard input (output).
STDIN = "-"

#: Fields allowed in a per-input companion pattern (``--depth-map``, ``--stereo-right``).
COMPANION_FIELDS = ("stem", "name", "parent")


def input_fields(src: str, *, contained: bool = False) -> dict[str, str]:
    """``stem``, ``name`` and ``parent`` of an input path (``stdin`` for ``-``).

    With ``contained`` (an output pattern), ``parent`` leaves out ``..``
    and ``.`` segments and the root, so ``out/{parent}/...`` stays inside
    ``out/`` whatever the input's path (``../in/a.jpg`` gives ``in``).
    """
    if src == STDIN:
        return {"stem": "stdin", "name": "stdin", "parent": "."}
    name = os.path.basename(src)
    parent = os.path.dirname(src) or "."
    if contained:
        parts = [p for p in parent.replace(os.sep, "/").split("/") if p not in ("", ".", "..")]
        parent = "/".join(parts) or "."
    return {"stem": os.path.splitext(name)[0], "name": name, "parent": parent}


def check_pattern(pattern: str, *, option: str = "--output", fields: Sequence[str] = PATTERN_FIELDS) -> None:
    """Check that a pattern uses only the allowed ``{field}`` names.

    Args:
        pattern: e.g. ``"out/{stem}.{ext}"``.
        option: the option it came from, for the message.
        fields: the field names allowed.

    Raises:
        UsageError: malformed braces or an unknown field.
    """
    try:
        used = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise UsageError(f"bad {option} pattern {pattern!r} ({exc})") from None
    allowed = ", ".join("{" + f + "}" for f in fields)
    for field in used:
        if field not in fields:
            shown = "{" + field + "}"
            raise UsageError(f"unknown field {shown} in {option} pattern {pattern!r}; use {allowed}")


def companion_path(template: str, input_path: str, *, option: str = "--depth-map") -> str:
    """Path of a per-input companion file (depth map, right stereo view).

    Args:
        template: a path, or a pattern with ``{stem}``, ``{name}``, ``{parent}``
            of the input (e.g. ``"depth/{stem}.png"``).
        input_path: the photo it belongs to (``-`` for stdin).
        option: the option it came from, for error messages.

    Returns:
        the companion's path.

    Raises:
        UsageError: a malformed pattern or an unknown field.
    """
    if "{" not in template:
        return template
    check_pattern(template, option=option, fields=COMPANION_FIELDS)
    return template.format(**input_fields(input_path))
