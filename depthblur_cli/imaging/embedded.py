"""What a photo file carries besides its pixels: the phone's own depth map, the other view of a stereo pair.

HEIF/HEIC files are read through pillow-heif (a libheif binding,
https://github.com/bigcat88/pillow_heif), whose opener is registered once,
here (:func:`register_heif`). An iPhone portrait stores its depth as a HEIF
depth auxiliary image with a depth representation (ISO/IEC 23008-12;
libheif's ``heif_depth_representation_info``: type 0 uniform inverse Z,
1 uniform disparity, 2 uniform Z, 3 nonuniform disparity, with ``d_min``,
``d_max`` or ``z_near``, ``z_far``). An Apple spatial photo stores its two
views as the images of a stereo entity group (``ster``: left, then right).
Nothing here decodes more than these images; their sizes are checked
against the photos' pixel limit before they are decoded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

#: HEIF depth representation types (libheif ``heif_depth_representation_type``).
_INVERSE_Z, _DISPARITY, _Z, _NONUNIFORM_DISPARITY = 0, 1, 2, 3


@functools.cache
def register_heif() -> bool:
    """Register pillow-heif's HEIF/HEIC opener and saver with Pillow, once; False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


@dataclass
class EmbeddedDepth:
    """A depth map that came in the photo's own file.

    Attributes:
        disparity: (h, w) float32, larger = nearer, finite, in the photo's
            orientation (usually smaller than the photo).
        source: where it came from: ``"embedded:apple-heif"``.
        notes: remarks for the report (the representation read).
    """

    disparity: np.ndarray
    source: str
    notes: list[str] = field(default_factory=list)


def heif_depth(im, max_pixels: int) -> tuple[EmbeddedDepth | None, str | None]:
    """The first HEIF depth image of an opened HEIF photo, as disparity.

    Args:
        im: a Pillow image opened by pillow-heif (``im.info["depth_images"]``).
        max_pixels: the decompression-bomb limit, checked on the depth
            image's size before it is decoded.

    Returns:
        ``(depth, None)``; ``(None, None)`` when the file has none;
        ``(None, warning)`` when it has one that cannot be used (too large,
        undecodable, an unknown representation).
    """
    images = im.info.get("depth_images") or []
    if not images:
        return None, None
    depth = images[0]
    width, height = depth.size
    if width * height > max_pixels:
        return None, f"its depth image is too large ({width * height} pixels): not used"
    try:
        values = np.asarray(depth)
    except Exception as exc:  # libheif's own errors: the photo itself is still usable
        return None, f"its depth image cannot be decoded ({type(exc).__name__}): not used"
    if values.ndim == 3:
        values = values[..., 0]
    top = 65535.0 if values.dtype == np.uint16 else 255.0 if values.dtype == np.uint8 else 1.0
    v = values.astype(np.float32) / np.float32(top)
    meta = depth.info.get("metadata") or {}
    kind = int(meta.get("representation_type", _DISPARITY))
    low, high = meta.get("d_min"), meta.get("d_max")
    if kind in (_INVERSE_Z, _DISPARITY, _NONUNIFORM_DISPARITY):
        # Larger stored values are nearer: disparity (or inverse depth) from the stored range.
        disparity = v if low is None or high is None else np.float32(low) + v * np.float32(high - low)
        name = {0: "uniform inverse depth", 1: "uniform disparity", 3: "nonuniform disparity"}[kind]
    elif kind == _Z:
        near, far = meta.get("z_near"), meta.get("z_far")
        z = 1.0 + v if near is None or far is None else np.float32(near) + v * np.float32(far - near)
        disparity = 1.0 / np.maximum(z, np.float32(1e-6))
        name = "uniform depth (inverted)"
    else:
        return None, f"its depth image has an unknown representation type {kind}: not used"
    note = f"depth from the photo's own HEIF depth image ({width}x{height}, {name})"
    return EmbeddedDepth(np.ascontiguousarray(disparity, np.float32), "embedded:apple-heif", [note]), None


def heif_stereo_right(im, max_pixels: int) -> np.ndarray | None:
    """The right view of a HEIF stereo pair (an Apple spatial photo) as (H, W, 3) uint8 sRGB, or None.

    The ``ster`` entity group names the left view first, then the right; the
    primary image (what Pillow shows) is the left one. None when the file
    is not such a pair, the right view is too large, or it cannot be decoded.
    """
    groups = [g for g in im.info.get("entity_groups") or [] if g.get("type") == "ster"]
    if not groups or len(groups[0].get("images") or []) != 2:
        return None
    left, right = groups[0]["images"]
    try:
        current = im.tell()
        im.seek(right)
        try:
            width, height = im.size
            if width * height > max_pixels:
                return None
            return np.asarray(im.convert("RGB"))
        finally:
            im.seek(current if current != right else left)
    except (EOFError, OSError, ValueError):
        return None
