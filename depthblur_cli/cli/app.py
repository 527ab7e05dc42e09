"""The ``depthblur`` Typer application, its root options, and the run of an image subcommand.

Heavy modules (OpenCV, onnxruntime, SciPy) are imported inside the
commands, so ``depthblur --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer

from depthblur_cli import __version__, defaults
from depthblur_cli.errors import EXIT_USAGE, DepthblurError, UsageError

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


@dataclass
class BatchSettings:
    """The options every image command shares about running a batch (see :mod:`depthblur_cli.cli.params`)."""

    output: str | None
    fmt: str | None
    json_lines: bool
    json_file: str | None
    quiet: bool
    workers: str | None
    device: str
    engine: str
    ray_address: str | None
    skip_existing: bool
    dry_run: bool
    offline: bool

    @classmethod
    def from_params(cls, given: dict) -> BatchSettings:
        """The settings from a command's parameters (its ``locals()``)."""
        return cls(**{name: given[name] for name in cls.__dataclass_fields__})


def write_options(given: dict, **extra):
    """The :class:`~depthblur_cli.options.WriteOptions` from a command's parameters (its ``locals()``)."""
    from depthblur_cli.options import WriteOptions

    names = ("quality", "png_compression", "overwrite", "save_mask", "strip_metadata")
    return WriteOptions(**{name: given[name] for name in names}, **extra)


def _worker_count(value: str | None, inputs: int, *, cluster: bool = False) -> int | None:
    """``-j`` as a number; on a cluster None for the default (one per CPU)."""
    from depthblur_cli.jobs import default_workers

    if value is None or value == "auto":
        if cluster:
            return None
        return 1 if value is None else default_workers(inputs)
    try:
        count = int(value)
    except ValueError:
        raise typer.BadParameter(f"use a number of workers or auto, got {value!r}", param_hint="-j/--workers") from None
    if not 1 <= count <= 256:
        raise typer.BadParameter(f"{count} is not in the range 1..256", param_hint="-j/--workers")
    return count


def run_images(
    command: str,
    inputs: list[str],
    settings: BatchSettings,
    options: object,
    write: object,
    *,
    matte_model: str,
    depth_model: str | None = None,
    default_fmt: str | None = None,
    companions: Sequence[tuple[str, str | None]] = (),
) -> NoReturn:
    """Expand inputs, plan outputs, run the batch on an engine and exit with its code.

    Args:
        command: the subcommand's name (output naming, the report).
        inputs: the command line's inputs.
        settings: the shared batch options.
        options, write: the job's options and write options.
        matte_model, depth_model: model names or paths (a path is never overwritten).
        default_fmt: the command's own default format (PNG for rembg-blur), or None.
        companions: (option, per-input pattern) of companion inputs (depth map,
            right view): never overwritten.
    """
    from depthblur_cli.imaging.files import ProtectedFiles, remove_stale_temp_files
    from depthblur_cli.imaging.storage import is_url
    from depthblur_cli.jobs import Job, run
    from depthblur_cli.outputs import companion_path, expand_inputs, plan_outputs

    try:
        paths, early = expand_inputs(inputs)
        plans = (
            plan_outputs(paths, settings.output, command=command, fmt=settings.fmt, default_fmt=default_fmt)
            if paths
            else []
        )
        protected = [p for p in paths if p != "-"]
        protected += [companion_path(t, p, option=o) for o, t in companions if t for p in paths]
        protected += [m for m in (matte_model, depth_model) if m and os.path.isfile(m)]
    except DepthblurError as exc:
        fail(exc)
    if not plans and not early:
        typer.echo("error: no input images", err=True)
        raise typer.Exit(EXIT_USAGE)
    if any(p.path == "-" for p in plans) and sys.stdout.isatty() and not settings.dry_run:
        typer.echo(
            "error: refusing to write image data to a terminal; redirect it (> out.jpg) or use -o FILE", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    cluster = settings.engine == "ray"
    workers = _worker_count(settings.workers, len(plans), cluster=cluster)
    if cluster and any("-" in (p.input, p.path) for p in plans):
        fail(UsageError("--engine ray cannot read standard input or write standard output: give files or URLs"))
    if settings.device not in defaults.DEVICES:
        raise typer.BadParameter(
            f"use one of {', '.join(defaults.DEVICES)}, got {settings.device!r}", param_hint="--device"
        )
    if settings.dry_run:
        _print_plan(command, plans, early, settings)
        raise typer.Exit(EXIT_USAGE if early and not plans else 0)
    for directory in {os.path.dirname(os.path.abspath(p.path)) for p in plans if p.path != "-" and not is_url(p.path)}:
        remove_stale_temp_files(directory)  # left by killed runs
    job = Job(
        command=command, options=options, write=write, matte_model=matte_model, depth_model=depth_model,
        allow_download=not settings.offline, device=settings.device, skip_existing=settings.skip_existing,
        protected=ProtectedFiles(protected),
    )  # fmt: skip
    debug = debug_enabled()
    json_out = sys.stdout if cluster else None  # None: run_batch decides
    with contextlib.ExitStack() as stack:
        engine = None
        if cluster:
            # Ray prints its cluster's errors ("(raylet) A worker died ...") on sys.stdout: send them
            # to stderr, so that stdout carries the records and nothing else.
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
            from depthblur_cli import cluster as ray_engine

            try:
                stack.enter_context(ray_engine.joined(settings.ray_address))
            except DepthblurError as exc:
                fail(exc)
            engine = functools.partial(ray_engine.run_ray, workers=workers, debug=debug)
        records = run(job, plans, workers or 1, progress=not settings.quiet, debug=debug, engine=engine)
        code = _report(command, plans, records, early, settings, debug, json_out)
    raise typer.Exit(code)


def _report(command: str, plans: Sequence, records, early: Sequence[DepthblurError], settings: BatchSettings,
            debug: bool, json_out) -> int:  # fmt: skip
    """Report the records (see :func:`depthblur_cli.batch.run_batch`); the exit code."""
    from depthblur_cli.batch import run_batch

    json_file = None
    try:
        if settings.json_file is not None:
            json_file = open(settings.json_file, "w", encoding="utf-8")  # noqa: SIM115  (closed below)
        code = run_batch(plans, records, command=command, early_errors=early, json_lines=settings.json_lines,
                         json_file=json_file, quiet=settings.quiet, json_out=json_out, debug=debug)  # fmt: skip
    except OSError as exc:
        typer.echo(f"error: {settings.json_file}: cannot write the report ({exc.strerror or exc})", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        if json_file is not None:
            json_file.close()
    return code


def _print_plan(command: str, plans: Sequence, early: Sequence[DepthblurError], settings: BatchSettings) -> None:
    """``--dry-run``: what would be done, one line (or JSON record) per input; nothing is read or written."""
    import json

    from depthblur_cli.jobs import is_done
    from depthblur_cli.report import Record

    for error in early:
        typer.echo(f"error: {error}", err=True)
    for plan in plans:
        if plan.error is not None:
            if settings.json_lines:
                detail = {"code": plan.error.code, "message": str(plan.error)}
                typer.echo(
                    json.dumps(
                        Record(input=plan.input, status="error", error=detail, info={"command": command}).as_dict()
                    )
                )
            else:
                typer.echo(f"{plan.input} -> {plan.path}: error: {plan.error}")
            continue
        if settings.skip_existing and is_done(plan):
            action = "skip (the output is there)"
        else:
            action = "overwrite" if plan.path != "-" and os.path.lexists(plan.path) else "write"
        if settings.json_lines:
            record = Record(
                input=plan.input, output=plan.path, status="planned", info={"command": command, "plan": action}
            )
            typer.echo(json.dumps(record.as_dict()))
        else:
            typer.echo(f"{plan.input} -> {plan.path} ({plan.fmt or 'as the input'}): {action}")


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
