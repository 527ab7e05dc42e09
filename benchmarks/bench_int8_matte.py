"""The int8 matte against fp32 u2netp: the same matte (IoU, mean |d alpha|) on every photo here, and its speed.

Photos: ``examples/``, ``benchmarks/photos/`` and, where it is beside the
checkout, ``../shared/fixtures/`` (HEIC included), each also mirrored and in
greyscale. Speed: CPU time per 320 x 320 inference on one thread, the two
models interleaved in this process (absolute times drift; the ratio holds).

    python benchmarks/bench_int8_matte.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depthblur_cli.estimation.matte import estimate_matte  # noqa: E402
from depthblur_cli.imaging.embedded import register_heif  # noqa: E402
from depthblur_cli.models import sessions, store  # noqa: E402

#: The bar for making int8 the default (issue 27): IoU at alpha 0.5 on every photo.
GOAL_IOU = 0.99


def photos() -> list[tuple[str, np.ndarray]]:
    register_heif()
    paths = sorted((ROOT / "examples").glob("*.png")) + sorted((ROOT / "benchmarks" / "photos").glob("*.*"))
    paths += sorted((ROOT.parent / "shared" / "fixtures").glob("*.heic"))
    out = []
    for path in paths:
        if path.suffix.lower() not in (".png", ".jpg", ".heic"):
            continue
        with Image.open(path) as im:
            im = im.convert("RGB")
            if max(im.size) > 1600:
                im.thumbnail((1600, 1600))
            rgb = np.asarray(im)
        out += [(path.name, rgb), (path.name + " mirrored", rgb[:, ::-1].copy())]
        out.append(
            (path.name + " grey", np.repeat(np.asarray(ImageOps.grayscale(Image.fromarray(rgb)))[..., None], 3, 2))
        )
    return out


def main() -> int:
    fp32_spec, fp32_path = store.resolve_model("u2netp", "matte", allow_download=False)
    int8_spec, int8_path = store.resolve_model("u2netp-int8", "matte", allow_download=False)
    fp32 = sessions.get_session(fp32_path, threads=1)
    int8 = sessions.get_session(int8_path, threads=1)
    worst = 1.0
    print(f"{'photo':<34} {'IoU':>7} {'mean |da|':>10}")
    for name, rgb in photos():
        a = estimate_matte(rgb, fp32, fp32_spec)
        b = estimate_matte(rgb, int8, int8_spec)
        union = ((a >= 0.5) | (b >= 0.5)).sum()
        iou = float(((a >= 0.5) & (b >= 0.5)).sum() / union) if union else 1.0
        worst = min(worst, iou)
        print(f"{name:<34} {iou:>7.4f} {float(np.abs(a - b).mean()):>10.4f}")
    x = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
    feed = {fp32.get_inputs()[0].name: x}
    times = {"fp32": [], "int8": []}
    for _ in range(8):
        for label, session in (("fp32", fp32), ("int8", int8)):
            start = time.process_time()
            session.run(None, feed)
            times[label].append(time.process_time() - start)
    t32, t8 = np.median(times["fp32"]), np.median(times["int8"])
    print(f"CPU per inference, one thread: fp32 {t32 * 1000:.0f} ms, int8 {t8 * 1000:.0f} ms: {t32 / t8:.2f}x")
    print(f"worst IoU {worst:.4f} (goal >= {GOAL_IOU}): {'met' if worst >= GOAL_IOU else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
