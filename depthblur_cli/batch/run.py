"""The batch loop: every input accounted for, failures reported, nothing lost.

Records come from an engine (:mod:`depthblur_cli.batch.engines`) in input order. A
bad file is reported on one line (``error: FILE: problem``) and the batch
goes on; at the end a summary lists the failures and the exit code says
whether all succeeded (:data:`~depthblur_cli.errors.EXIT_OK`), some failed
(:data:`~depthblur_cli.errors.EXIT_FAILED`), a model was unusable
(:data:`~depthblur_cli.errors.EXIT_MODEL`, which stops the batch since
every later image would fail the same way) or the run was interrupted
(Ctrl-C: :data:`~depthblur_cli.errors.EXIT_INTERRUPTED`, SIGTERM:
:data:`~depthblur_cli.errors.EXIT_TERMINATED`). Inputs the batch did not
reach get a ``not_processed`` record: every input has exactly one.

With ``--json`` one JSON object per input is printed on its own line, on
stdout; when the image itself goes to stdout the records go to stderr and
nothing else is printed there (warnings and errors are in the records), so
the stream can be parsed as it is. ``--json-file PATH`` writes them to a
file instead, whatever the image's destination.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from depthblur_cli.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_TERMINATED,
    DepthblurError,
)
from depthblur_cli.pipeline.outputs import OutputPlan
from depthblur_cli.pipeline.records import Record

if TYPE_CHECKING:
    from rich.console import Console


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C (summary, temporary files removed), exit 143."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (no-op elsewhere)."""

    def handler(signum, frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress_bar(console: Console) -> Any:
    """A transient progress bar of the batch on ``console`` (a rich ``Progress``, not started)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _early_record(error: DepthblurError, command: str) -> Record:
    record = Record(input=str(error.path or "?"), status="error", error={"code": error.code, "message": str(error)})
    record.info["command"] = command
    return record


def _unreported_record(plan: OutputPlan, command: str, started: float) -> Record:
    """The record of an input the batch stopped before reporting: ``ok`` when a worker finished its
    output during this run (a whole image there, written since ``started``), else ``not_processed``."""
    import os

    from depthblur_cli.batch.engines import output_state
    from depthblur_cli.imaging.storage import is_url

    path = plan.path  # a URL's time is not read: an object there is not claimed for this run
    if path != "-" and not is_url(path) and plan.error is None and output_state(plan) == "done":
        try:
            written_now = os.path.getmtime(path) >= started
        except OSError:
            written_now = False
        if written_now:
            record = Record(input=plan.input, output=path, status="ok", info={"command": command})
            record.warnings.append(f"{plan.input}: finished by a worker before the batch stopped")
            return record
    return Record(input=plan.input, output=None, status="not_processed", info={"command": command})


class _Lines(Protocol):
    """Where JSON lines go: a text stream, or a :class:`~depthblur_cli.imaging.files.StreamedFile`."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> None: ...


def run_batch(
    plans: Sequence[OutputPlan],
    records: Iterable[Record],
    *,
    command: str,
    early_errors: Sequence[DepthblurError] = (),
    json_lines: bool = False,
    json_file: _Lines | None = None,
    quiet: bool = False,
    stderr: Console | None = None,
    json_out: TextIO | None = None,
    debug: bool = False,
) -> int:
    """Report the record of every plan as the engine yields it; return the exit code.

    Args:
        plans: one per input, from :func:`depthblur_cli.pipeline.outputs.plan_outputs`.
        records: the engine's records, one per plan, in the same order
            (consumed lazily: a model error stops the batch).
        command: the subcommand (the report's ``command``).
        early_errors: problems found before processing (inputs that matched
            nothing); reported and counted as failures.
        json_lines: print one JSON object per input.
        json_file: write the JSON lines to this stream instead.
        quiet: print only errors (no progress, no warnings, no summary).
        stderr: console for messages (default: a stderr console).
        json_out: stream for JSON lines (default stdout, or stderr when an
            image is written to stdout).
        debug: print the traceback of an internal error (a bug) on stderr.

    Returns:
        EXIT_OK, EXIT_FAILED (some inputs failed), EXIT_MODEL (a model could
        not be loaded; the batch stopped), EXIT_INTERRUPTED or EXIT_TERMINATED.
    """
    consoles: list[Console] = [] if stderr is None else [stderr]

    def err() -> Console:
        """The stderr console, made on first use (importing rich is 16 ms of a one-photo run's start-up)."""
        if not consoles:
            from rich.console import Console

            consoles.append(Console(stderr=True, highlight=False, soft_wrap=True))
        return consoles[0]

    from rich.markup import escape  # messages name files and options: never read as markup ("bad[x].jpg")

    started = time.time()
    to_stdout = any(p.path == "-" for p in plans)
    out = json_file or json_out or (sys.stderr if to_stdout else sys.stdout)
    # Records on stderr: nothing else may go there, or the stream stops being JSON lines.
    silent = json_lines and out is sys.stderr and json_file is None
    reported: list[Record] = []
    shown_warnings: dict[str, int] = {}  # each warning said once, with how many inputs it was for
    exit_code = EXIT_OK

    def report(record: Record) -> None:
        reported.append(record)
        if not silent:
            if record.status == "error":
                err().print(f"[red]error:[/] {escape(record.message)}", markup=True, highlight=False)
                if debug and "traceback" in record.info:
                    err().print(record.info["traceback"], markup=False, highlight=False)
            elif not quiet:
                for w in record.warnings:
                    # The same advice for every image of a batch is said once, counted at the end.
                    key = w if not w.startswith(record.input) else w[len(record.input) :]
                    if key not in shown_warnings:
                        err().print(f"[yellow]warning:[/] {escape(w)}", markup=True, highlight=False)
                    shown_warnings[key] = shown_warnings.get(key, 0) + 1
        record.info.pop("traceback", None)
        if json_lines or json_file is not None:
            out.write(json.dumps(record.as_dict()) + "\n")
            out.flush()

    for error in early_errors:
        report(_early_record(error, command))

    show_bar = not quiet and not silent and len(plans) > 1 and err().is_terminal
    progress = _progress_bar(err()) if show_bar else None
    done = 0
    try:
        with progress or contextlib.nullcontext(), sigterm_as_interrupt():
            task = progress.add_task("blurring", total=len(plans)) if progress else None
            for record in records:
                plan = plans[done]
                if progress:
                    name = plan.input if len(plan.input) < 40 else "…" + plan.input[-39:]
                    progress.update(task, description=name)
                report(record)
                done += 1
                if progress:
                    progress.advance(task)
                if record.status == "error" and record.error and record.error["code"] == "model":
                    exit_code = EXIT_MODEL
                    break
    except KeyboardInterrupt:
        if not silent:
            err().print("[red]interrupted[/]", markup=True)
        exit_code = EXIT_INTERRUPTED
    except Terminated:
        if not silent:
            err().print("[red]terminated[/]", markup=True)
        exit_code = EXIT_TERMINATED
    for plan in plans[done:]:
        report(_unreported_record(plan, command, started))

    failed = [r for r in reported if r.status == "error"]
    if failed and exit_code == EXIT_OK:
        exit_code = EXIT_FAILED
    if not quiet and not silent and len(reported) > 1:
        _print_summary(err(), reported, shown_warnings)
    return exit_code


def _print_summary(console: Console, reported: list[Record], shown_warnings: dict[str, int]) -> None:
    """The batch's last lines: how often a repeated warning was given, the counts, the failures."""
    counts = {s: sum(r.status == s for r in reported) for s in ("ok", "error", "skipped", "not_processed")}
    line = f"{counts['ok']} written, {counts['error']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped (already there)"
    if counts["not_processed"]:
        line += f", {counts['not_processed']} not processed"
    repeated = [(k, n) for k, n in shown_warnings.items() if n > 1]
    for key, count in repeated:
        what = "the warning above" if len(shown_warnings) == 1 else f"warning '{key.lstrip(': ')[:50]}…'"
        console.print(f"({what} was for {count} inputs)", highlight=False, markup=False)
    console.print(line, highlight=False, markup=False)
    failed = [r for r in reported if r.status == "error"]
    if failed:
        console.print("failed:", highlight=False)
        for r in failed:
            console.print(f"  {r.message}", highlight=False, markup=False)
