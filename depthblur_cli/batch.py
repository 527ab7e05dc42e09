"""The batch loop: every input processed, failures reported, nothing lost.

Each input is processed independently: a bad file is reported on one line
(``error: FILE: problem``) and the batch goes on; at the end a summary
lists the failures and the exit code says whether all succeeded
(:data:`~depthblur_cli.errors.EXIT_OK`), some failed
(:data:`~depthblur_cli.errors.EXIT_FAILED`) or a model was unusable
(:data:`~depthblur_cli.errors.EXIT_MODEL`, which stops the batch since
every later image would fail the same way). With ``--json`` one JSON object
per input is printed on its own line (stdout, or stderr when the image
itself goes to stdout).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from depthblur_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK, DepthblurError, ModelError
from depthblur_cli.outputs import OutputPlan
from depthblur_cli.report import Record


def _error_record(input_path: str, error: DepthblurError | BaseException, code: str | None = None) -> Record:
    if isinstance(error, DepthblurError):
        message, code = str(error), code or error.code
    else:
        message = f"{input_path}: internal error: {type(error).__name__}: {error}".replace("\n", " ")
        code = code or "internal"
    return Record(input=input_path, status="error", error={"code": code, "message": message})


def run_batch(
    plans: Sequence[OutputPlan],
    process: Callable[[OutputPlan], Record],
    *,
    early_errors: Sequence[DepthblurError] = (),
    json_lines: bool = False,
    quiet: bool = False,
    stderr: Console | None = None,
    json_out: TextIO | None = None,
    debug: bool = False,
) -> int:
    """Process every plan, report each result, return the exit code.

    Args:
        plans: one per input, from :func:`depthblur_cli.outputs.plan_outputs`
            (a plan with ``error`` set is reported without processing).
        process: runs one plan, returns its record, raises DepthblurError.
        early_errors: problems found before processing (inputs that matched
            nothing); reported and counted as failures.
        json_lines: print one JSON object per input.
        quiet: print only errors (no progress, no warnings, no summary).
        stderr: console for messages (default: a stderr console).
        json_out: stream for JSON lines (default stdout, or stderr when an
            image is written to stdout).
        debug: print the traceback of an internal error (a bug) on stderr.

    Returns:
        EXIT_OK, EXIT_FAILED (some inputs failed), EXIT_MODEL (a model could
        not be loaded; the batch stopped) or EXIT_INTERRUPTED.
    """
    err = stderr or Console(stderr=True, highlight=False, soft_wrap=True)
    to_stdout = any(p.path == "-" for p in plans)
    out = json_out or (sys.stderr if to_stdout else sys.stdout)
    records: list[Record] = [_error_record(str(e.path or "?"), e) for e in early_errors]
    shown_warnings: set[str] = set()
    exit_code = EXIT_OK

    def report(record: Record) -> None:
        if record.status == "error":
            err.print(f"[red]error:[/] {record.message}", markup=True, highlight=False)
        elif not quiet:
            for w in record.warnings:
                # The same advice for every image of a batch is said once.
                key = w if not w.startswith(record.input) else w[len(record.input) :]
                if key not in shown_warnings:
                    shown_warnings.add(key)
                    err.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
        if json_lines:
            out.write(json.dumps(record.as_dict()) + "\n")
            out.flush()

    for record in records:
        report(record)

    show_bar = not quiet and len(plans) > 1 and err.is_terminal
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not show_bar,
    )
    try:
        with progress:
            task = progress.add_task("blurring", total=len(plans))
            for plan in plans:
                progress.update(task, description=plan.input if len(plan.input) < 40 else "…" + plan.input[-39:])
                if plan.error is not None:
                    record = _error_record(plan.input, plan.error)
                else:
                    try:
                        record = process(plan)
                    except ModelError as exc:
                        record = _error_record(plan.input, exc)
                        records.append(record)
                        report(record)
                        exit_code = EXIT_MODEL
                        break
                    except DepthblurError as exc:
                        record = _error_record(plan.input, exc)
                    except MemoryError:
                        record = _error_record(
                            plan.input,
                            DepthblurError("out of memory: image too large for this machine", plan.input),
                            "memory",
                        )
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # a bug must not lose the rest of the batch
                        record = _error_record(plan.input, exc)
                        if debug:
                            err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
                records.append(record)
                report(record)
                progress.advance(task)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]", markup=True)
        exit_code = EXIT_INTERRUPTED

    failed = [r for r in records if r.status == "error"]
    done = [r for r in records if r.status == "ok"]
    if failed and exit_code == EXIT_OK:
        exit_code = EXIT_FAILED
    skipped = len(plans) + len(early_errors) - len(records)
    if not quiet and (len(records) > 1 or skipped):
        line = f"{len(done)} written, {len(failed)} failed"
        if skipped > 0:
            line += f", {skipped} not processed"
        err.print(line, highlight=False)
        if failed and len(records) > 1:
            err.print("failed:", highlight=False)
            for r in failed:
                err.print(f"  {r.message}", highlight=False, markup=False)
    return exit_code
