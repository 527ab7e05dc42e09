"""Sizes read from files' own headers, before any decoder sees them (the decompression-bomb guard).

A decoder's own header read is not enough: Pillow gives up on a PNG whose
ancillary chunk has a bad CRC (or an over-long text chunk) and says nothing
about its size, while OpenCV then decodes all 400 MP of it. These readers
take the size from the bytes the formats' specifications put first, and
read nothing else:

- PNG: the IHDR chunk, first after the signature (PNG specification, 3rd
  edition, section 11.2.2, https://www.w3.org/TR/png-3/#11IHDR).
- JPEG: the first SOFn segment (ITU-T T.81, annex B.2.2).
- TIFF and BigTIFF: ImageWidth (256) and ImageLength (257) of the first IFD
  (TIFF 6.0, section 2; BigTIFF: https://www.awaresystems.be/imaging/tiff/bigtiff.html).
- WebP: the VP8X canvas, or the VP8L / VP8 frame size
  (https://developers.google.com/speed/webp/docs/riff_container).
- PFM: the size line after ``PF`` / ``Pf``.
- NumPy ``.npy`` headers, alone or each member of an ``.npz`` archive
  (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
"""

from __future__ import annotations

import struct
import zipfile
from typing import BinaryIO

import numpy as np

from depthblur_cli.errors import InputError

#: Longest side over shortest side accepted: the renderer pads the short side to its coarsest
#: reduction, so a 1 x 100000 strip cost as much as 6 MP (22 s); past this ratio it is refused.
MAX_ASPECT = 256
#: JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Bytes of JPEG segments read at most before its frame header must have come.
_JPEG_SCAN = 1 << 24


def check_aspect(width: int, height: int, name: str) -> None:
    """Refuse an image longer than :data:`MAX_ASPECT` times its width (or the reverse).

    Raises:
        InputError: naming ``name`` and the image's size.
    """
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"image is {width}x{height}: an aspect ratio over {MAX_ASPECT}:1 is not supported", name)


def image_size(fh: BinaryIO) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, TIFF, WebP or PFM file, or None for another format.

    ``fh`` is a binary file positioned at its start.

    Raises:
        ValueError: a file of one of these formats whose header is missing
            or malformed (its size cannot be told).
    """
    head = fh.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] != b"IHDR" or len(head) < 24:
            raise ValueError("PNG without its IHDR header")
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(fh)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(fh, head)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head[:2] in (b"PF", b"Pf") and head[2:3].isspace():
        fields = head[2:].split()
        if len(fields) < 2:
            raise ValueError("PFM without its size line")
        return int(fields[0]), int(fields[1])
    return None


def _jpeg_size(fh: BinaryIO) -> tuple[int, int]:
    fh.seek(2)
    while fh.tell() < _JPEG_SCAN:
        byte = fh.read(1)
        if not byte:
            break
        if byte != b"\xff":
            continue
        marker = fh.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fh.read(1)
        if not marker:
            break
        code = marker[0]
        if code in (0x01, 0xD8) or 0xD0 <= code <= 0xD7:  # no length
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            break
        length = struct.unpack(">H", fh.read(2))[0]
        if code in _SOF:
            _precision, height, width = struct.unpack(">BHH", fh.read(5))
            if height == 0 or width == 0:
                raise ValueError("JPEG whose height is given later (DNL): its size is not in its header")
            return width, height
        fh.seek(length - 2, 1)
    raise ValueError("JPEG without a frame header")


def _tiff_size(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    if big:
        offset = struct.unpack(order + "Q", head[8:16])[0]
        count_fmt, entry_size = "Q", 20
    else:
        offset = struct.unpack(order + "I", head[4:8])[0]
        count_fmt, entry_size = "H", 12
    fh.seek(offset)
    count = struct.unpack(order + count_fmt, fh.read(struct.calcsize(count_fmt)))[0]
    if count > 4096:
        raise ValueError("TIFF with an implausible first directory")
    entries = fh.read(count * entry_size)
    size: dict[int, int] = {}
    for i in range(count):
        entry = entries[i * entry_size : (i + 1) * entry_size]
        if len(entry) < entry_size:
            raise ValueError("TIFF directory cut short")
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag not in (256, 257):
            continue
        value = entry[12:] if big else entry[8:]
        if kind == 3:  # SHORT
            size[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:  # LONG
            size[tag] = struct.unpack(order + "I", value[:4])[0]
        elif kind == 16 and big:  # LONG8
            size[tag] = struct.unpack(order + "Q", value[:8])[0]
        else:
            raise ValueError("TIFF image size of an unexpected type")
    if 256 not in size or 257 not in size:
        raise ValueError("TIFF without ImageWidth and ImageLength")
    return size[256], size[257]


def _webp_size(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ValueError("WebP (VP8) without its frame start code")
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise ValueError("WebP without a VP8X, VP8L or VP8 chunk first")


def _npy_shape(fh: BinaryIO) -> tuple[int, ...]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return tuple(np.lib.format.read_array_header_1_0(fh)[0])
    if version == (2, 0):
        return tuple(np.lib.format.read_array_header_2_0(fh)[0])
    raise ValueError(f"NumPy file format version {version[0]}.{version[1]} is not supported")


def array_shapes(fh: BinaryIO) -> list[tuple[int, ...]]:
    """The shape of the array in an ``.npy`` file, or of each array in an ``.npz`` archive, from headers only.

    ``fh`` is a binary file positioned at its start. An ``.npz`` member is
    decompressed only as far as its header.

    Raises:
        ValueError, zipfile.BadZipFile: not a NumPy file, or a member that is not one.
    """
    if fh.read(6) == b"\x93NUMPY":
        fh.seek(0)
        return [_npy_shape(fh)]
    fh.seek(0)
    shapes = []
    with zipfile.ZipFile(fh) as archive:
        for member in archive.namelist():
            with archive.open(member) as part:
                shapes.append(_npy_shape(part))  # type: ignore[arg-type]
    return shapes
