"""The machine-readable report: one record per input (``--json``, ``--json-file``).

Every input gets exactly one record, whatever happens: ``ok`` (written),
``error`` (with a code and a one-line message), ``skipped`` (its output was
already there, ``--skip-existing``), ``not_processed`` (the batch stopped
before it: a model error or an interruption) or ``planned`` (``--dry-run``).
The format is versioned (:data:`SCHEMA_VERSION`) and documented by the JSON
Schema in ``docs/report.schema.json``.

Imports nothing heavy: the batch loop and the per-image pipeline both build
on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: Version of the record format; every record carries it as ``"version"``.
SCHEMA_VERSION = 1
#: The statuses a record can have.
STATUSES = ("ok", "error", "skipped", "not_processed", "planned")


@dataclass
class Record:
    """One line of the machine-readable report (``--json``).

    Attributes:
        input: input path ("-" for stdin).
        output: output path, or None if nothing was written.
        status: one of :data:`STATUSES`.
        error: {"code", "message"} when status is "error".
        warnings: one-line remarks (e.g. "no depth model: ...").
        info: what was done: size, radius, models, depth source, focus...
        timings: seconds per stage ("load", "matte", "depth", "render",
            "write", "total").
        side_outputs: extra files written (mask, depth).
    """

    input: str
    output: str | None = None
    status: str = "ok"
    error: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    side_outputs: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The error's one-line message ("" when the record is not an error)."""
        return self.error["message"] if self.error else ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, timings rounded to milliseconds."""
        return {
            "version": SCHEMA_VERSION,
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "warnings": self.warnings,
            **self.info,
            "side_outputs": self.side_outputs,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


class Clock:
    """Seconds per stage of one record: :meth:`lap` after each stage, :meth:`total` at the end."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, stage: str) -> None:
        """Add the time since the last lap to ``stage``."""
        now = time.perf_counter()
        self.record.timings[stage] = self.record.timings.get(stage, 0.0) + now - self.last
        self.last = now

    def total(self) -> None:
        """Record the time since the clock started as ``total``."""
        self.record.timings["total"] = time.perf_counter() - self.start
