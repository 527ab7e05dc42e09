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
        "depth --focal-point 0.5,0.55 (ground-truth depth)",
        [
            "depth",
            "--depth-map",
            str(EXAMPLES / "motorcycle_disp.npz"),
            "--focal-point",
            "0.5,0.55",
            "--blur-strength",
            "80",
        ],
    ),
]


#: The base of every cell of the controls grid: focus on the front wheel.
CONTROL_BASE = ["--focal-point", "0.8,0.75", "--blur-strength", "70"]
#: (label, depth options replacing or adding to CONTROL_BASE, crop at 1:1 instead of a thumbnail).
CONTROLS = [
    ("input", None, False),
    ("--focal-point 0.8,0.75 (near)", [], False),
    ("--focal-point 0.3,0.2 (far)", ["--focal-point", "0.3,0.2"], False),
    ("--focal-range 60", ["--focal-range", "60"], False),
    ("--blur-strength 100", ["--blur-strength", "100"], False),
    ("--haze 60", ["--haze", "60"], False),
    ("--grain 60 (1:1 crop)", ["--grain", "60"], True),
    ("--temp 60", ["--temp", "60"], False),
    ("--temp -60", ["--temp", "-60"], False),
    ("--tint 60", ["--tint", "60"], False),
    ("--saturation -100", ["--saturation", "-100"], False),
    ("--brightness 50", ["--brightness", "50"], False),
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


if __name__ == "__main__":
    main()
