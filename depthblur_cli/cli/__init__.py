"""The ``depthblur`` command line: a thin Typer layer over the pipeline.

One module per subcommand (:mod:`~depthblur_cli.cli.background`,
:mod:`~depthblur_cli.cli.depth`, :mod:`~depthblur_cli.cli.models`), the
shared options in :mod:`~depthblur_cli.cli.params` and the application with
its root options in :mod:`~depthblur_cli.cli.app`.
"""

from __future__ import annotations

import os

from depthblur_cli.cli import background, depth, doctor, models, serve  # noqa: F401  (registers the subcommands)
from depthblur_cli.cli.app import app
from depthblur_cli.memory import keep_freed_memory

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    keep_freed_memory()  # full-size temporaries are reused, not page-faulted in anew
    app()
