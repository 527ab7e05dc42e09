"""Batch throughput on Ray (``--engine ray``) beside the process pool (``-j auto``), on this machine.

Issue 15's measurement: N product photos (800–1000 px, JPEG, from
:func:`bench_batch.make_photos`) through ``depthblur rembg-blur``

* ``-j auto`` (the process pool: one worker per core);
* ``--engine ray --ray-address local`` (a private cluster started and
  stopped by the command: what a one-off run pays);
* ``--engine ray --ray-address auto`` against a cluster started once with
  ``ray start --head`` (what a job on a standing cluster pays);

run round-robin (interleaved), each round into fresh output folders, so
machine drift hits all alike. The table gives each one's median wall time,
photos per second, and its speed as a ratio to ``-j auto``, and an estimate
for N nodes of this machine's size (the standing cluster's photos per second
per CPU, times the CPUs: the work is one independent file per task, so it
scales with CPUs until the storage or the driver's planning is the limit).

Usage: ``python benchmarks/bench_cluster.py [--n 60] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import make_photos, timed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="photos (default 60)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    args = ap.parse_args()
    bin_dir = Path(sys.executable).parent
    depthblur, ray_cli = str(bin_dir / "depthblur"), str(bin_dir / "ray")
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench_cluster_"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    photos = work / "photos"
    make_photos(photos, args.n)
    base = [depthblur, "rembg-blur", str(photos), "--radius", "20", "-q"]
    commands = {
        "-j auto (process pool)": [*base, "-j", "auto"],
        "--engine ray, local cluster per run": [*base, "--engine", "ray", "--ray-address", "local"],
        "--engine ray, standing cluster": [*base, "--engine", "ray", "--ray-address", "auto"],
    }
    subprocess.run([ray_cli, "start", "--head", f"--num-cpus={cores}", "--include-dashboard=false"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for r in range(args.rounds):
            for i, (name, cmd) in enumerate(commands.items()):
                out = work / f"out_{r}_{i}"
                wall, _ = timed([*cmd, "-o", f"{out}/"], env)
                assert len(list(out.iterdir())) == args.n, f"{name}: not every photo was written"
                times[name].append(wall)
                shutil.rmtree(out)
                print(f"round {r + 1} {name}: {wall:.1f} s", file=sys.stderr)
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    baseline = statistics.median(times["-j auto (process pool)"])
    print(f"\n{args.n} product photos, rembg-blur, {cores} cores, median of {args.rounds} interleaved rounds\n")
    print("| engine | wall | photos/s | vs -j auto |")
    print("|---|---|---|---|")
    for name, walls in times.items():
        wall = statistics.median(walls)
        print(f"| {name} | {wall:.1f} s | {args.n / wall:.2f} | {baseline / wall:.2f}x |")
    standing = args.n / statistics.median(times["--engine ray, standing cluster"])
    per_cpu = standing / cores
    print(f"\nestimate: {per_cpu:.2f} photos/s per CPU; " + ", ".join(
        f"{nodes} nodes x {cores} CPUs: ~{per_cpu * nodes * cores:.0f} photos/s" for nodes in (4, 16, 64)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
