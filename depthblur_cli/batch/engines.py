"""The engine-agnostic core of a batch: plan -> per-worker session -> record -> retry-safe write.

A :class:`Job` says what to do to every input (picklable: it travels to
worker processes or cluster actors as it is). An
:class:`~depthblur_cli.pipeline.outputs.OutputPlan` is one input and where its result
goes. A :class:`Worker` holds the models of one job, loaded once, and turns a
plan into a :class:`~depthblur_cli.pipeline.records.Record`, never raising for a bad
input: the error is in the record. A write is retry-safe: outputs are
written atomically (a file renamed into place, an object uploaded whole), and
with ``skip_existing`` an output already there is "done"; an input sent
again after its worker died (``done_if_exists``) finds its output and skips.

Engines run plans and yield their records in input order:
:func:`run_serial` (in this process), :func:`run_processes` (a process
pool, one worker and its models per process, the cores split between
them) and :func:`depthblur_cli.batch.cluster.run_ray` (Ray actors). The batch
loop (:mod:`depthblur_cli.batch.run`) reports the records, and does not care
which engine made them.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any

import depthblur_cli.imaging.storage as storage
from depthblur_cli.errors import DepthblurError
from depthblur_cli.imaging.files import ProtectedFiles, remove_stale_temp_files
from depthblur_cli.imaging.storage import is_url
from depthblur_cli.pipeline.outputs import OutputPlan
from depthblur_cli.pipeline.records import Record

#: Times the inputs of a worker that died are tried again (a new process, or actor).
RETRIES = 2

#: The commands a job can run.
COMMANDS = ("bokeh", "gaussian", "rembg-blur", "depth")


@dataclass(frozen=True)
class Job:
    """What to do to every input of a batch.

    Attributes:
        command: ``"bokeh"``, ``"gaussian"``, ``"rembg-blur"`` or ``"depth"``.
        options: :class:`~depthblur_cli.pipeline.options.BackgroundBlurOptions` or
            :class:`~depthblur_cli.pipeline.options.DepthOptions`.
        write: :class:`~depthblur_cli.pipeline.options.WriteOptions`.
        matte_model, depth_model: model names or ``.onnx`` paths.
        allow_download: fetch missing catalog models.
        device: ``--device`` (``auto``, ``cpu``, ``cuda``, ...).
        threads: threads per worker for the renderer and onnxruntime (None:
            every core).
        skip_existing: an output already there is done: the input is skipped.
        protected: files never to overwrite (every input, model files): a
            :class:`~depthblur_cli.imaging.files.ProtectedFiles` or paths.
    """

    command: str
    options: Any
    write: Any
    matte_model: str
    depth_model: str | None = None
    allow_download: bool = True
    device: str = "auto"
    threads: int | None = None
    skip_existing: bool = False
    protected: ProtectedFiles | tuple[str, ...] = field(default_factory=tuple)


def output_directories(plans: Sequence[OutputPlan]) -> set[str]:
    """The local folders the plans write into (standard output and URLs have none)."""
    return {os.path.dirname(os.path.abspath(p.path)) for p in plans if p.path != "-" and not is_url(p.path)}


def remove_temp_files_of_dead_writers(plans: Sequence[OutputPlan]) -> None:
    """Remove, from the plans' folders, the temporary files that killed processes left half written
    (:func:`~depthblur_cli.imaging.files.remove_stale_temp_files`; a live writer's are left)."""
    for directory in output_directories(plans):
        remove_stale_temp_files(directory)


def skipped_record(plan: OutputPlan, command: str) -> Record:
    """The record of an input whose output is already there (``--skip-existing``)."""
    return Record(input=plan.input, output=plan.path, status="skipped", info={"command": command})


#: How a whole file of each format ends (a file cut short does not): PNG's IEND chunk, JPEG's EOI marker.
_TRAILERS = {"PNG": b"\x00\x00\x00\x00IEND\xaeB`\x82", "JPEG": b"\xff\xd9"}


def is_complete_image(path: str, fmt: str | None) -> bool:
    """Whether the local file ``path`` is a whole image of format ``fmt`` (any Pillow opens when None).

    A regular, non-empty file (links followed: a dangling one is not)
    whose header Pillow reads as that format, and that ends as the format
    does (PNG, JPEG) or is as long as its header says (WebP's RIFF size).
    Reads the header and the last bytes only, never the pixels.
    """
    import stat

    from PIL import Image, UnidentifiedImageError

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return False
        with Image.open(path) as im:
            found = im.format
            if fmt is not None and found != fmt:
                return False
        with open(path, "rb") as fh:
            head = fh.read(12)
            fh.seek(max(0, st.st_size - 12))
            tail = fh.read()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False
    if found == "WEBP":
        return head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == st.st_size
    trailer = _TRAILERS.get(found or "")
    return trailer is None or tail.endswith(trailer)


def output_state(plan: OutputPlan) -> str:
    """What is at the plan's output: ``"absent"``, ``"done"`` or ``"broken"``.

    Done: a whole image of the plan's format (:func:`is_complete_image`),
    or an object at a URL (not read). Broken: anything else there (an empty
    or cut-short file, another kind of file, a directory, a dangling link).
    Standard output is always absent.
    """
    if plan.path == "-":
        return "absent"
    if is_url(plan.path):
        return "done" if storage.exists(plan.path) else "absent"
    if not os.path.lexists(plan.path):
        return "absent"
    return "done" if is_complete_image(plan.path, plan.fmt) else "broken"


def is_done(plan: OutputPlan) -> bool:
    """True when the plan's output is there and whole (see :func:`output_state`)."""
    return output_state(plan) == "done"


def error_record(input_path: str, error: BaseException, command: str, *, debug: bool = False) -> Record:
    """The record of an input that failed: a DepthblurError's one line, or an internal error (a bug)."""
    if isinstance(error, DepthblurError):
        message, code = str(error), error.code
    elif isinstance(error, MemoryError):
        message, code = f"{input_path}: out of memory (the image or the blur is too large for this machine)", "memory"
    else:
        message = f"{input_path}: internal error: {type(error).__name__}: {error}".replace("\n", " ")
        code = "internal"
    record = Record(input=input_path, status="error", error={"code": code, "message": message})
    record.info["command"] = command
    if debug and code == "internal":
        record.info["traceback"] = "".join(traceback.format_exception(error))
    return record


def lost_worker_record(input_path: str, reason: str, command: str) -> Record:
    """The record of an input whose worker (a process, a cluster actor) died with it: code ``worker``."""
    record = Record(input=input_path, status="error", error={"code": "worker", "message": f"{input_path}: {reason}"})
    record.info["command"] = command
    return record


class Worker:
    """One job's models, loaded once, processing tasks.

    Args (constructor):
        job: the job.
        progress: show download progress bars.
    """

    def __init__(self, job: Job, *, progress: bool = False) -> None:
        from depthblur_cli.pipeline.photo import ModelBox

        self.job = job
        self.models = ModelBox(
            job.matte_model,
            job.depth_model,
            allow_download=job.allow_download,
            progress=progress,
            device=job.device,
            threads=job.threads,
        )

    def run(self, plan: OutputPlan, *, debug: bool = False, done_if_exists: bool = False) -> Record:
        """Process one input; a bad input's error is in the record (KeyboardInterrupt goes through).

        Args:
            plan: the input and its output.
            debug: keep an internal error's traceback in the record.
            done_if_exists: the input is sent again after its worker died:
                an output already there (its first attempt may have written
                it) is done, as with ``skip_existing``.

        Returns:
            the record: ``ok``, ``skipped`` (its output is there and
            ``skip_existing`` or ``done_if_exists``), or ``error`` (code
            ``model`` for a model that cannot be had: the batch stops).
        """
        from depthblur_cli.pipeline.photo import process_background_blur, process_depth

        job = self.job
        if plan.error is not None:
            return error_record(plan.input, plan.error, job.command)
        write, redo = job.write, None
        if job.skip_existing or (done_if_exists and not job.write.overwrite):
            state = output_state(plan)
            if state == "done":
                record = skipped_record(plan, job.command)
                if not job.skip_existing:
                    record.warnings.append(
                        f"{plan.input}: retried after its worker died; the output is there: counted as done"
                    )
                return record
            if state == "broken" and job.skip_existing:  # half written, empty or not an image: made again
                write = replace(job.write, overwrite=True)
                redo = f"{plan.path}: there but not a whole {plan.fmt or 'image'}: made again"
        try:
            if job.command == "depth":
                record = process_depth(plan, job.options, write, self.models, protected=job.protected)
            else:
                record = process_background_blur(
                    plan, job.options, write, self.models, protected=job.protected, command=job.command
                )
            if redo is not None:
                record.warnings.append(redo)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a bug must not lose the rest of the batch
            return error_record(plan.input, exc, job.command, debug=debug)
        record.info["provider"] = self.models.provider
        if self.models.device_warning:
            record.warnings.append(self.models.device_warning)
        return record


def run_serial(
    job: Job, plans: Sequence[OutputPlan], *, progress: bool = False, debug: bool = False
) -> Iterator[Record]:
    """Run every plan in this process, in order."""
    worker = Worker(job, progress=progress)
    for plan in plans:
        yield worker.run(plan, debug=debug)


_worker: Worker | None = None


def use_threads(threads: int) -> None:
    """Give this process ``threads`` threads: OpenMP, OpenCV and the renderer (onnxruntime: the session's own).

    For one of several worker processes sharing the cores.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import cv2

    from depthblur_cli import threads as render_threads
    from depthblur_cli.memory import keep_freed_memory

    cv2.setNumThreads(threads)
    render_threads.THREADS = threads
    keep_freed_memory()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the process that started it dies (Linux ``prctl``
    ``PR_SET_PDEATHSIG``); so a ``kill -9`` of a ``-j N`` run leaves no worker writing outputs.
    Elsewhere (or if it cannot be set) nothing is done."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _init_process(job: Job, threads: int, parent: int | None = None) -> None:
    """A pool process: dies with its parent, takes its share of the cores, then its worker (models load on
    first use)."""
    global _worker
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")  # as the command's own process
    if parent is not None:
        _die_with_parent(parent)
    use_threads(threads)
    _worker = Worker(job)


def _run_in_process(plan: OutputPlan, debug: bool, retried: bool) -> Record:
    if _worker is None:  # pragma: no cover - the pool's initializer makes it
        raise RuntimeError("worker process without a worker")
    return _worker.run(plan, debug=debug, done_if_exists=retried)


def default_workers(count: int) -> int:
    """Workers for ``-j auto``: one per core, at most one per input."""
    return max(1, min(os.cpu_count() or 1, count))


def run(
    job: Job,
    plans: Sequence[OutputPlan],
    workers: int,
    *,
    progress: bool = False,
    debug: bool = False,
    engine: Callable[[Job, list[OutputPlan]], Iterator[Record]] | None = None,
) -> Iterator[Record]:
    """Every plan's record in input order: done ones (``skip_existing``) at once, the rest on an engine.

    With ``skip_existing``, a plan whose output is there is skipped here,
    before anything is decoded or any worker started; the others go to
    ``engine(job, todo)`` when one is given (the cluster's,
    :func:`depthblur_cli.batch.cluster.run_ray`), else to :func:`run_processes`
    when ``workers`` > 1 and there are several, else to :func:`run_serial`.
    """
    todo = [p for p in plans if not (job.skip_existing and p.error is None and is_done(p))]
    records: Iterator[Record]
    if engine is not None:
        records = engine(job, todo) if todo else iter(())
    elif len(todo) > 1 and workers > 1:
        records = run_processes(job, todo, min(workers, len(todo)), debug=debug)
    else:
        records = run_serial(job, todo, progress=progress, debug=debug)
    waiting = set(map(id, todo))
    for plan in plans:
        yield next(records) if id(plan) in waiting else skipped_record(plan, job.command)


def charge_tries(pending: Sequence[int], finished: Container[int], workers: int, tries: dict[int, int]) -> list[int]:
    """After a pool broke: count a try for each input that was in flight, and return those out of tries.

    The pool works in input order, so the first ``workers`` of ``pending`` not
    ``finished`` were in flight when a process died; only they count a try
    (``tries``, updated). Inputs never started are not failed for it.

    Returns:
        the inputs now past :data:`RETRIES` retries (in flight for more breaks than that).
    """
    out = []
    for i in [i for i in pending if i not in finished][:workers]:
        tries[i] = tries.get(i, 0) + 1
        if tries[i] > RETRIES:
            out.append(i)
    return out


def run_processes(job: Job, plans: Sequence[OutputPlan], workers: int, *, debug: bool = False) -> Iterator[Record]:
    """Run the plans on a pool of ``workers`` processes, one worker (and its models) each.

    The cores are split: each process's renderer, OpenCV and onnxruntime use
    ``cores // workers`` threads (at least 1). Records come back in input
    order. Processes are started with ``spawn`` (no thread of this process
    is copied into them). A process that dies (killed, out of memory) breaks
    the pool: a new one takes the inputs not yet done, as retries (an output
    already there is done). Tries are counted per input: an input in flight
    when a process died :data:`RETRIES` + 1 times gets a ``worker`` error
    record; the others, never started or finished, are not failed for it.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    sized = Job(**{**job.__dict__, "threads": threads})
    finished: dict[int, Record] = {}
    tries: dict[int, int] = {}  # pool breaks each input was in flight for
    reason = f"its worker process died, {RETRIES + 1} times (killed, or out of memory?)"
    start = 0  # the next record to yield
    while start < len(plans):
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_process,
                                 initargs=(sized, threads, os.getpid())) as pool:  # fmt: skip
            futures = {i: pool.submit(_run_in_process, plans[i], debug, tries.get(i, 0) > 0)
                       for i in range(start, len(plans)) if i not in finished}  # fmt: skip
            try:
                while start < len(plans):
                    if start not in finished:
                        try:
                            finished[start] = futures[start].result()
                        except BrokenProcessPool:
                            raise
                        except Exception as exc:  # this input's own failure (its record could not come back)
                            finished[start] = error_record(plans[start].input, exc, job.command, debug=debug)
                    yield finished.pop(start)
                    start += 1
                return
            except BrokenProcessPool:  # keep what finished before the break
                finished.update({i: f.result() for i, f in futures.items() if f.done() and not f.exception()})
                for i in charge_tries(range(start, len(plans)), finished, workers, tries):
                    finished[i] = lost_worker_record(plans[i].input, reason, job.command)
            finally:
                for future in futures.values():
                    future.cancel()
