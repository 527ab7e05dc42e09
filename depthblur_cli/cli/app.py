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
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from depthblur_cli import __version__
from depthblur_cli.errors import EXIT_FAILED, EXIT_USAGE, DepthblurError, UsageError
from depthblur_cli.options import defaults


class _HintingGroup(TyperGroup):
    """The command group, whose usage errors point across subcommands.

    An option that another subcommand has (``bokeh --focal-selector``) names
    that subcommand instead of click's nearest spelling of this one's;
    ``--radius`` given in pixels (bokeh, gaussian: a fraction) names
    ``--radius-px``. The errors are matched by name: Typer may carry its own
    copy of click.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            kind = type(exc).__name__
            if kind == "NoSuchOption":
                name = getattr(exc, "option_name", "")
                owners = [
                    n
                    for n, command in sorted(self.commands.items())
                    if n != ctx.invoked_subcommand and any(name in p.opts for p in command.params)
                ]
                if owners:
                    where = " and ".join(f"'depthblur {o}'" for o in owners)
                    setattr(exc, "possibilities", None)  # noqa: B010 (a final attribute to the type checker)
                    setattr(exc, "message", f"No such option: {name}; it is an option of {where}")  # noqa: B010
            elif kind == "BadParameter" and str(getattr(exc, "message", "")).startswith("Input should be"):
                # Typer's own range check: said as every other range error is, with the real bounds
                low, high = (getattr(getattr(exc, "param", None), k, None) for k in ("min", "max"))
                if low is not None and high is not None:
                    setattr(exc, "message", f"must be in the range {low} <= x <= {high}")  # noqa: B010
            if kind == "BadParameter" and getattr(getattr(exc, "param", None), "name", None) == "radius":
                sub = getattr(exc, "ctx", None)
                if sub is not None and any("--radius-px" in p.opts for p in sub.command.params):
                    hint = "; --radius is a fraction of the longer side (for pixels use --radius-px)"
                    setattr(exc, "message", str(getattr(exc, "message", "")) + hint)  # noqa: B010
            raise


#: The groups of options in an image command's ``--help``, in order: (title, parameter names).
HELP_GROUPS = (
    ("Photoshop API options (depthBlur)", ("focal_distance", "focal_range", "focal_selector", "focus_subject",
                                           "blur_strength", "haze", "temp", "tint", "saturation", "brightness",
                                           "grain", "ps_options", "ps_output")),
    ("Blur", ("radius", "radius_px")),
    ("Depth source", ("depth_map", "depth_kind", "stereo_right", "depth_source", "depth_model",
                      "focus_disparity", "coc_scale")),
    ("Subject", ("model", "subject_box", "mask", "cutout", "only_mask")),
    ("Lens and aperture", ("blades", "blade_rotation", "blade_curvature", "highlights", "highlight_threshold",
                           "seed")),
    ("Output", ("output", "fmt", "quality", "png_compression", "save_mask", "save_depth", "overwrite",
                "strip_metadata")),
    ("Batch, report and engine", ("json_lines", "json_file", "quiet", "workers", "device", "engine",
                                  "ray_address", "skip_existing", "dry_run", "offline")),
)  # fmt: skip


class GroupedCommand(TyperCommand):
    """A command whose ``--help`` lists its options in groups (:data:`HELP_GROUPS`), plain text."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        records: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = next((t for t, names in HELP_GROUPS if param.name in names), "Other options")
            records.setdefault(title, []).append(record)
        for title in [t for t, _ in HELP_GROUPS] + ["Other options"]:
            if records.get(title):
                with formatter.section(title):
                    formatter.write_dl(records[title])


app = typer.Typer(
    cls=_HintingGroup,
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
    """The :class:`~depthblur_cli.pipeline.options.WriteOptions` from a command's parameters (its ``locals()``)."""
    from depthblur_cli.pipeline.options import WriteOptions

    names = ("quality", "png_compression", "overwrite", "save_mask", "strip_metadata")
    return WriteOptions(**{name: given[name] for name in names}, **extra)


def _worker_count(value: str | None, inputs: int, *, cluster: bool = False) -> int | None:
    """``-j`` as a number; on a cluster None for the default (one per CPU)."""
    from depthblur_cli.batch.engines import default_workers

    if value is None or value == "auto":
        if cluster:
            return None
        return 1 if value is None else default_workers(inputs)
    try:
        count = int(value)
    except ValueError:
        raise typer.BadParameter(f"use a number of workers or auto, got {value!r}", param_hint="-j/--workers") from None
    if not 1 <= count <= 256:
        raise typer.BadParameter(f"must be in the range 1 <= x <= 256, got {count}", param_hint="-j/--workers")
    return count


def _protected_inputs(
    paths: list[str], companions: Sequence[tuple[str, str | None]], models: tuple[str | None, ...]
) -> list[str]:
    """What a batch must never write: its inputs, their companions (per-input patterns) and model files."""
    from depthblur_cli.imaging.patterns import companion_path

    protected = [p for p in paths if p != "-"]
    protected += [companion_path(t, p, option=o) for o, t in companions if t for p in paths]
    return protected + [m for m in models if m and os.path.isfile(m)]


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
    from depthblur_cli.batch.engines import Job, remove_temp_files_of_dead_writers, run
    from depthblur_cli.imaging.files import ProtectedFiles, StreamedFile
    from depthblur_cli.imaging.storage import is_url
    from depthblur_cli.pipeline.outputs import expand_inputs, plan_outputs

    try:
        paths, early = expand_inputs(inputs)
        plans = (
            plan_outputs(paths, settings.output, command=command, fmt=settings.fmt, default_fmt=default_fmt)
            if paths
            else []
        )
        protected = _protected_inputs(paths, companions, (matte_model, depth_model))
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
    if not cluster and any(p.input == "-" for p in plans):
        workers = 1  # standard input is this process's: worker processes would find it empty
    if cluster and any("-" in (p.input, p.path) for p in plans):
        fail(UsageError("--engine ray cannot read standard input or write standard output: give files or URLs"))
    if settings.device not in defaults.DEVICES:
        raise typer.BadParameter(
            f"use one of {', '.join(defaults.DEVICES)}, got {settings.device!r}", param_hint="--device"
        )
    overwrite = bool(getattr(write, "overwrite", False))
    if settings.dry_run:
        raise typer.Exit(_print_plan(command, plans, early, settings, overwrite, ProtectedFiles(protected)))
    report_file = None
    if settings.json_file is not None:
        # The report is an output like the images: never an input, a depth map, a model or one of
        # this batch's images, never replaced without --overwrite; checked before any work.
        try:
            outputs = [p.path for p in plans if p.path != "-" and not is_url(p.path)]
            report_file = StreamedFile(
                settings.json_file, overwrite=overwrite, protected=ProtectedFiles(protected + outputs)
            )
        except DepthblurError as exc:
            typer.echo(f"error: {exc} (--json-file)", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    remove_temp_files_of_dead_writers(plans)  # left by killed runs
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
            from depthblur_cli.batch import cluster as ray_engine

            try:
                stack.enter_context(ray_engine.joined(settings.ray_address))
            except DepthblurError as exc:
                fail(exc)
            engine = functools.partial(ray_engine.run_ray, workers=workers, debug=debug)
        records = run(job, plans, workers or 1, progress=not settings.quiet, debug=debug, engine=engine)
        if hasattr(records, "close"):  # a batch stopped early (a bad model) ends its engine before Ray goes
            stack.callback(records.close)
        code = _report(command, plans, records, early, settings, debug, json_out, report_file)
    remove_temp_files_of_dead_writers(plans)  # left by a worker process killed during this run
    raise typer.Exit(code)


def _report(command: str, plans: Sequence, records, early: Sequence[DepthblurError], settings: BatchSettings,
            debug: bool, json_out, report_file) -> int:  # fmt: skip
    """Report the records (see :func:`depthblur_cli.batch.run.run_batch`); the exit code.

    ``report_file`` (a :class:`~depthblur_cli.imaging.files.StreamedFile`, or None) is put in
    place when the batch ends; a failure to write it is said once and fails the run (exit 1),
    after every image was done.
    """
    from depthblur_cli.batch.run import run_batch

    try:
        code = run_batch(plans, records, command=command, early_errors=early, json_lines=settings.json_lines,
                         json_file=report_file, quiet=settings.quiet, json_out=json_out, debug=debug)  # fmt: skip
    except BaseException:
        if report_file is not None:
            report_file.discard()
        raise
    if report_file is not None:
        try:
            report_file.close()
        except DepthblurError as exc:
            typer.echo(f"error: {exc} (the --json-file report)", err=True)
            code = code or EXIT_FAILED
    return code


def _print_plan(command: str, plans: Sequence, early: Sequence[DepthblurError], settings: BatchSettings,
                overwrite: bool, protected) -> int:  # fmt: skip
    """``--dry-run``: what would be done, one line (or JSON record) per input; nothing is read or written.

    It tells the truth: an output the run would refuse (it exists without ``--overwrite``, it is an
    input, a directory or a device) is an error here too, and the exit code is the run's (1 when
    any input would fail, 2 when nothing could be planned).
    """
    import json

    from depthblur_cli.batch.engines import output_state
    from depthblur_cli.imaging.files import check_target
    from depthblur_cli.imaging.storage import is_url
    from depthblur_cli.pipeline.records import Record

    failed = False
    for error in early:
        typer.echo(f"error: {error}", err=True)
    for plan in plans:
        error = plan.error
        action = "write"
        state = output_state(plan) if error is None and settings.skip_existing else "absent"
        if state == "done":
            action = "skip (the output is there)"
        elif state == "broken":
            action = "redo (the output there is not a whole image)"
        elif error is None and plan.path != "-" and not is_url(plan.path):
            try:
                action = "overwrite" if check_target(plan.path, overwrite=overwrite, protected=protected) else "write"
            except DepthblurError as exc:
                error = exc
        if error is not None:
            failed = True
            if settings.json_lines:
                detail = {"code": error.code, "message": str(error)}
                record = Record(input=plan.input, status="error", error=detail, info={"command": command})
                typer.echo(json.dumps(record.as_dict()))
            else:
                typer.echo(f"{plan.input} -> {plan.path}: error: {error}")
            continue
        if settings.json_lines:
            record = Record(
                input=plan.input, output=plan.path, status="planned", info={"command": command, "plan": action}
            )
            typer.echo(json.dumps(record.as_dict()))
        else:
            typer.echo(f"{plan.input} -> {plan.path} ({plan.fmt or 'as the input'}): {action}")
    if early and not plans:
        return EXIT_USAGE
    return EXIT_FAILED if failed or early else 0


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
