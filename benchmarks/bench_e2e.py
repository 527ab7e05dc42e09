"""End to end at 12 and 24 MP: ``depthblur`` against the pipeline a user writes without it (rembg + Pillow).

Issue 11's measurement. Each case is one command on one JPEG, run as its own
process (so start-up, decoding, the matte, the blur and encoding are all in
it), its wall time and its peak resident memory (``ru_maxrss`` of that child,
from ``os.wait4``) taken. Every case runs once untimed first (rembg compiles
numba code; Python's bytecode cache is filled for both sides, see
``bytecode_cached_env``). Cases, run round-robin (interleaved) so machine drift
hits all alike:

* ``rembg + Pillow``: rembg's u2netp mask (``remove(only_mask=True)``),
  Pillow's ``GaussianBlur`` of radius 1 % of the longer side, and
  ``Image.composite``, saved as JPEG quality 95 (the baseline);
* ``depthblur gaussian --radius 0.01`` and ``depthblur bokeh --radius 0.01``
  (JPEG out, quality 95; the default matte, ``-m auto``), and ``gaussian``
  again with ``-m u2netp`` (float32, rembg's model);
* ``depthblur rembg-blur --radius R`` (R = 1 % of the longer side, capped at
  the API's 50; PNG out, as the API answers);
* ``depthblur depth --depth-map`` (a 16-bit depth map given, no network);
* ``depthblur depth`` (the depth network and the matte: the bundled
  FastDepth, unless Depth Anything V2 is in the model cache).

rembg is not a dependency: give its environment's Python (``--rembg-python``),
run offline with ``U2NET_HOME`` holding a copy of the bundled u2netp.

Last, each of issue 11's goals this run has the sizes for is printed as met
or not (gaussian 3x rembg + Pillow at 12 MP and 2x at 24 MP, every command's
peak within 0.7 / 1.2 GB, ``depth`` within 1.5 s at 12 MP, and gaussian's
cost per extra megapixel from size to size).

With ``--batch N`` each case is one process over a folder of N copies of
the photo instead (``depthblur gaussian`` / ``rembg-blur`` on the folder;
the baseline loops over it with one rembg session): what a batch pays per
photo once start-up and the model session are paid.

Usage: ``python benchmarks/bench_e2e.py [--sizes 12 24] [--rounds 2] [--rembg-python PATH] [--only gaussian bokeh]
[--batch N]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

REMBG_PILLOW = """
import sys
from PIL import Image, ImageFilter
from rembg import new_session, remove
src, dst, fraction = sys.argv[1], sys.argv[2], float(sys.argv[3])
im = Image.open(src).convert("RGB")
mask = remove(im, session=new_session("u2netp"), only_mask=True)
blurred = im.filter(ImageFilter.GaussianBlur(fraction * max(im.size)))
Image.composite(im, blurred, mask).save(dst, quality=95)
"""

#: The same pipeline over a folder in one process (one rembg session), for ``--batch``.
REMBG_PILLOW_BATCH = """
import glob, os, sys
from PIL import Image, ImageFilter
from rembg import new_session, remove
src, dst, fraction = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.makedirs(dst, exist_ok=True)
session = new_session("u2netp")
for path in sorted(glob.glob(os.path.join(src, "*.jpg"))):
    im = Image.open(path).convert("RGB")
    mask = remove(im, session=session, only_mask=True)
    blurred = im.filter(ImageFilter.GaussianBlur(fraction * max(im.size)))
    Image.composite(im, blurred, mask).save(os.path.join(dst, os.path.basename(path)), quality=95)
"""


def make_inputs(folder: Path, megapixels: int) -> tuple[Path, Path]:
    """A ``megapixels`` JPEG (4:3, the astronaut upscaled with fine grain) and a 16-bit depth map PNG."""
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    src = cv2.imread(str(ROOT / "examples" / "astronaut.png"))
    big = cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    grain = rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    big = np.clip(big.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    photo = folder / f"photo_{megapixels}mp.jpg"
    cv2.imwrite(str(photo), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = (65535 * np.clip(0.3 + 0.6 * np.hypot((xx - w / 2) / w, (yy - h / 3) / h), 0, 1)).astype(np.uint16)
    depth_map = folder / f"depth_{megapixels}mp.png"
    Image.fromarray(depth).save(depth_map)
    return photo, depth_map


def bytecode_cached_env(env: dict[str, str], work: Path) -> dict[str, str]:
    """``env`` with Python's bytecode cache on, in ``work/pycache``, for every child.

    As after ``pip install`` (which compiles every module) and on a user's second run: without
    this, an environment that sets ``PYTHONDONTWRITEBYTECODE`` (as CI machines often do) makes
    each child recompile the modules whose bytecode is not already on disk: depthblur's own,
    installed editable (0.1 s a run here), but not rembg's, compiled by pip; one warm-up run
    of every case fills the cache for both sides alike.
    """
    env = dict(env, PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, peak RSS MB) of one command run as a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-500:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> int:
    if sys.argv[1:2] == ["--make-inputs"]:
        print(*make_inputs(Path(sys.argv[2]), int(sys.argv[3])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 24], help="megapixels (default 12 24)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--rembg-python", default=None, help="Python of an environment with rembg installed")
    ap.add_argument("--only", nargs="+", default=None, help="depthblur commands to run (default: all)")
    ap.add_argument(
        "--batch",
        type=int,
        default=1,
        help="N > 1: a folder of N copies of the photo in one process each (gaussian, rembg-blur)",
    )
    args = ap.parse_args()

    summary: dict[int, dict[str, tuple[float, float]]] = {}  # megapixels -> case -> (median wall s, peak MB)
    work = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    u2 = work / "u2net"
    u2.mkdir()
    shutil.copy(ROOT / "models" / "u2netp.onnx", u2 / "u2netp.onnx")
    env = bytecode_cached_env(dict(os.environ, U2NET_HOME=str(u2)), work)
    depthblur = [sys.executable, "-m", "depthblur_cli"]
    try:
        for mp in args.sizes:
            # Made in a child process: a child's peak RSS (ru_maxrss) starts from this process's own
            # peak (Linux carries the old address space's high-water mark across exec), so this
            # process must never hold a large image itself.
            made = subprocess.run([sys.executable, __file__, "--make-inputs", str(work), str(mp)],
                                  check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
            photo, depth_map = Path(made[0]), Path(made[1])
            with Image.open(photo) as im:
                longer = max(im.size)
            radius_px = min(50, round(0.01 * longer))
            cases: dict[str, list[str]] = {}
            if args.rembg_python:
                cases["rembg + Pillow (baseline)"] = [args.rembg_python, "-c", REMBG_PILLOW, str(photo), "OUT.jpg",
                                                      "0.01"]  # fmt: skip
            cases["depthblur gaussian"] = [*depthblur, "gaussian", str(photo), "--radius", "0.01", "-o", "OUT.jpg"]
            cases["depthblur gaussian -m u2netp"] = [*depthblur, "gaussian", str(photo), "--radius", "0.01",
                                                     "-m", "u2netp", "-o", "OUT.jpg"]  # fmt: skip
            cases["depthblur bokeh"] = [*depthblur, "bokeh", str(photo), "--radius", "0.01", "-o", "OUT.jpg"]
            cases["depthblur rembg-blur"] = [*depthblur, "rembg-blur", str(photo), "--radius", str(radius_px),
                                             "-o", "OUT.png"]  # fmt: skip
            cases["depthblur depth --depth-map"] = [*depthblur, "depth", str(photo), "--depth-map", str(depth_map),
                                                    "-o", "OUT.jpg"]  # fmt: skip
            cases["depthblur depth (depth model)"] = [*depthblur, "depth", str(photo), "-o", "OUT.jpg"]
            if args.batch > 1:  # one process over a folder: start-up and model sessions paid once
                folder = work / f"batch_{mp}"
                folder.mkdir(exist_ok=True)
                for i in range(args.batch):
                    shutil.copy(photo, folder / f"photo_{i:03d}.jpg")
                cases = {}
                if args.rembg_python:
                    cases["rembg + Pillow (baseline)"] = [args.rembg_python, "-c", REMBG_PILLOW_BATCH, str(folder),
                                                          "OUT", "0.01"]  # fmt: skip
                cases["depthblur gaussian"] = [*depthblur, "gaussian", str(folder), "--radius", "0.01", "-o", "OUT/"]
                cases["depthblur rembg-blur"] = [*depthblur, "rembg-blur", str(folder), "--radius", str(radius_px),
                                                 "-o", "OUT/"]  # fmt: skip
            if args.only:
                cases = {k: v for k, v in cases.items() if "baseline" in k or k.split()[1] in args.only}
            for cmd in cases.values():  # warm-up: rembg's first run compiles numba code; every case's bytecode
                measure([a.replace("OUT", str(work / "warm")) for a in cmd], env)
                for p in work.glob("warm*"):
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
            for r in range(args.rounds):
                for i, (name, cmd) in enumerate(cases.items()):
                    out = work / f"out_{mp}_{r}_{i}"
                    results[name].append(measure([a.replace("OUT", str(out)) for a in cmd], env))
                    for p in work.glob(f"out_{mp}_{r}_{i}*"):
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
            base = results.get("rembg + Pillow (baseline)")
            base_wall = statistics.median(w for w, _ in base) if base else None
            size = f"{longer}x{round(longer * 3 / 4)}"
            batch = f", a folder of {args.batch} in one process" if args.batch > 1 else ""
            print(f"\n{mp} MP JPEG ({size}){batch}, radius 1 % ({radius_px} px for rembg-blur), {os.cpu_count()} "
                  f"cores, median of {args.rounds} interleaved rounds")  # fmt: skip
            print("| command | wall | per photo | speed vs rembg + Pillow | s per MP | peak memory |")
            print("|---|---|---|---|---|---|")
            for name, runs in results.items():
                wall = statistics.median(w for w, _ in runs)
                peak = max(m for _, m in runs)
                ratio = f"{base_wall / wall:.2f}x" if base_wall else "-"
                per = wall / args.batch
                print(f"| {name} | {wall:.2f} s | {per:.2f} s | {ratio} | {per / mp:.3f} | {peak:,.0f} MB |")
                summary.setdefault(mp, {})[name] = (per, peak)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.batch == 1:
        print_goals(summary)
    return 0


def print_goals(summary: dict[int, dict[str, tuple[float, float]]]) -> None:
    """Issue 11's goals, each met or not, from what this run measured (those it has the sizes for)."""
    base = "rembg + Pillow (baseline)"
    lines = []
    for mp, wanted in ((12, 3.0), (24, 2.0)):
        cases = summary.get(mp, {})
        if base in cases and "depthblur gaussian" in cases:
            ratio = cases[base][0] / cases["depthblur gaussian"][0]
            lines.append((f"gaussian >= {wanted:g}x rembg + Pillow at {mp} MP", f"{ratio:.2f}x", ratio >= wanted))
    for mp, budget in ((12, 700), (24, 1200)):
        peaks = {k: m for k, (_, m) in summary.get(mp, {}).items() if k != base}
        if peaks:
            worst = max(peaks, key=lambda k: peaks[k])
            got = f"{peaks[worst]:,.0f} MB ({worst})"
            lines.append((f"peak <= {budget} MB at {mp} MP, every command", got, peaks[worst] <= budget))
    depth = summary.get(12, {}).get("depthblur depth --depth-map")
    if depth:
        lines.append(("depth --depth-map <= 1.5 s at 12 MP", f"{depth[0]:.2f} s", depth[0] <= 1.5))
    sizes = sorted(mp for mp in summary if "depthblur gaussian" in summary[mp])
    if len(sizes) > 1:
        steps = [
            (summary[b]["depthblur gaussian"][0] - summary[a]["depthblur gaussian"][0]) / (b - a)
            for a, b in itertools.pairwise(sizes)
        ]
        lines.append(("gaussian: s per extra MP, size to size", " / ".join(f"{x:.3f}" for x in steps), None))
    if lines:
        print("\nIssue 11's goals (this run):")
        for what, got, met in lines:
            print(f"- {what}: {got}" + ("" if met is None else (" - met" if met else " - NOT met")))


if __name__ == "__main__":
    raise SystemExit(main())
