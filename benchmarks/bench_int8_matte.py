"""The int8 matte against fp32 u2netp: the same matte (IoU, mean |d alpha|) on every photo here, and its speed.

Photos: ``examples/``, ``benchmarks/photos/``, ``../shared/fixtures/`` where it
is beside the checkout (HEIC included) and, with ``--study DIR``, the study
photos of ``benchmarks/study_photos.py`` (gathered into DIR from PyPI and
Debian packages: products, animals, flowers, night skies, greyscale, a
15 MP photo). Each as it is, mirrored, in greyscale and tiny (longer side
120 px). IoU of the two mattes at alpha 0.5; where both find under
:data:`NO_SUBJECT` of the photo, there is no subject to compare (IoU 1,
the mean |d alpha| still counts). Beside it, the model's own sensitivity:
fp32 u2netp on the photo with +-1 level of 8-bit noise added against fp32
on the photo, by the same measures: a bar no other model can be held
below; and where int8 falls below IoU 0.99 on a photo on which fp32 held
up under that noise, fp32's worst IoU under five more such changes
(:func:`perturbed`). Speed: CPU time per 320 x 320 inference on one thread, the two models
interleaved in this process (absolute times drift; the ratio holds).

    python benchmarks/bench_int8_matte.py --study /tmp/study_photos
    python benchmarks/bench_int8_matte.py --int8 candidate.onnx --worst worst.png
    python benchmarks/bench_int8_matte.py --study /tmp/study_photos --rendered   # the images users get
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from depthblur_cli.estimation.matte import estimate_matte  # noqa: E402
from depthblur_cli.imaging.embedded import register_heif  # noqa: E402
from depthblur_cli.models import sessions, store  # noqa: E402

#: The bar for making int8 the default (issue 27): IoU at alpha 0.5 on every photo.
GOAL_IOU = 0.99
#: Longer side of the tiny variant, pixels.
TINY = 120
#: Share of the photo below which a matte holds no subject (IoU not measured).
NO_SUBJECT = 0.01


def photo_paths(study: Path | None) -> list[Path]:
    """Every photo file of the study."""
    paths = sorted((ROOT / "examples").glob("*.png")) + sorted((ROOT / "benchmarks" / "photos").glob("*.*"))
    paths += sorted((ROOT.parent / "shared" / "fixtures").glob("*.heic"))
    if study is not None:
        import study_photos

        paths += study_photos.gather(study)
    return [p for p in paths if p.suffix.lower() in (".png", ".jpg", ".heic") and "disp" not in p.name]


def variants(path: Path) -> list[tuple[str, np.ndarray]]:
    """The photo (longer side at most 1600 px), mirrored, in greyscale and tiny."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if max(im.size) > 1600:
            im.thumbnail((1600, 1600))
        rgb = np.asarray(im)
        tiny = im.copy()
        tiny.thumbnail((TINY, TINY))
    grey = np.repeat(np.asarray(ImageOps.grayscale(Image.fromarray(rgb)))[..., None], 3, 2)
    return [
        (path.name, rgb),
        (path.name + " mirrored", rgb[:, ::-1].copy()),
        (path.name + " grey", grey),
        (path.name + " tiny", np.asarray(tiny)),
    ]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two mattes at alpha 0.5; 1 when their union is under :data:`NO_SUBJECT` of the photo."""
    union = ((a >= 0.5) | (b >= 0.5)).sum()
    return float(((a >= 0.5) & (b >= 0.5)).sum() / union) if union >= NO_SUBJECT * a.size else 1.0


def with_noise(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """The photo with -1, 0 or +1 added to every 8-bit value (uniformly, clipped to 0..255)."""
    noise = np.random.default_rng(seed).integers(-1, 2, rgb.shape)
    return np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def perturbed(rgb: np.ndarray) -> list[np.ndarray]:
    """More changes of the photo nobody would see: +-1 level of noise with three more seeds, +-2 levels,
    and the photo stored as a JPEG at quality 95."""
    views = [with_noise(rgb, seed) for seed in (1, 2, 3)]
    noise = np.random.default_rng(9).integers(-2, 3, rgb.shape)
    views.append(np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=95)
    with Image.open(buffer) as im:
        views.append(np.asarray(im.convert("RGB")))
    return views


def save_worst(rows: list[tuple[float, str, np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    """Photo | fp32 matte | int8 matte | |difference| x 4, one row per case, 240 px high."""
    tiles = []
    for score, name, rgb, a, b in rows:
        h = 240
        w = max(1, round(rgb.shape[1] * h / rgb.shape[0]))
        row = [Image.fromarray(rgb).resize((w, h))]
        for m in (a, b, np.clip(np.abs(a - b) * 4, 0, 1)):
            row.append(Image.fromarray((m * 255).astype(np.uint8)).resize((w, h)).convert("RGB"))
        tile = Image.new("RGB", (4 * w + 12, h + 16), "white")
        for i, im in enumerate(row):
            tile.paste(im, (i * (w + 4), 16))
        ImageDraw.Draw(tile).text((2, 2), f"{name}: IoU {score:.4f}", fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (max(t.width for t in tiles), sum(t.height for t in tiles)), "white")
    y = 0
    for t in tiles:
        sheet.paste(t, (0, y))
        y += t.height
    sheet.save(path)


def rendered(paths: list[Path], int8_path: Path) -> int:
    """``gaussian`` (the default radius) of every photo as is, with u2netp's and with the int8 matte: the
    share of pixels whose 8-bit value differs by more than 3 levels, and the largest difference."""
    import warnings

    import depthblur_cli
    from depthblur_cli.errors import DepthblurWarning

    warnings.simplefilter("ignore", DepthblurWarning)  # (photos with no clear subject say so)
    shares = []
    print(f"{'photo':<34} {'> 3 levels':>11} {'> 10 levels':>12} {'largest':>8}")
    for path in paths:
        rgb = variants(path)[0][1]
        a = depthblur_cli.gaussian(rgb, model="u2netp", offline=True).astype(np.int16)
        b = depthblur_cli.gaussian(rgb, model=str(int8_path), offline=True).astype(np.int16)
        diff = np.abs(a - b).max(axis=2)
        shares.append(float((diff > 3).mean()))
        print(f"{path.name:<34} {shares[-1]:>10.3%} {float((diff > 10).mean()):>11.3%} {int(diff.max()):>8}")
    median, worst = np.median(shares), max(shares)
    print(f"{len(paths)} photos: pixels more than 3 levels apart, median {median:.3%}, worst {worst:.3%}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, help="gather the study photos into this folder and use them too")
    parser.add_argument("--int8", type=Path, help="the int8 model to compare (default: the bundled one)")
    parser.add_argument("--worst", type=Path, help="write a picture of the five worst cases here")
    parser.add_argument("--quiet", action="store_true", help="only the worst cases and the summary")
    parser.add_argument(
        "--rendered", action="store_true", help="only what a user sees: `gaussian` with each matte, compared"
    )
    args = parser.parse_args()
    fp32_spec, fp32_path = store.resolve_model("u2netp", "matte", allow_download=False)
    int8_spec, int8_path = store.resolve_model("u2netp-int8", "matte", allow_download=False)
    fp32 = sessions.get_session(fp32_path, threads=1)
    int8 = sessions.get_session(args.int8 or int8_path, threads=1)
    register_heif()
    if args.rendered:
        return rendered(photo_paths(args.study), args.int8 or int8_path)
    scores = []
    if not args.quiet:
        print(f"{'photo':<34} {'IoU':>7} {'mean |da|':>10} {'noise IoU':>10} {'noise |da|':>11}")
    for path in photo_paths(args.study):
        for name, rgb in variants(path):
            a = estimate_matte(rgb, fp32, fp32_spec)
            b = estimate_matte(rgb, int8, int8_spec)
            n = estimate_matte(with_noise(rgb), fp32, fp32_spec)
            score, diff = iou(a, b), float(np.abs(a - b).mean())
            ref, ref_diff = iou(a, n), float(np.abs(a - n).mean())
            scores.append((score, diff, name, rgb, a, b, ref, ref_diff))
            if not args.quiet:
                print(f"{name:<34} {score:>7.4f} {diff:>10.4f} {ref:>10.4f} {ref_diff:>11.4f}", flush=True)
    scores.sort(key=lambda s: s[0])
    photos = len({s[2].split(" ")[0] for s in scores})
    print(f"\n{photos} photos, {len(scores)} cases; the worst (IoU, mean |da|; fp32 with +-1 level noise):")
    for score, diff, name, *_, ref, ref_diff in scores[:8]:
        print(f"  {name:<34} IoU {score:.4f}  mean |da| {diff:.4f}   noise: {ref:.4f} {ref_diff:.4f}")
    ious, refs = np.array([s[0] for s in scores]), np.array([s[6] for s in scores])
    stable = refs >= GOAL_IOU
    print(
        f"int8 against fp32: {int((ious < GOAL_IOU).sum())} cases below IoU {GOAL_IOU}, {int((ious < 0.95).sum())} "
        f"below 0.95, median {np.median(ious):.4f}, mean |da| {np.mean([s[1] for s in scores]):.4f}"
    )
    print(
        f"fp32 with +-1 level noise against fp32: {int((refs < GOAL_IOU).sum())} below {GOAL_IOU}, "
        f"{int((refs < 0.95).sum())} below 0.95, median {np.median(refs):.4f}, "
        f"mean |da| {np.mean([s[7] for s in scores]):.4f}"
    )
    print(
        f"of the {int(stable.sum())} cases where fp32 is stable under that noise (IoU >= {GOAL_IOU}), int8 is below "
        f"{GOAL_IOU} on {int((ious[stable] < GOAL_IOU).sum())}, worst {ious[stable].min():.4f}"
    )
    # Where int8 is below the goal and fp32 held up under the first noise, does fp32 itself hold up
    # under the other changes of perturbed()? int8 within fp32's own range there is no worse than the model.
    beyond = []
    for score, _diff, name, rgb, a, _b, ref, _ref_diff in scores:
        if score < GOAL_IOU <= ref:
            own = min(iou(a, estimate_matte(view, fp32, fp32_spec)) for view in perturbed(rgb))
            if score < own:
                beyond.append((name, score, own))
    print(
        f"of those, {len(beyond)} are below fp32's own worst IoU under five more changes nobody would see "
        "(+-1 level noise, three seeds; +-2 levels; JPEG quality 95):"
    )
    for name, score, own in beyond:
        print(f"  {name:<34} int8 {score:.4f}   fp32 changed: worst {own:.4f}")
    if args.worst:
        save_worst([(s[0], s[2], s[3], s[4], s[5]) for s in scores[:5]], args.worst)
    x = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
    feed = {fp32.get_inputs()[0].name: x}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(8):
        for label, session in (("fp32", fp32), ("int8", int8)):
            start = time.process_time()
            session.run(None, feed)
            times[label].append(time.process_time() - start)
    t32, t8 = np.median(times["fp32"]), np.median(times["int8"])
    print(f"CPU per inference, one thread: fp32 {t32 * 1000:.0f} ms, int8 {t8 * 1000:.0f} ms: {t32 / t8:.2f}x")
    worst = scores[0][0]
    print(f"worst IoU {worst:.4f} (goal >= {GOAL_IOU}): {'met' if worst >= GOAL_IOU else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
