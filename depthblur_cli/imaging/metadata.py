"""Photo metadata: EXIF orientation, ICC colour spaces, PNG metadata chunks.

Everything here works on bytes and arrays; the only pixels converted are a
CMYK photo's, to sRGB by its ICC profile (:func:`cmyk_to_srgb`).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION = 0x0112


def reset_orientation(exif: bytes) -> bytes | None:
    """Return the EXIF block with the IFD0 Orientation tag set to 1.

    Patches the two value bytes in place so everything else (maker notes,
    GPS, sub-IFDs) is kept byte for byte. The result always starts with
    ``b"Exif\\0\\0"``. Returns None if the block cannot be parsed at all.
    """
    body = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(body[:2])]
        (ifd,) = struct.unpack(order + "I", body[4:8])
        (count,) = struct.unpack(order + "H", body[ifd : ifd + 2])
        for i in range(count):  # IFD entries (a few dozen), not pixels
            off = ifd + 2 + 12 * i
            tag, typ, n = struct.unpack(order + "HHI", body[off : off + 8])
            if tag == ORIENTATION and typ == 3 and n == 1:
                body = body[: off + 8] + struct.pack(order + "H", 1) + body[off + 10 :]
                break
        return EXIF_HEADER + bytes(body)
    except (KeyError, struct.error):
        pass
    try:  # Let Pillow re-serialise what it can.
        parsed = Image.Exif()
        parsed.load(EXIF_HEADER + bytes(body))
        if ORIENTATION in parsed:
            parsed[ORIENTATION] = 1
        out = parsed.tobytes()
        return out if out.startswith(EXIF_HEADER) else EXIF_HEADER + out
    except Exception:
        return None


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an array the way EXIF ``orientation`` says to display it.

    Same result as ``PIL.ImageOps.exif_transpose`` (used for arrays decoded
    by OpenCV, which ignores EXIF with ``IMREAD_UNCHANGED``).

    Args:
        arr: (H, W) or (H, W, C) array of any dtype.
        orientation: EXIF Orientation 1..8; other values leave it unchanged.

    Returns:
        The upright array (a view where possible); H and W are swapped for
        orientations 5..8.
    """
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1, :]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(arr, -1)
    if orientation == 7:
        return arr.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(arr, 1)
    return arr


def icc_colour_space(icc: bytes | None) -> bytes | None:
    """The ICC header's data colour space signature (b"RGB ", b"GRAY", b"CMYK")."""
    if icc and len(icc) >= 20:
        return bytes(icc[16:20])
    return None


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def add_png_metadata(png: bytes, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR of a PNG (OpenCV's or :mod:`~depthblur_cli.imaging.png`'s)."""
    extra = b""
    if icc_profile:
        extra += png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        body = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
        extra += png_chunk(b"eXIf", body)
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, length+type, IHDR data, CRC
    return png[:end_of_ihdr] + extra + png[end_of_ihdr:]


def cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert a CMYK image to sRGB with its ICC profile if it has a CMYK one,
    else with Pillow's naive formula."""
    if icc_colour_space(icc) == b"CMYK":
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc or b""))
            dst = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception:
            pass
    return im.convert("RGB")
