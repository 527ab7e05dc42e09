"""Make the before/after pictures of README.md from the example photos.

Runs the real ``depthblur`` command on ``examples/`` (offline) and writes
side-by-side JPEGs into ``docs/images/``, and ``controls.jpg``: a labelled
grid of the ``depth`` controls, one at a time, on the motorcycle with its
ground-truth depth. Run: ``make readme-images``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGES = ROOT / "docs" / "images"
HEIGHT = 300
#: Thumbnail width of the controls grid, and its columns.
THUMB_WIDTH, GRID_COLUMNS = 300, 4

CASES = [
    ("bokeh", "astronaut.png", "bokeh --radius 0.02", ["bokeh", "--radius", "0.02"]),
    ("gaussian", "coffee.png", "gaussian --radius 0.02", ["gaussian", "--radius", "0.02"]),
    ("rembg-blur", "chelsea.png", "rembg-blur --radius 12", ["rembg-blur", "--radius", "12"]),
    (
        "depth",
        "motorcycle_left.png",
        "depth --focal-selector 0.5,0.55 (ground-truth depth)",
        [
            "depth",
            "--depth-map",
            str(EXAMPLES / "motorcycle_disp.npz"),
            "--focal-selector",
            "0.5,0.55",
            "--blur-strength",
            "80",
        ],
    ),
]


#: The base of every cell of the controls grid: focus on the front wheel.
CONTROL_BASE = ["--focal-selector", "0.8,0.75", "--blur-strength", "70"]
#: (label, depth options replacing or adding to CONTROL_BASE, crop at 1:1 instead of a thumbnail).
CONTROLS = [
    ("input", None, False),
    ("--focal-selector 0.8,0.75 (near)", [], False),
    ("--focal-selector 0.3,0.2 (far)", ["--focal-selector", "0.3,0.2"], False),
    ("--focal-range 60", ["--focal-range", "60"], False),
    ("--blur-strength 100", ["--blur-strength", "100"], False),
    ("--haze 60", ["--haze", "60"], False),
    ("--grain 60 (1:1 crop)", ["--grain", "60"], True),
    ("--temp 30", ["--temp", "30"], False),
    ("--temp -30", ["--temp", "-30"], False),
    ("--tint 30", ["--tint", "30"], False),
    ("--saturation -50", ["--saturation", "-50"], False),
    ("--brightness 25", ["--brightness", "25"], False),
]


def _label(draw: ImageDraw.ImageDraw, x: int, y: int, text: str) -> None:
    draw.rectangle((x, y, x + 6 * len(text) + 6, y + 14), fill="black")
    draw.text((x + 3, y + 2), text, fill="white")


def _with_options(base: list[str], extra: list[str]) -> list[str]:
    """``base`` with the options named in ``extra`` replaced (or added)."""
    out, i = [], 0
    while i < len(base):
        if base[i] in extra[::2]:
            i += 2
            continue
        out += base[i : i + 2]
        i += 2
    return out + extra


def controls_grid(tmp: Path, out: Path) -> None:
    """Write the labelled grid of depth controls on the motorcycle."""
    photo = EXAMPLES / "motorcycle_left.png"
    cells = []
    for i, (label, extra, crop) in enumerate(CONTROLS):
        if extra is None:
            result = photo
        else:
            result = tmp / f"control{i}.png"
            cmd = [
                sys.executable,
                "-m",
                "depthblur_cli",
                "depth",
                str(photo),
                "--depth-map",
                str(EXAMPLES / "motorcycle_disp.npz"),
                *_with_options(CONTROL_BASE, extra),
                "-o",
                str(result),
                "--offline",
                "-q",
            ]
            subprocess.run(cmd, check=True)
        im = Image.open(result).convert("RGB")
        h = round(im.height * THUMB_WIDTH / im.width)
        if crop:  # grain is finer than a thumbnail's pixels: show the blurred background at 1:1
            im = im.crop((60, 20, 60 + THUMB_WIDTH, 20 + h))
        else:
            im = im.resize((THUMB_WIDTH, h), Image.LANCZOS)
        cells.append((im, label))
    rows = -(-len(cells) // GRID_COLUMNS)
    h = cells[0][0].height
    sheet = Image.new("RGB", (GRID_COLUMNS * (THUMB_WIDTH + 4) - 4, rows * (h + 4) - 4), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (im, label) in enumerate(cells):
        x, y = (k % GRID_COLUMNS) * (THUMB_WIDTH + 4), (k // GRID_COLUMNS) * (h + 4)
        sheet.paste(im, (x, y))
        _label(draw, x + 3, y + 3, label)
    sheet.save(out, quality=82)


def side_by_side(before: Path, after: Path, out: Path, label: str) -> None:
    """Write ``before | after`` scaled to HEIGHT pixels, with captions."""
    a, b = (Image.open(p).convert("RGB") for p in (before, after))
    w = round(a.width * HEIGHT / a.height)
    sheet = Image.new("RGB", (2 * w + 8, HEIGHT), "white")
    sheet.paste(a.resize((w, HEIGHT), Image.LANCZOS), (0, 0))
    sheet.paste(b.resize((w, HEIGHT), Image.LANCZOS), (w + 8, 0))
    draw = ImageDraw.Draw(sheet)
    for x, text in ((4, "before"), (w + 12, label)):
        draw.rectangle((x, 4, x + 7 * len(text) + 6, 20), fill="black")
        draw.text((x + 3, 6), text, fill="white")
    sheet.save(out, quality=85)


#: The night scene of the night-lights picture (``depthblur_eval.reference.night_scene``).
NIGHT_SEED = 1


def night_lights(tmp: Path, out: Path) -> None:
    """Write ``photo | round | 6 blades | exact``: a synthetic night scene, its clipped photo rendered by the
    ``depth`` command (its CoC given as raw depth units) with two apertures, and the exact thin-lens image."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from depthblur_cli.colour import linear_to_srgb
    from depthblur_eval import reference

    scene = reference.night_scene(NIGHT_SEED, max_coc=18.0)
    linear, coc = reference.centre_view(scene)
    photo = tmp / "night.png"
    Image.fromarray(np.round(linear_to_srgb(np.clip(linear, 0, 1)) * 255).astype(np.uint8)).save(photo)
    np.save(tmp / "night-coc.npy", coc)
    panels = [(photo, "the photo (lights clipped)")]
    for blades, label in (("0", "depth, round aperture"), ("6", "depth --blades 6")):
        result = tmp / f"night-{blades}.png"
        cmd = [
            sys.executable,
            "-m",
            "depthblur_cli",
            "depth",
            str(photo),
            "--depth-map",
            str(tmp / "night-coc.npy"),
            "--focus-disparity",
            "0",
            "--coc-scale",
            "1",
            "--blades",
            blades,
            "-o",
            str(result),
            "--offline",
            "-q",
        ]
        subprocess.run(cmd, check=True)
        panels.append((result, label))
    exact = tmp / "night-exact.png"
    srgb = linear_to_srgb(np.clip(reference.exact_render(scene, 2048), 0, 1))
    Image.fromarray(np.round(srgb * 255).astype(np.uint8)).save(exact)
    panels.append((exact, "exact thin lens (true light)"))
    ims = [Image.open(p).convert("RGB") for p, _ in panels]
    w = round(ims[0].width * HEIGHT / ims[0].height)
    sheet = Image.new("RGB", (len(ims) * (w + 6) - 6, HEIGHT), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, (_, label)) in enumerate(zip(ims, panels)):
        sheet.paste(im.resize((w, HEIGHT), Image.LANCZOS), (i * (w + 6), 0))
        draw.rectangle((i * (w + 6) + 4, 4, i * (w + 6) + 10 + 6 * len(label), 18), fill="black")
        draw.text((i * (w + 6) + 7, 6), label, fill="white")
    sheet.save(out, quality=88)


#: Photos of the offline-depth picture.
OFFLINE_DEPTH = ("astronaut.png", "coffee.png", "chelsea.png")


def offline_depth(tmp: Path, out: Path) -> None:
    """Write rows of ``photo | depth preview | result`` of ``depthblur depth PHOTO --offline`` (no options):
    the bundled FastDepth network with the matte's subject in front, focus on the nearest (focalDistance 0)."""
    rows = []
    for name in OFFLINE_DEPTH:
        result = tmp / f"offline-{name}"
        cmd = [sys.executable, "-m", "depthblur_cli", "depth", str(EXAMPLES / name), "--save-depth", "-o",
               str(result), "--offline", "-q"]  # fmt: skip
        subprocess.run(cmd, check=True)
        preview = result.with_name(result.stem + ".depth-preview.png")
        rows.append([(EXAMPLES / name, name), (preview, "depth (fastdepth + matte)"), (result, "depthblur depth")])
    thumb_h = 200
    ims = [[Image.open(p).convert("RGB") for p, _ in row] for row in rows]
    widths = [round(r[0].width * thumb_h / r[0].height) for r in ims]
    sheet = Image.new("RGB", (3 * max(widths) + 12, len(rows) * (thumb_h + 6) - 6), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (row, labels, w) in enumerate(zip(ims, rows, widths)):
        for j, (im, (_, label)) in enumerate(zip(row, labels)):
            x, y = j * (max(widths) + 6), i * (thumb_h + 6)
            sheet.paste(im.resize((w, thumb_h), Image.LANCZOS), (x, y))
            _label(draw, x + 3, y + 3, label)
    sheet.save(out, quality=85)


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, photo, caption, args in CASES:
            result = Path(tmp) / f"{name}.png"
            cmd = [
                sys.executable,
                "-m",
                "depthblur_cli",
                *args,
                str(EXAMPLES / photo),
                "-o",
                str(result),
                "--offline",
                "-q",
            ]
            subprocess.run(cmd, check=True)
            side_by_side(EXAMPLES / photo, result, IMAGES / f"{name}.jpg", caption)
            print(IMAGES / f"{name}.jpg")
        controls_grid(Path(tmp), IMAGES / "controls.jpg")
        print(IMAGES / "controls.jpg")
        night_lights(Path(tmp), IMAGES / "night-lights.jpg")
        print(IMAGES / "night-lights.jpg")
        offline_depth(Path(tmp), IMAGES / "offline-depth.jpg")
        print(IMAGES / "offline-depth.jpg")


if __name__ == "__main__":
    main()
