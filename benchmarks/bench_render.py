"""Speed and memory of depthblur's stages, side by side with a baseline.

Each case runs in its own subprocess (so peak memory is that case's alone)
on a real example photo resized to the requested size (default 12 MP,
4000x3000), and prints wall time, peak resident memory and the ratio to the
baseline measured in the same run: one OpenCV ``GaussianBlur`` of the same
image with sigma equal to the blur radius. Each case is timed ``--repeat``
times in its process: the first run is what one photo costs (fresh memory
must be faulted in, slow on virtual machines), the best is the steady state
of a batch. The process calls ``keep_freed_memory()`` as the CLI does.

    python benchmarks/bench_render.py                 # 12 MP, radius 1% of the longer side
    python benchmarks/bench_render.py --megapixels 24 --radius 0.03
    python benchmarks/bench_render.py --megapixels 3,6,12,24 --cases depth-render   # cost per MP
    python benchmarks/bench_render.py --json          # one JSON line per case
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = ("baseline", "matte", "bokeh-render", "gaussian-render", "depth-render", "bokeh-end-to-end", "depth-end-to-end")


def _photo(megapixels: float):
    import cv2
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(ROOT / "examples" / "motorcycle_left.png").convert("RGB"), np.float32) / 255
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    out = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0, 1, out=out)  # in place: no second full-size copy in the process's peak


def _disparity(shape):
    import cv2
    import numpy as np

    from depthblur_cli.estimation.disparity import fill_holes

    gt = np.load(ROOT / "examples" / "motorcycle_disp.npz")["arr_0"].astype(np.float32)
    gt[~np.isfinite(gt)] = np.nan
    return cv2.resize(fill_holes(gt), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def run_case(case: str, megapixels: float, radius: float, repeat: int = 1) -> dict:
    """Run one case in this process ``repeat`` times; return the first and the best time."""
    import cv2

    from depthblur_cli.pipeline import photo as pipeline
    from depthblur_cli.pipeline.options import DepthOptions

    rgb = _photo(megapixels)
    h, w = rgb.shape[:2]
    radius_px = radius * max(h, w)
    models = pipeline.ModelBox(allow_download=False, progress=False)
    matte = None
    if case in ("bokeh-render", "gaussian-render"):
        spec, session = models.matte_session()
        small = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_AREA)
        from depthblur_cli.estimation.matte import predict_saliency

        matte = cv2.resize(predict_saliency(small, session, spec), (w, h))
    disparity = _disparity((h, w)) if case.startswith("depth") else None
    if case == "depth-end-to-end":
        models.matte_session()
    options = DepthOptions(blur_strength=radius / 0.03 * 100, focal_point=(0.5, 0.55))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        _run(case, rgb, matte, disparity, radius_px, options, models)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "case": case,
        "width": w,
        "height": h,
        "radius_px": round(radius_px, 1),
        "seconds": round(times[0], 3),
        "best_seconds": round(min(times), 3),
        "runs": repeat,
        "peak_rss_mb": round(peak_mb),
    }


def _run(case, rgb, matte, disparity, radius_px, options, models) -> None:
    """The timed work of one case."""
    import cv2

    from depthblur_cli.colour import srgb_to_linear
    from depthblur_cli.pipeline import compose

    h, w = rgb.shape[:2]
    if case == "baseline":
        cv2.GaussianBlur(srgb_to_linear(rgb), (0, 0), sigmaX=radius_px)
    elif case == "matte":
        models.matte(rgb)
    elif case == "bokeh-render":
        compose.blur_background(rgb, matte, radius_px, mode="bokeh")
    elif case == "gaussian-render":
        compose.blur_background(rgb, matte, radius_px, mode="gaussian")
    elif case == "depth-render":
        signed, _ = compose.choose_focus(disparity, options, None, max(h, w))
        compose.render_depth_blur(rgb, signed, options)
    elif case == "bokeh-end-to-end":
        compose.blur_background(rgb, models.matte(rgb), radius_px, mode="bokeh")
    elif case == "depth-end-to-end":
        signed, _ = compose.choose_focus(disparity, options, None, max(h, w))
        compose.render_depth_blur(rgb, signed, options)
        models.matte(rgb)


def _run_cases(cases: list[str], megapixels: float, radius: float, repeat: int) -> list[dict]:
    """Each case in its own subprocess; their results with ratios to the baseline."""
    results = []
    for case in cases:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                case,
                "--megapixels",
                str(megapixels),
                "--radius",
                str(radius),
                "--repeat",
                str(repeat),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"{case}: failed\n{proc.stderr}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = next((r for r in results if r["case"] == "baseline"), None)
    for r in results:
        r["megapixels"] = megapixels
        r["x_baseline"] = round(r["seconds"] / base["seconds"], 2) if base else float("nan")
        r["best_x_baseline"] = round(r["best_seconds"] / base["best_seconds"], 2) if base else float("nan")
        r["best_seconds_per_mp"] = round(r["best_seconds"] / (r["width"] * r["height"] / 1e6), 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", default="12", help="image size; a list like 3,6,12,24 shows how cost scales")
    parser.add_argument("--radius", type=float, default=0.01, help="blur radius, fraction of the longer side")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per case in its process (first and best are shown)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [float(v) for v in str(args.megapixels).split(",")]
    if args.one:
        from depthblur_cli.memory import keep_freed_memory

        keep_freed_memory()  # as the depthblur command does at start
        print(json.dumps(run_case(args.one, sizes[0], args.radius, args.repeat)))
        return
    for megapixels in sizes:
        results = _run_cases(args.cases.split(","), megapixels, args.radius, args.repeat)
        if args.json:
            for r in results:
                print(json.dumps(r))
            continue
        if not results:
            continue
        r0 = results[0]
        print(
            f"{r0['width']}x{r0['height']} ({megapixels:g} MP), radius {r0['radius_px']} px; "
            f"baseline = one cv2.GaussianBlur, sigma = radius, same image"
        )
        print(f"first run in a fresh process, and best of {args.repeat} runs in it; peak = the process's peak RSS")
        print(f"{'case':<20}{'first s':>9}{'x base':>8}{'best s':>9}{'x base':>8}{'best s/MP':>10}{'peak MB':>9}")
        for r in results:
            print(
                f"{r['case']:<20}{r['seconds']:>9.2f}{r['x_baseline']:>8.2f}{r['best_seconds']:>9.2f}"
                f"{r['best_x_baseline']:>8.2f}{r['best_seconds_per_mp']:>10.3f}{r['peak_rss_mb']:>9}"
            )
        print()


if __name__ == "__main__":
    main()
