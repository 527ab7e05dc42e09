"""The batch on a local Ray cluster (``--engine ray``): same bytes, per-record errors, retries, re-runs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import cli, small_copy

from depthblur_cli.batch import cluster
from depthblur_cli.errors import EXIT_ENGINE, EXIT_MODEL, EngineError

ray = pytest.importorskip("ray")

NAMES = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png")


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto's) on 127.0.0.1 with a bucket ``photos``, or None without moto/s3fs.

    Started before the cluster, whose actors inherit its endpoint through
    ``FSSPEC_S3_ENDPOINT_URL`` (and moto's dummy credentials).
    """
    try:
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import fsspec

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = dict(fsspec.config.conf.get("s3", {}))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("FSSPEC_S3_ENDPOINT_URL", endpoint)
        fsspec.config.conf["s3"] = {**saved, "endpoint_url": endpoint}
        fsspec.filesystem("s3", skip_instance_cache=True).mkdir("photos")
        yield endpoint
        fsspec.config.conf["s3"] = saved
    server.stop()


@pytest.fixture(scope="module")
def ray_cluster(depthblur_home, s3_endpoint):
    """A private two-CPU Ray cluster for this module (the commands join it rather than start their own)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def folder(tmp_path) -> Path:
    """Five small real photos and one corrupt one."""
    src = tmp_path / "in"
    for name in NAMES:
        small_copy(name, src / name, (160, 120))
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return src


def test_standard_streams_and_bad_addresses_are_refused(folder, tmp_path):
    result = cli("gaussian", "-", "-o", tmp_path / "x.png", "--engine", "ray", code=2)
    assert "--engine ray cannot read standard input" in result.stderr
    with pytest.raises(EngineError, match="use local, auto, HOST:PORT"):
        cluster.check_address("nonsense")
    assert cluster.check_address("ray://head:10001") == "ray://head:10001"
    assert cluster.sizes(None, 16) == (16, 1) and cluster.sizes(4, 16) == (4, 4) and cluster.sizes(32, 16) == (32, 1)


def test_no_cluster_at_the_address_is_a_quick_engine_error(folder, tmp_path):
    """Runs before the module's cluster starts (Ray itself retries such an address for minutes)."""
    assert not ray.is_initialized()
    started = time.monotonic()
    result = cli("gaussian", folder, "-o", tmp_path / "out/", "--engine", "ray", "--ray-address", "127.0.0.1:1",
                 code=EXIT_ENGINE)  # fmt: skip
    assert "127.0.0.1:1: no Ray cluster there" in result.stderr
    assert time.monotonic() - started < 60  # a hang guard (Ray retries for minutes), not a speed test
    assert not (tmp_path / "out").exists()


def _records(result) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}


def _outputs(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_folder_with_a_corrupt_photo_gives_the_commands_bytes(ray_cluster, folder, tmp_path):
    cli("gaussian", folder, "-o", tmp_path / "local/", "-q", code=1)
    result = cli("gaussian", folder, "-o", tmp_path / "ray/", "--engine", "ray", "--json", code=1)
    records = _records(result)
    assert list(records) == sorted([*NAMES, "broken.jpg"])  # input order, one record each
    assert records["broken.jpg"]["status"] == "error" and records["broken.jpg"]["error"]["code"] == "bad_input"
    assert all(records[n]["status"] == "ok" and records[n]["command"] == "gaussian" for n in NAMES)
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")


def test_a_rerun_skips_what_is_done(ray_cluster, folder, tmp_path):
    out = tmp_path / "out"
    cli("bokeh", folder, "-o", f"{out}/", "--engine", "ray", "-j", "2", "-q", code=1)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = cli("bokeh", folder, "-o", f"{out}/", "--engine", "ray", "--skip-existing", "--json", code=1)
    records = _records(result)
    assert {records[n]["status"] for n in NAMES} == {"skipped"}
    assert records["broken.jpg"]["status"] == "error"
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # Without --skip-existing nothing is overwritten either: each output is refused.
    result = cli("bokeh", folder, "-o", f"{out}/", "--engine", "ray", "--json", code=1)
    assert {_records(result)[n]["error"]["code"] for n in NAMES} == {"bad_output"}


def _worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::ClusterWorker"):
                pids.append(int(entry))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the actors' processes in /proc")
def test_a_killed_worker_is_restarted_and_its_inputs_retried(ray_cluster, tmp_path):
    from depthblur_cli.batch.engines import Job, run_serial
    from depthblur_cli.pipeline.options import BackgroundBlurOptions, WriteOptions
    from depthblur_cli.pipeline.outputs import expand_inputs, plan_outputs

    # Enough work that the actors are killed mid-batch, whatever the machine's speed.
    big = tmp_path / "in"
    names = [f"p{i:02d}.png" for i in range(16)]
    for i, name in enumerate(names):
        small_copy(NAMES[i % len(NAMES)], big / name, (640 + 8 * i, 480))
    (big / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    paths, _ = expand_inputs([str(big)])
    job = Job(command="rembg-blur", options=BackgroundBlurOptions(mode="gaussian", radius_px=20),
              write=WriteOptions(), matte_model="u2netp")  # fmt: skip
    list(run_serial(job, plan_outputs(paths, f"{tmp_path}/local/", command="rembg-blur", fmt="png")))
    plans = plan_outputs(paths, f"{tmp_path}/ray/", command="rembg-blur", fmt="png")
    killed: list[int] = []

    def kill_workers_once_busy() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            pids = _worker_pids()
            if len(pids) >= 2 and any((tmp_path / "ray").glob("p*.png")):  # both up, outputs coming
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.01)

    # A temporary file a dead writer left (as a killed actor leaves one when it dies mid-write).
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "ray").mkdir(exist_ok=True)
    stale = tmp_path / "ray" / f".{dead.stdout.strip()}-abc.depthblur.tmp"
    stale.write_bytes(b"half an image")
    killer = threading.Thread(target=kill_workers_once_busy)
    killer.start()
    records = list(cluster.run_ray(job, plans, 2))
    killer.join()
    assert killed, "the actors were not found"
    assert [r.input for r in records] == [p.input for p in plans]
    by_name = {Path(r.input).name: r for r in records}
    assert by_name["broken.jpg"].status == "error"
    statuses = {n: (by_name[n].status, by_name[n].message) for n in names}
    assert all(status in ("ok", "skipped") for status, _ in statuses.values()), statuses
    assert not stale.exists()  # the engine removes what dead writers left, not only the command
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")


def test_an_unloadable_model_stops_the_batch_with_the_model_exit_code(ray_cluster, folder, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = cli("gaussian", folder, "-o", tmp_path / "out/", "--engine", "ray", "-m", bad, "--json", code=EXIT_MODEL)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["error"]["code"] == "model" and "bad.onnx" in records[0]["error"]["message"]
    assert {r["status"] for r in records[1:]} <= {"error", "not_processed"}
    assert len(records) == len(NAMES) + 1


def test_object_storage_in_and_out_on_the_cluster(ray_cluster, s3_endpoint, folder, tmp_path):
    """``s3://`` inputs and outputs against an S3-compatible server on 127.0.0.1: the same bytes as files."""
    if s3_endpoint is None:
        pytest.skip("needs moto[server] and s3fs")
    import fsspec

    fs = fsspec.filesystem("s3")
    for path in sorted(folder.iterdir()):
        fs.pipe_file(f"photos/in/{path.name}", path.read_bytes())
    cli("gaussian", folder, "-o", tmp_path / "local/", "-q", code=1)
    args = ("gaussian", "s3://photos/in/", "-o", "s3://photos/out/{stem}.{ext}", "--engine", "ray", "--json")
    records = [json.loads(line) for line in cli(*args, code=1).stdout.splitlines()]
    assert [r["input"] for r in records] == [f"s3://photos/in/{n}" for n in sorted([*NAMES, "broken.jpg"])]
    assert [r["status"] for r in records].count("ok") == len(NAMES)
    for path in sorted((tmp_path / "local").iterdir()):
        assert fs.cat_file(f"photos/out/{path.name}") == path.read_bytes(), path.name
    again = [json.loads(line) for line in cli(*args, "--skip-existing", code=1).stdout.splitlines()]
    assert [r["status"] for r in again].count("skipped") == len(NAMES)


def test_a_batch_stopped_by_a_bad_model_leaves_ray_without_a_traceback(folder, tmp_path):
    """Issue 28, fault 28: the engine's actors were killed after ``ray.shutdown()`` ("Exception ignored ...")."""
    import subprocess
    import sys

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    run = subprocess.run(
        [sys.executable, "-m", "depthblur_cli", "gaussian", str(folder), "-o", f"{tmp_path / 'out'}/",
         "--engine", "ray", "--ray-address", "local", "-j", "2", "-m", str(bad), "--offline"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == EXIT_MODEL, run.stderr
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr, run.stderr
