"""The batch on a Ray cluster (``--engine ray``): one actor per worker, its models loaded once.

The same job as on one machine (:mod:`depthblur_cli.batch.engines`): the driver
plans every input, each actor holds a :class:`~depthblur_cli.batch.engines.Worker`
(its models loaded once, ``threads`` threads for onnxruntime, OpenCV and
the renderer, and Ray's ``num_cpus`` set to match), reads its input's raw
bytes itself (a path the nodes share, or a URL through fsspec), decodes
them in this tool's code, and writes its own encoded bytes: so a corrupt
photo is one ``error`` record, not a failed job, and outputs are
byte-identical to the command's on one machine. Records come back in input
order, through the same report.

Faults: an actor that dies (killed, out of memory, its node lost) is
restarted by Ray; the inputs it held are sent again, to whichever actor is
free, up to :data:`~depthblur_cli.batch.engines.RETRIES` times each, and then get an ``error`` record
(code ``worker``). A retried input whose output is already there counts as
done (``skipped``): its first attempt may have written it just before dying.

Ray Core actors are used rather than Ray Data's ``map_batches``: each task
is one file that the actor reads and writes itself, so Ray Data's read and
write steps (whose ``read_images`` fails the whole job on one corrupt photo
and whose ``write_images`` re-encodes) would go unused, and its pandas and
pyarrow dependencies with them. What is used (``ray.init``, ``ray.remote``
with ``num_cpus``/``max_restarts``, ``ray.wait``, ``ray.kill``) has been
stable across Ray 2.x. Ray is imported only here, and only for ``--engine ray``.

See https://docs.ray.io/en/latest/ray-core/actors.html and
https://docs.ray.io/en/latest/ray-core/fault_tolerance/actors.html.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from depthblur_cli.batch.engines import (
    RETRIES,
    Job,
    Worker,
    error_record,
    lost_worker_record,
    remove_temp_files_of_dead_writers,
    use_threads,
)
from depthblur_cli.errors import DepthblurError, EngineError
from depthblur_cli.pipeline.outputs import OutputPlan
from depthblur_cli.pipeline.records import Record

#: ``--ray-address`` forms: ``local`` starts a private cluster on this machine
#: (stopped at the end); ``auto`` joins the one running here (what ``ray job
#: submit`` gives a job); ``HOST:PORT`` a head node; ``ray://HOST:PORT`` Ray Client.
LOCAL = "local"
#: Inputs sent to an actor ahead of time (so it never waits for the driver).
AHEAD = 2
#: Environment variables given to the actors (configuration, never credentials:
#: those come from each node's own environment or instance role).
FORWARDED_ENV = ("DEPTHBLUR_", "FSSPEC_")


def check_address(address: str | None) -> str | None:
    """A ``--ray-address`` as given, after a check of its form (None: Ray's default, see :func:`joined`).

    Raises:
        EngineError: not ``local``, ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``.
    """
    if address is None:
        return None
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if address in (LOCAL, "auto") or (host and port.isdigit() and 0 < int(port) < 65536):
        return address
    raise EngineError(f"--ray-address {address!r}: use local, auto, HOST:PORT or ray://HOST:PORT")


#: Ray rewrites these to the node's own address, where its token check can fail: ``auto`` is the way.
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """Fail at once when nothing listens at a ``HOST:PORT`` address (Ray itself retries for minutes).

    Raises:
        EngineError: the connection is refused or times out.
    """
    if address is None or address in (LOCAL, "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(f"--ray-address {address}: no Ray cluster there ({exc.strerror or exc})") from None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EngineError("--engine ray needs Ray: pip install 'depthblur[ray]'") from None
    return ray


@contextmanager
def joined(address: str | None) -> Iterator[None]:
    """Within the block this process is on the cluster at ``address`` (see :data:`LOCAL`).

    None is Ray's default: the address in ``RAY_ADDRESS``, else a cluster
    started on this machine with ``ray start``, else a new local one.

    Ray's own log lines are kept off this process's streams (the records'
    stream must stay JSON); the driver's ``DEPTHBLUR_*`` and ``FSSPEC_*``
    environment variables go to the actors. A cluster this process already
    joined is reused and left as it is; one joined here is left at the end
    (and a ``local`` one stopped).

    Raises:
        EngineError: Ray is missing or the cluster cannot be reached.
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    address = check_address(address)
    _probe(address)
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    try:
        ray.init(
            address=address,
            include_dashboard=False if address in (LOCAL, None) else None,
            log_to_driver=False,
            logging_level=logging.ERROR,
            runtime_env={"env_vars": env} if env else None,
        )
    except DepthblurError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        host = (address or "").removeprefix("ray://").rpartition(":")[0]
        hint = "; for the cluster on this machine use --ray-address auto" if host in _LOOPBACK else ""
        raise EngineError(f"--ray-address {address}: cannot start or reach the Ray cluster ({reason}){hint}") from None
    try:
        yield
    finally:
        ray.shutdown()


def cluster_cpus() -> int:
    """CPUs of the joined cluster, all nodes together (at least 1)."""
    ray = _import_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def sizes(workers: int | None, cpus: int) -> tuple[int, int]:
    """(actors, threads per actor) for ``--workers`` (None: one single-threaded actor per CPU)."""
    if workers is None:
        return cpus, 1
    return workers, max(1, cpus // workers)


class ClusterWorker:
    """The body of one Ray actor: a :class:`~depthblur_cli.batch.engines.Worker` on its share of the node's cores.

    A worker that cannot be made is kept as an error for every input it is
    given (so the batch stops with the model's exit code, not Ray's).
    """

    def __init__(self, job: Job, threads: int) -> None:
        use_threads(threads)
        self.command = job.command
        self.worker: Worker | None = None
        self.error: BaseException | None = None
        try:
            self.worker = Worker(job)
        except Exception as exc:
            self.error = exc

    def run(self, plan: OutputPlan, debug: bool, retried: bool) -> Record:
        """One input's record (see :meth:`~depthblur_cli.batch.engines.Worker.run`)."""
        if self.worker is None:
            return error_record(plan.input, self.error or RuntimeError("no worker"), self.command, debug=debug)
        return self.worker.run(plan, debug=debug, done_if_exists=retried)


def run_ray(job: Job, plans: Sequence[OutputPlan], workers: int | None, *, debug: bool = False) -> Iterator[Record]:
    """Run the plans on Ray actors of the joined cluster (see :func:`joined`); records in input order.

    Args:
        job: the job (``threads`` is set here, from the cluster's CPUs).
        plans: the inputs and their outputs; their paths must be readable
            and writable from every node (a shared folder, or URLs).
        workers: actors (None: one per CPU of the cluster, one thread each).
        debug: keep an internal error's traceback in its record.

    Raises:
        EngineError: Ray is missing.
    """
    ray = _import_ray()
    actors: list[Any] = []
    try:
        count, threads = sizes(workers, cluster_cpus())
        count = max(1, min(count, len(plans)))
        sized = Job(**{**job.__dict__, "threads": threads})
        remote = ray.remote(num_cpus=threads, max_restarts=-1, max_task_retries=0)(ClusterWorker)
        # By value, not ray.put once: Ray cannot promise to restart an actor whose constructor
        # arguments live in the object store (ray-project/ray#53727), and says so on stderr.
        actors = [remote.remote(sized, threads) for _ in range(count)]
        yield from _schedule(ray, actors, plans, job.command, debug)
    finally:
        for actor in actors if ray.is_initialized() else ():  # after ray.shutdown() the actors are gone with it
            with contextlib.suppress(ray.exceptions.RayError):
                ray.kill(actor)
        remove_temp_files_of_dead_writers(plans)  # an actor killed while writing leaves its temporary file


def _schedule(ray: Any, actors: list[Any], plans: Sequence[OutputPlan], command: str, debug: bool) -> Iterator[Record]:
    """Keep every actor :data:`AHEAD` inputs busy; yield records in input order as they complete."""
    waiting = list(range(len(plans)))[::-1]  # inputs not yet sent, next one last
    retries = [0] * len(plans)
    running: dict[Any, tuple[int, int]] = {}  # task -> (input, actor)
    load = [0] * len(actors)
    done: dict[int, Record] = {}
    window = AHEAD * len(actors) * 4  # records held for order, at most
    following = 0

    def send(index: int, actor: int) -> None:
        task = actors[actor].run.remote(plans[index], debug, retries[index] > 0)
        running[task] = (index, actor)
        load[actor] += 1

    while following < len(plans):
        while waiting and waiting[-1] - following < window:
            actor = min(range(len(actors)), key=load.__getitem__)
            if load[actor] >= AHEAD:
                break
            send(waiting.pop(), actor)
        if following in done:
            yield done.pop(following)
            following += 1
            continue
        ready, _ = ray.wait(list(running), num_returns=1)
        for task in ready:
            index, actor = running.pop(task)
            load[actor] -= 1
            try:
                done[index] = ray.get(task)
            except ray.exceptions.RayActorError as exc:  # the actor died; Ray restarts it
                if retries[index] < RETRIES:
                    retries[index] += 1
                    waiting.append(index)  # next to send, ahead of the rest
                    continue
                reason = f"its worker died {RETRIES + 1} times ({type(exc).__name__})"
                done[index] = lost_worker_record(plans[index].input, reason, command)
            except ray.exceptions.RayError as exc:
                done[index] = error_record(plans[index].input, exc, command, debug=debug)
