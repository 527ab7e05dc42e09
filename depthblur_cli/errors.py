"""User-facing errors and the process exit codes they map to.

Every error a user can cause (a bad file, a bad option value, a missing
model, an output that already exists) is a :class:`DepthblurError` whose
``str()`` is one line naming the file (when there is one) and the problem.
The CLI prints that line and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

#: All images were processed.
EXIT_OK = 0
#: One or more images of the batch failed (the others were written).
EXIT_FAILED = 1
#: The command line itself is wrong (bad option value, no inputs).
EXIT_USAGE = 2
#: A model could not be found, downloaded or verified.
EXIT_MODEL = 3
#: The batch engine could not start: ``--engine ray`` without Ray installed, or no cluster at ``--ray-address``.
EXIT_ENGINE = 4
#: Interrupted by the user (Ctrl-C).
EXIT_INTERRUPTED = 130
#: Terminated (SIGTERM): the batch stopped as for Ctrl-C, 128 + 15.
EXIT_TERMINATED = 143


class DepthblurError(Exception):
    """Base class: a one-line, user-facing error.

    Args:
        message: what went wrong, without the file name.
        path: the file concerned, if any; it is prefixed to the message.
    """

    exit_code = EXIT_FAILED
    #: Short machine-readable code used in ``--json`` reports.
    code = "error"

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        super().__init__(str(self))

    def __str__(self) -> str:
        text = " ".join(self.message.split())  # always one line
        return f"{self.path}: {text}" if self.path else text


class InputError(DepthblurError):
    """An input image or depth map is missing, empty, truncated or unreadable."""

    code = "bad_input"


class OutputError(DepthblurError):
    """An output cannot be written (exists without ``--overwrite``, is an input, ...)."""

    code = "bad_output"


class UsageError(DepthblurError, ValueError):
    """An option value is out of range or options contradict each other.

    Also a :class:`ValueError`, so library callers can catch it as one.
    """

    exit_code = EXIT_USAGE
    code = "bad_option"


class ModelError(DepthblurError):
    """A model is unknown, not cached while offline, fails to download or verify."""

    exit_code = EXIT_MODEL
    code = "model"


class EngineError(DepthblurError):
    """The batch engine cannot run: Ray is not installed, or the cluster cannot be reached."""

    exit_code = EXIT_ENGINE
    code = "engine"


class DepthblurWarning(UserWarning):
    """Something a library caller should know about a result that was still made.

    The library's form of the warnings the command prints and reports in
    ``--json`` (``warnings``): the depth source that could not be used and
    what was used instead, a matte that looks wrong, a resized depth map.
    Issued with :func:`warnings.warn`, so ``warnings.simplefilter("error",
    DepthblurWarning)`` makes them exceptions and ``"ignore"`` silences them.
    """
