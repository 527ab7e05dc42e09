"""Batch throughput: ``depthblur rembg-blur`` on a folder of product photos, against ``rembg p``.

Issue 13's measurement: N photos (800–1000 px on the longer side, JPEG)
through ``depthblur rembg-blur -j 1`` and ``-j auto`` (the default matte,
``-m auto``: u2netp-int8 on a CPU with fast int8 instructions), ``-j auto
-m u2netp`` (float32 u2netp, the matte rembg runs), and through
``rembg p`` (the rembg command's folder mode, same model, u2netp) when it
is installed; then a re-run of ``-j auto`` with ``--skip-existing`` over
the finished folder. The commands run round-robin (interleaved), each
round into fresh output folders, so machine drift hits all of them alike;
the table gives each command's median wall time, its CPU use (user + system
time of the process tree over wall time x cores) and its speed as a ratio to
``rembg p`` (or to ``-j 1`` without it).

rembg is not a dependency of depthblur; install it beside, in its own
environment, and point the benchmark at its command::

    python -m venv /tmp/rembg-env && /tmp/rembg-env/bin/pip install "rembg[cpu,cli]"
    .venv/bin/python benchmarks/bench_batch.py --rembg /tmp/rembg-env/bin/rembg

rembg runs offline: ``U2NET_HOME`` points at a folder holding a copy of the
bundled ``models/u2netp.onnx`` (the same file rembg downloads). The first
``rembg`` call of a fresh environment compiles numba code (tens of seconds);
a warm-up call of each on one photo runs before the timed rounds, with
Python's bytecode cache on for both (``bench_e2e.bytecode_cached_env``).

Usage: ``python benchmarks/bench_batch.py [--n 100] [--rounds 2] [--rembg PATH] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_e2e import bytecode_cached_env
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png"]


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` JPEG photos, 800–1000 px on the longer side: random crops, flips and scales of the examples."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(ROOT / "examples" / name).convert("RGB") for name in SOURCES]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.7, 1.0)), int(h * rng.uniform(0.7, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im = src.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        longer = int(rng.integers(800, 1001))
        scale = longer / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        im.save(folder / f"product_{i:03d}.jpg", quality=90)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; its wall time (s) and CPU use (fraction of all cores). Raises CalledProcessError."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu / (wall * (os.cpu_count() or 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="photos (default 100)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--rembg", default=shutil.which("rembg"), help="the rembg command (default: on PATH)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    photos = work / "photos"
    if not photos.exists():
        make_photos(photos, args.n)
    u2 = work / "u2net"
    u2.mkdir(exist_ok=True)
    shutil.copy(ROOT / "models" / "u2netp.onnx", u2 / "u2netp.onnx")
    env = bytecode_cached_env(dict(os.environ, U2NET_HOME=str(u2)), work)
    depthblur = [sys.executable, "-m", "depthblur_cli", "rembg-blur", str(photos), "--offline", "-q"]

    commands: dict[str, list[str] | None] = {
        "rembg p -m u2netp": [args.rembg, "p", "-m", "u2netp", str(photos)] if args.rembg else None,
        "depthblur rembg-blur -j 1": depthblur + ["-j", "1"],
        "depthblur rembg-blur -j auto": depthblur + ["-j", "auto"],
        "depthblur ... -j auto -m u2netp": depthblur + ["-j", "auto", "-m", "u2netp"],
    }
    warm = work / "warm"
    warm.mkdir(exist_ok=True)
    shutil.copy(next(photos.iterdir()), warm / "one.jpg")
    # Warm-up on one photo: rembg's first run compiles numba code; both sides' bytecode is cached.
    subprocess.run([*depthblur[:4], str(warm), "-j", "1", "--offline", "-q", "--overwrite", "-o", f"{work}/warm_db/"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    if args.rembg:
        subprocess.run([args.rembg, "p", "-m", "u2netp", str(warm), str(work / "warm_out")], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    else:
        print("rembg not found (--rembg PATH): ratios are against depthblur -j 1", file=sys.stderr)

    walls: dict[str, list[float]] = {k: [] for k, v in commands.items() if v}
    cpus: dict[str, list[float]] = {k: [] for k in walls}
    rerun: list[tuple[float, float]] = []
    for r in range(args.rounds):
        for i, (name, cmd) in enumerate(commands.items()):
            if cmd is None:
                continue
            out = work / f"out_{r}_{i}"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu = timed(cmd + ([str(out)] if name.startswith("rembg") else ["-o", f"{out}/"]), env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if name.endswith("-j auto"):
                again = timed(cmd + ["-o", f"{out}/", "--skip-existing"], env)
                rerun.append((again[0], again[0] / wall))
            shutil.rmtree(out, ignore_errors=True)

    base = "rembg p -m u2netp" if args.rembg else "depthblur rembg-blur -j 1"
    base_wall = statistics.median(walls[base])
    print(f"{args.n} photos, 800-1000 px JPEG, {os.cpu_count()} cores, {args.rounds} interleaved rounds")
    print(f"{'command':32s} {'wall s':>8s} {'s/photo':>8s} {'CPU use':>8s} {'speed vs ' + base.split()[0]:>16s}")
    for name in walls:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        print(f"{name:32s} {wall:8.1f} {wall / args.n:8.3f} {cpu:8.0%} {base_wall / wall:15.2f}x")
    if rerun:
        wall = statistics.median(w for w, _ in rerun)
        share = statistics.median(s for _, s in rerun)
        print(f"{'  re-run with --skip-existing':32s} {wall:8.1f} {'':8s} {'':8s} {share:15.1%} of the first run")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
