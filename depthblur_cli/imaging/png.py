"""Fast 8-bit PNG encoding: NumPy row filtering, ISA-L deflate.

PNG is the output of ``rembg-blur`` (as the fapihub API answers) and of
every cutout and mask. Pillow's encoder deflates with zlib on one core:
0.5 s for a 12 MP photo even at level 1, a third of the whole command. Here
each row gets PNG's "Sub" filter (the difference from the pixel to its
left, computed by NumPy) and the rows are deflated with Intel's ISA-L
(the ``isal`` package, ``isal_zlib``; level 1), in pieces of about 4 MB on
the thread pool, each piece ending on a byte boundary (a full flush) so
that they join into one deflate stream, as pigz does; their Adler-32
checksums are combined as zlib's ``adler32_combine`` does: 0.06 s for the
same photo (0.10 s in one piece), 0.11 s at 24 MP (0.23 s), for a file about 3 %
larger than Pillow's level 1. The file is a plain PNG (one IDAT chunk),
readable by any decoder.

Format: PNG specification, 2nd edition, W3C 2003,
https://www.w3.org/TR/png/ (IHDR, filter type 1 "Sub", IDAT, IEND).
"""

from __future__ import annotations

import struct

import numpy as np
from isal import isal_zlib

from depthblur_cli import threads
from depthblur_cli.imaging.metadata import png_chunk

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by channel count: gray, gray + alpha, RGB, RGBA.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
#: ISA-L's level 1 (of 0-3): about zlib level 1's size at several times its speed.
LEVEL = 1
#: Bytes of filtered rows per piece deflated on its own (about): pieces are
#: deflated on the thread pool and joined into one zlib stream.
_PIECE_BYTES = 4 << 20
#: zlib stream header: deflate with a 32 KB window, fastest level, no dictionary (RFC 1950).
_ZLIB_HEADER = b"\x78\x01"
_ADLER_BASE = 65521


def encode_png8(pixels: np.ndarray) -> bytes:
    """Encode 8-bit pixels as a PNG file.

    Args:
        pixels: (H, W) gray, or (H, W, C) uint8 with C = 1 (gray), 2 (gray
            and alpha), 3 (RGB) or 4 (RGBA); H, W >= 1.

    Returns:
        The PNG file's bytes (no ancillary chunks: add the ICC profile and
        EXIF with :func:`~depthblur_cli.imaging.metadata.add_png_metadata`).

    Raises:
        ValueError: not uint8, an empty image, or another channel count.

    Source: PNG specification (W3C 2003), IHDR, filter type 1 and IDAT;
    https://www.w3.org/TR/png/.
    """
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[..., None]
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in _COLOUR_TYPE or 0 in a.shape:
        raise ValueError(f"expected a non-empty (H, W[, 1-4]) uint8 array, got {a.dtype} {np.shape(pixels)}")
    h, w, c = a.shape
    flat = np.ascontiguousarray(a).reshape(h, w * c)

    def deflate(y0: int, y1: int) -> tuple[bytes, int, int]:
        """Rows y0:y1 filtered and deflated as raw deflate ending on a byte boundary (the last one final)."""
        rows = np.empty((y1 - y0, w * c + 1), np.uint8)
        rows[:, 0] = 1  # filter type Sub: each byte minus the same channel's byte one pixel to the left
        rows[:, 1 : 1 + c] = flat[y0:y1, :c]
        np.subtract(flat[y0:y1, c:], flat[y0:y1, :-c], out=rows[:, 1 + c :])  # wraps modulo 256, as PNG wants
        compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
        flush = isal_zlib.Z_FINISH if y1 == h else isal_zlib.Z_FULL_FLUSH
        return compressor.compress(rows) + compressor.flush(flush), isal_zlib.adler32(rows), rows.size

    pieces = threads.map_strips(deflate, h, max(1, -(-_PIECE_BYTES // (w * c + 1))))
    adler = 1
    for _, piece_adler, size in pieces:
        adler = adler32_combine(adler, piece_adler, size)
    idat = [_ZLIB_HEADER, *(data for data, _, _ in pieces), struct.pack(">I", adler)]
    crc = isal_zlib.crc32(b"IDAT")
    for part in idat:
        crc = isal_zlib.crc32(part, crc)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE[c], 0, 0, 0)
    length = sum(len(part) for part in idat)
    return b"".join(
        [_SIGNATURE, png_chunk(b"IHDR", header), struct.pack(">I", length), b"IDAT", *idat, struct.pack(">I", crc)]
        + [png_chunk(b"IEND", b"")]
    )


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs and the second's length.

    Source: zlib's ``adler32_combine`` (adler32.c, https://github.com/madler/zlib), which
    Python's ``zlib`` does not expose.
    """
    rem = second_length % _ADLER_BASE
    sum1 = first & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (second & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)
