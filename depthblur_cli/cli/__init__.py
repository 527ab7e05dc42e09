"""The ``depthblur`` command line: a thin Typer layer over the pipeline.

One module per subcommand (:mod:`~depthblur_cli.cli.background`,
:mod:`~depthblur_cli.cli.depth`, :mod:`~depthblur_cli.cli.models`), the
shared options in :mod:`~depthblur_cli.cli.params` and the application with
its root options in :mod:`~depthblur_cli.cli.app`.
"""

from __future__ import annotations

import os
import sys
import warnings

from depthblur_cli.cli import background, depth, doctor, models, serve  # noqa: F401  (registers the subcommands)
from depthblur_cli.cli.app import app
from depthblur_cli.memory import keep_freed_memory, no_numpy_huge_pages

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    # Pillow's remarks on a damaged EXIF block (with its own file path) are not the user's concern:
    # the photo still decodes, and its metadata is kept as far as it reads.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
    keep_freed_memory()  # full-size temporaries are reused, not page-faulted in anew
    no_numpy_huge_pages()  # no page fault waits for memory compaction
    try:
        app()
    except SystemExit as exc:
        _exit_now(exc.code)
        raise


def _exit_now(code: object) -> None:
    """End the process at once with ``code``, skipping the interpreter's teardown, when that is safe.

    Tearing down the interpreter after a 12 MP photo (the onnxruntime
    session, the thread pools, every module) took 0.07-0.09 s, a tenth of
    the whole run. Everything this command writes is complete by now
    (outputs are written atomically and closed; the streams are flushed
    here), so the process may end without it: unless Ray was used (its exit
    handlers stop the cluster it started) or child processes are alive.
    Returns (and the normal exit follows) when a stream cannot be flushed,
    e.g. a closed pipe, so that case keeps its usual handling.
    """
    if not (code is None or isinstance(code, int)) or "ray" in sys.modules:
        return
    if "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children():
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)
