"""Output image formats: canonical names and file suffixes.

Imports nothing heavy (no Pillow, no OpenCV), so planning outputs stays fast.
"""

from __future__ import annotations

from depthblur_cli.errors import UsageError

#: Canonical Pillow format name -> canonical lower-case file suffix (no dot).
OUTPUT_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tif", "HEIF": "heic", "AVIF": "avif"}

_FORMAT_ALIASES = {
    "png": "PNG",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "jpe": "JPEG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "heic": "HEIF",  # HEIC/HEIF need pillow-heif (a dependency), AVIF Pillow's own plugin
    "heif": "HEIF",
    "hif": "HEIF",
    "avif": "AVIF",
}


def normalize_format(name: str) -> str:
    """Canonical output format name for a user-given one.

    Args:
        name: a format or suffix in any case, with or without a leading dot:
            ``"jpg"``, ``"JPEG"``, ``".png"``, ``"webp"``, ``"tif"``, ``"TIFF"``,
            ``"heic"``, ``"avif"``.

    Returns:
        One of ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"TIFF"``, ``"HEIF"``, ``"AVIF"``.

    Raises:
        UsageError: the name is not a supported output format.
    """
    key = str(name).strip().lower().lstrip(".")
    try:
        return _FORMAT_ALIASES[key]
    except KeyError:
        raise UsageError(f"unsupported output format {name!r} (use png, jpg, webp, tiff, heic or avif)") from None
