"""Write ``OUT/index.html``: every input of ``make demo`` beside what each subcommand made of it.

python docs/contact_sheet.py out
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

IMAGES = {".png", ".jpg", ".jpeg", ".webp", ".heic", ".avif", ".tif"}


def main(out: Path) -> int:
    root = Path(__file__).resolve().parents[1]
    rows = []
    for photo in sorted((root / "examples").glob("*.png")):
        cells = [(f"input: {photo.name}", Path("..") / "examples" / photo.name)]
        for made in sorted(out.rglob(f"{photo.stem}*")):
            if made.suffix.lower() in IMAGES and made.parent != out:
                cells.append((str(made.relative_to(out)), made.relative_to(out)))
        if len(cells) > 1:
            rows.append(cells)
    parts = ["<!doctype html><meta charset=utf-8><title>depthblur demo</title>",
             "<style>body{font:14px sans-serif}figure{display:inline-block;margin:4px}"
             "img{height:220px}figcaption{max-width:320px;overflow-wrap:anywhere}</style>",
             "<h1>depthblur demo</h1><p>Each row: an input, then every output made from it.</p>"]  # fmt: skip
    for cells in rows:
        parts.append("<div>")
        for caption, src in cells:
            parts.append(f'<figure><a href="{html.escape(str(src))}"><img src="{html.escape(str(src))}" '
                         f'loading=lazy></a><figcaption>{html.escape(caption)}</figcaption></figure>')  # fmt: skip
        parts.append("</div>")
    (out / "index.html").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"contact sheet: {out / 'index.html'} ({sum(len(r) for r in rows)} pictures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "out")))
