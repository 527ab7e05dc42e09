"""The ``depthblur`` Typer application, its root options, and the run of an image subcommand.

Heavy modules (OpenCV, onnxruntime, SciPy) are imported inside the
commands, so ``depthblur --help`` starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer

from depthblur_cli import __version__
from depthblur_cli.errors import EXIT_USAGE, DepthblurError

app = typer.Typer(
    name="depthblur",
    help=(
        "Put a photo's background out of focus the way a fast lens would. "
        "Local and offline: subject matting, depth, lens blur."
    ),
    epilog="Run 'depthblur COMMAND --help' for a command's options and examples.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: "Error: Invalid value for ..." (easy to grep in CI logs)
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Environment variable that turns on ``--debug``.
DEBUG_ENV = "DEPTHBLUR_DEBUG"
#: ``--debug`` of the current invocation (set by the root callback).
_debug_flag = False


def debug_enabled() -> bool:
    """True when ``--debug`` was given or ``DEPTHBLUR_DEBUG`` is set to a non-empty value other than 0."""
    return _debug_flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def fail(error: DepthblurError) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with the error's code."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


def run_images(
    command: str,
    inputs: list[str],
    output: str | None,
    fmt: str | None,
    default_fmt: str | None,
    json_lines: bool,
    quiet: bool,
    process_factory: Callable,
) -> NoReturn:
    """Expand inputs, plan outputs, run the batch and exit with its code.

    Args:
        command: the subcommand's name (output naming, the report).
        inputs, output, fmt: the command line's inputs, ``-o`` and ``--format``.
        default_fmt: the command's own default format (PNG for rembg-blur), or None.
        json_lines, quiet: reporting.
        process_factory: ``paths -> (plan -> Record)``; given every input path
            (so none is ever overwritten).
    """
    from depthblur_cli.batch import run_batch
    from depthblur_cli.outputs import expand_inputs, plan_outputs

    try:
        paths, early = expand_inputs(inputs)
        plans = plan_outputs(paths, output, command=command, fmt=fmt, default_fmt=default_fmt) if paths else []
        process = process_factory(paths)
    except DepthblurError as exc:
        fail(exc)
    if not plans and not early:
        typer.echo("error: no input images", err=True)
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(
        run_batch(plans, process, early_errors=early, json_lines=json_lines, quiet=quiet, debug=debug_enabled())
    )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"depthblur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of an internal error (or set {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """depthblur."""
    global _debug_flag
    _debug_flag = debug
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
