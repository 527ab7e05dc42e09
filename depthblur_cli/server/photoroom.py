"""Photoroom's ``/v2/edit``: its parameters read as its OpenAPI file says, and the result laid out.

The file (mirrored in ``tryAGI/Photoroom``, ``src/libs/Photoroom/openapi.yaml``)
defines the form fields (POST, multipart) or query parameters (GET). What
this server does with them:

- ``removeBackground`` (default **true**): the subject on transparency (a
  cutout), or on ``background.color``; ``false`` keeps the photo.
- ``background.blur.mode`` (``bokeh`` | ``gaussian``) and
  ``background.blur.radius`` (0 < r <= 0.05 of the longer side, default
  0.01): the background blurred, the subject sharp; with a blur,
  ``removeBackground`` may be left out (it cannot be ``true``).
- ``background.color``: hex ``RRGGBB`` / ``RRGGBBAA`` or a colour name.
- ``outputSize``: ``auto`` / ``originalImage`` (the photo's size),
  ``croppedSubject`` (the subject's box), ``WxH`` (fitted, centred);
  ``padding`` (0..0.49, ``"N%"`` or ``"Npx"``) around the subject for the last two.
- ``export.format`` (png, jpeg/jpg, webp, avif: JPEG at quality 80, WebP and
  AVIF at 90, as Photoroom exports them) and ``export.dpi`` (72..1200).

Any other parameter of the API is refused by name (400), never ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthblur_cli.options import schema

#: ``background.blur.radius``, from the option schema.
RADIUS = schema.BY_KEY["radius"]

#: ``export.format`` -> (encoder format, media type, quality).
FORMATS = {
    "png": ("PNG", "image/png", 95),
    "jpeg": ("JPEG", "image/jpeg", 80),
    "jpg": ("JPEG", "image/jpeg", 80),
    "webp": ("WEBP", "image/webp", 90),
    "avif": ("AVIF", "image/avif", 90),
}
#: The parameters this server reads (the rest of the API's are refused by name).
SUPPORTED = frozenset(
    {
        "imageFile",
        "imageUrl",
        "removeBackground",
        "background.blur.mode",
        "background.blur.radius",
        "background.color",
        "outputSize",
        "padding",
        "export.format",
        "export.dpi",
    }
)


class EditError(ValueError):
    """A request this server cannot honour; its message names the parameter (an HTTP 400)."""


@dataclass(frozen=True)
class Edit:
    """What a ``/v2/edit`` request asks for.

    Attributes:
        blur: ``"bokeh"``, ``"gaussian"`` or None (no blur).
        radius: the blur's radius, fraction of the longer side.
        remove_background: the subject alone (on ``color`` or transparency).
        color: (r, g, b, a) 0..255 of the background behind a cutout, or None.
        output_size: ``"originalImage"``, ``"croppedSubject"`` or (width, height).
        padding: around the subject, a fraction of the output (or ``("px", n)``).
        fmt, media_type, quality: the encoder's format, the response's type, quality 1..100.
        dpi: the file's pixel density, or None.
    """

    blur: str | None
    radius: float
    remove_background: bool
    color: tuple[int, int, int, int] | None
    output_size: Any
    padding: Any
    fmt: str
    media_type: str
    quality: int
    dpi: float | None


def _text(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value).strip()


def _boolean(raw: str | None, key: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise EditError(f"{key} must be boolean")


def _padding(raw: str | None) -> Any:
    if raw is None:
        return 0.0
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100.0
        elif raw.endswith("px"):
            px = float(raw[:-2])
            if not (math.isfinite(px) and 0 <= px <= 10_000):
                raise ValueError
            return ("px", px)
        else:
            value = float(raw)
    except ValueError:
        raise EditError("padding must be a number 0..0.49, a percentage or a pixel value like '20px'") from None
    if not (math.isfinite(value) and 0 <= value <= 0.49):
        raise EditError("padding must be in 0..0.49 (or 0%..49%)")
    return value


def _color(raw: str) -> tuple[int, int, int, int]:
    from PIL import ImageColor

    text = raw.lstrip("#")
    if re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", text):
        values = [int(text[i : i + 2], 16) for i in range(0, len(text), 2)]
        return (values[0], values[1], values[2], values[3] if len(values) == 4 else 255)
    try:
        r, g, b, a = ImageColor.getcolor(raw, "RGBA")  # type: ignore[misc]
    except ValueError:
        raise EditError(f"background.color {raw[:40]!r} is not a hex colour (RRGGBB, RRGGBBAA) or a name") from None
    return int(r), int(g), int(b), int(a)


def parse_edit(params: Mapping[str, Any]) -> Edit:
    """The edit a request's form fields (or query parameters) ask for.

    Raises:
        EditError: a parameter out of its range, or one this server does not implement (named).
    """
    unknown = sorted(k for k in params if k not in SUPPORTED)
    if unknown:
        raise EditError(f"{unknown[0]} is not supported by this server (depthblur serve)")
    blur = _text(params, "background.blur.mode") or None
    if blur is not None and blur not in ("bokeh", "gaussian"):
        raise EditError("background.blur.mode must be bokeh or gaussian")
    raw_radius = _text(params, "background.blur.radius")
    try:
        radius = RADIUS.default if raw_radius is None else RADIUS.check(float(raw_radius), "background.blur.radius")
    except ValueError:
        raise EditError(f"background.blur.radius must be in the range {RADIUS.bounds()}, got {raw_radius}") from None
    remove = _boolean(_text(params, "removeBackground"), "removeBackground", default=blur is None)
    if blur is not None and remove:
        raise EditError("background.blur.mode needs removeBackground=false (the background is kept, blurred)")
    raw_color = _text(params, "background.color")
    color = _color(raw_color) if raw_color else None
    if color is not None and not remove:
        raise EditError("background.color needs removeBackground=true (a colour replaces the background)")
    size_raw = _text(params, "outputSize") or "originalImage"
    if size_raw in ("auto", "originalImage"):
        output_size: Any = "originalImage"
    elif size_raw == "croppedSubject":
        output_size = "croppedSubject"
    elif match := re.fullmatch(r"(\d{1,5})x(\d{1,5})", size_raw):
        output_size = (int(match.group(1)), int(match.group(2)))
        if not all(1 <= v <= 10_000 for v in output_size):
            raise EditError("outputSize WIDTHxHEIGHT must be 1..10000 on each side")
    else:
        raise EditError("outputSize must be auto, originalImage, croppedSubject or WIDTHxHEIGHT")
    if output_size != "originalImage" and not remove:
        raise EditError("outputSize other than originalImage needs removeBackground=true in this server")
    padding = _padding(_text(params, "padding"))
    export = (_text(params, "export.format") or "png").lower()
    if export not in FORMATS:
        raise EditError("export.format must be png, jpeg, webp or avif")
    fmt, media_type, quality = FORMATS[export]
    raw_dpi = _text(params, "export.dpi")
    dpi = None
    if raw_dpi is not None:
        try:
            dpi = float(raw_dpi)
        except ValueError:
            dpi = math.nan
        if not (math.isfinite(dpi) and 72 <= dpi <= 1200):
            raise EditError("export.dpi must be in 72..1200")
    return Edit(blur, radius, remove, color, output_size, padding, fmt, media_type, quality, dpi)


def lay_out(rgb: np.ndarray, alpha: np.ndarray, edit: Edit) -> tuple[np.ndarray, np.ndarray | None]:
    """A cutout's (H, W, 3) sRGB and (H, W) alpha laid out as ``edit`` says: cropped or fitted, on its colour.

    Returns:
        (h, w, 3) float32 sRGB 0..1 and (h, w) float32 alpha, or None when
        the background colour is opaque.
    """
    from depthblur_cli.imaging.pixels import to_float

    rgb, alpha = to_float(rgb), np.asarray(alpha, np.float32)
    if edit.output_size != "originalImage":
        ys, xs = np.nonzero(alpha >= 0.5)
        if len(ys):
            top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        else:
            top, bottom, left, right = 0, alpha.shape[0], 0, alpha.shape[1]
        rgb, alpha = _padded(rgb[top:bottom, left:right], alpha[top:bottom, left:right], edit.padding)
        if isinstance(edit.output_size, tuple):
            rgb, alpha = _fitted(rgb, alpha, edit.output_size)
    if edit.color is None:
        return rgb, alpha
    colour = np.asarray(edit.color[:3], np.float32) / np.float32(255)
    cover = np.float32(edit.color[3]) / np.float32(255)
    a = alpha[..., None]
    premultiplied = rgb * a + colour * cover * (1.0 - a)  # the subject over the colour's layer
    if cover >= 1.0:
        return premultiplied.astype(np.float32), None
    out_alpha = alpha + cover * (1.0 - alpha)
    return (premultiplied / np.maximum(out_alpha, 1e-6)[..., None]).astype(np.float32), out_alpha


def _padded(rgb: np.ndarray, alpha: np.ndarray, padding: Any) -> tuple[np.ndarray, np.ndarray]:
    h, w = alpha.shape
    if isinstance(padding, tuple):
        py = px = int(round(padding[1]))
    else:
        py, px = int(round(h * padding / (1 - 2 * padding))), int(round(w * padding / (1 - 2 * padding)))
    if py == px == 0:
        return rgb, alpha
    return (
        np.pad(rgb, ((py, py), (px, px), (0, 0))),
        np.pad(alpha, ((py, py), (px, px))),
    )


def _fitted(rgb: np.ndarray, alpha: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    width, height = size
    h, w = alpha.shape
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    premultiplied = cv2.resize(rgb * alpha[..., None], (nw, nh), interpolation=interpolation)
    small_alpha = np.clip(cv2.resize(alpha, (nw, nh), interpolation=interpolation), 0.0, 1.0)
    colour = premultiplied / np.maximum(small_alpha, 1e-6)[..., None]
    out_rgb = np.zeros((height, width, 3), np.float32)
    out_alpha = np.zeros((height, width), np.float32)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    out_rgb[y0 : y0 + nh, x0 : x0 + nw] = np.clip(colour, 0.0, 1.0)
    out_alpha[y0 : y0 + nh, x0 : x0 + nw] = small_alpha
    return out_rgb, out_alpha


def uncertainty(matte: np.ndarray) -> float:
    """``x-uncertainty-score``: 0 (a sure cutout) .. 1 (unsure), from the matte.

    The share of the subject's pixels that the matte leaves in between
    (``4 alpha (1 - alpha)``, 1 at alpha 0.5), counted against the subject's
    area: a crisp matte scores near 0, a hazy or fragmented one near 1.
    """
    m = np.asarray(matte, np.float32)
    area = float((m >= 0.5).mean())
    if area <= 0.0:
        return 1.0
    unsure = float((4.0 * m * (1.0 - m)).mean())
    return round(min(1.0, unsure / area), 4)


def with_dpi(encoded: bytes, fmt: str, dpi: float) -> bytes:
    """The image file re-saved with its pixel density set (``export.dpi``): PNG, JPEG, WebP and AVIF keep it."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(encoded)) as im:
        im.load()
        extra = {k: im.info[k] for k in ("icc_profile", "exif") if im.info.get(k)}
        out = io.BytesIO()
        quality = {"JPEG": 80, "WEBP": 90, "AVIF": 90}.get(fmt)
        im.save(out, fmt, dpi=(dpi, dpi), **extra, **({"quality": quality} if quality else {}))
    return out.getvalue()
