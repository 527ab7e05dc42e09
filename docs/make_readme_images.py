"""Make the before/after pictures of README.md from the example photos.

Runs the real ``depthblur`` command on ``examples/`` (offline) and writes
side-by-side JPEGs into ``docs/images/``. Run: ``make readme-images``.
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

CASES = [
    ("bokeh", "astronaut.png", "bokeh --radius 0.02", ["bokeh", "--radius", "0.02"]),
    ("gaussian", "coffee.png", "gaussian --radius 0.02", ["gaussian", "--radius", "0.02"]),
    ("rembg-blur", "chelsea.png", "rembg-blur --radius 12", ["rembg-blur", "--radius", "12"]),
    ("depth", "motorcycle_left.png", "depth --focal-point 0.5,0.55 (ground-truth depth)",
     ["depth", "--depth-map", str(EXAMPLES / "motorcycle_disp.npz"), "--focal-point", "0.5,0.55", "--blur-strength", "80"]),
]


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
            cmd = [sys.executable, "-m", "depthblur_cli", *args, str(EXAMPLES / photo), "-o", str(result), "--offline", "-q"]
            subprocess.run(cmd, check=True)
            side_by_side(EXAMPLES / photo, result, IMAGES / f"{name}.jpg", caption)
            print(IMAGES / f"{name}.jpg")


if __name__ == "__main__":
    main()
