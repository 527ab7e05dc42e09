"""Reading and writing photos and depth maps.

Photos are decoded with Pillow (OpenCV only for 16-bit colour PNG/TIFF,
which Pillow reduces to 8 bits) into ``(H, W, 3)`` float32 sRGB-encoded
values 0..1, upright (EXIF orientation applied), with the ICC profile and
EXIF kept for the output. Outputs are written atomically: to a hidden
temporary file in the target directory, then renamed over the target, so a
crash or a full disk never leaves a half-written image behind.

Depth maps (``--depth FILE``) are read in their own units (``.npy``,
8/16-bit PNG, float TIFF) with invalid values as NaN; interpretation
(depth or disparity, scale) is the caller's business.
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError, UsageError

#: Largest image accepted, in pixels (width * height); larger files are
#: refused as possible decompression bombs. Read at call time.
MAX_PIXELS = 200_000_000

#: Canonical Pillow format name -> canonical lower-case file suffix (no dot).
OUTPUT_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tif"}

_FORMAT_ALIASES = {
    "png": "PNG",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "jpe": "JPEG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
}


def normalize_format(name: str) -> str:
    """Canonical output format name for a user-given one.

    Args:
        name: a format or suffix in any case, with or without a leading dot:
            ``"jpg"``, ``"JPEG"``, ``".png"``, ``"webp"``, ``"tif"``, ``"TIFF"``.

    Returns:
        One of ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"TIFF"``.

    Raises:
        UsageError: the name is not a supported output format.
    """
    key = str(name).strip().lower().lstrip(".")
    try:
        return _FORMAT_ALIASES[key]
    except KeyError:
        raise UsageError(f"unsupported output format {name!r} (use png, jpg, webp or tiff)") from None


# --------------------------------------------------------------------------
# Atomic writing
# --------------------------------------------------------------------------


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file.

    Uses ``os.path.samefile`` when both exist (hard links, symlinks, case
    differences on case-insensitive disks), else compares the resolved,
    case-normalised paths. ``"-"`` (stdin/stdout) is never the same file.

    Raises:
        Nothing: unreadable paths are compared by name.
    """
    a, b = os.fspath(a), os.fspath(b)
    if a == "-" or b == "-":
        return False
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _default_mode() -> int:
    """Permission bits of a newly created regular file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_EXISTS = "already exists (use --overwrite to replace it)"


def _check_target(target: str, *, overwrite: bool, protected: Iterable) -> bool:
    """Refuse a target that is an input, a directory, or exists without
    ``overwrite``; returns whether it exists."""
    for p in protected:
        if p is not None and same_file(target, p):
            raise OutputError("refusing to overwrite an input file", target)
    if os.path.isdir(target):
        raise OutputError("is a directory", target)
    exists = os.path.lexists(target)
    if exists and not overwrite:
        raise OutputError(_EXISTS, target)
    return exists


def _write_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool, protected: Iterable) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename); "-" is stdout.

    Raises:
        OutputError: ``path`` is one of ``protected``, exists and
            ``overwrite`` is False, is a directory, or cannot be written.
    """
    target = os.fspath(path)
    if target == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:
            raise OutputError(f"cannot write to standard output ({exc.strerror or exc})", "-") from None
        return
    exists = _check_target(target, overwrite=overwrite, protected=protected)

    parent = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create directory {parent} ({exc.strerror or exc})", target) from None

    mode = _default_mode()
    if exists:
        try:
            mode = os.stat(target).st_mode & 0o777
        except OSError:
            pass
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=parent, prefix=".", suffix=".depthblur.tmp", delete=False
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        if overwrite:
            os.replace(tmp_name, target)
            tmp_name = None
        else:
            # No-clobber: a hard link fails if the target appeared meanwhile;
            # after a successful link the temporary name is removed below.
            try:
                os.link(tmp_name, target)
            except FileExistsError:
                raise OutputError(_EXISTS, target) from None
            except OSError:  # file system without hard links
                if os.path.lexists(target):
                    raise OutputError(_EXISTS, target) from None
                os.replace(tmp_name, target)
                tmp_name = None
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", target) from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


# --------------------------------------------------------------------------
# Depth maps
# --------------------------------------------------------------------------


def _check_readable_file(path: str) -> None:
    if not os.path.lexists(path):
        raise InputError("file not found", path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a file", path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path) from None
    if size == 0:
        raise InputError("file is empty", path)


def read_depth_file(path: str | os.PathLike) -> np.ndarray:
    """Read a depth or disparity map from a file, values as stored.

    Supported: ``.npy`` (2-D or (H, W, 1) array of any real dtype), ``.npz``
    (its only array, or the one named ``arr_0``), and any image OpenCV or
    Pillow can decode: 8/16-bit grayscale PNG, float32 or integer TIFF, a
    colour image (its first, red, channel is used). In an image with an
    alpha channel, fully transparent pixels are invalid.

    Args:
        path: the file.

    Returns:
        (H, W) float32, the raw values in the file's own units (no
        rescaling: a 16-bit PNG gives 0..65535), NaN where the value is not
        finite (NaN, +-inf) or transparent.

    Raises:
        InputError: the file is missing, empty, not readable as an array or
            image, empty (0 pixels), or not 2-D (or (H, W, 1)).
    """
    name = os.fspath(path)
    _check_readable_file(name)
    suffix = os.path.splitext(name)[1].lower()
    alpha = None
    if suffix in (".npy", ".npz"):
        try:
            loaded = np.load(name, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    keys = list(loaded.files)
                    if len(keys) == 1:
                        arr = loaded[keys[0]]
                    elif "arr_0" in keys:
                        arr = loaded["arr_0"]
                    else:
                        raise InputError(
                            f"holds several arrays ({', '.join(keys)}); expected one or 'arr_0'", name
                        )
            else:
                arr = loaded
        except InputError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"not a readable NumPy file ({exc})", name) from None
        arr = np.asarray(arr)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise InputError(f"depth map must be 2-D (H, W), got shape {arr.shape}", name)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
            raise InputError(f"depth map must hold real numbers, got dtype {arr.dtype}", name)
    else:
        try:
            with open(name, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror or exc})", name) from None
        arr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None:
            if arr.ndim == 3 and arr.shape[2] == 4:
                alpha = arr[..., 3]
            if arr.ndim == 3:
                # OpenCV gives BGR(A): the first (red) channel is the last colour one.
                arr = arr[..., 2] if arr.shape[2] >= 3 else arr[..., 0]
        else:
            arr = _depth_via_pillow(raw, name)
            if isinstance(arr, tuple):
                arr, alpha = arr
    if arr.size == 0:
        raise InputError("depth map is empty (0 pixels)", name)
    out = arr.astype(np.float32)
    invalid = ~np.isfinite(out)
    if alpha is not None:
        invalid |= alpha == 0
    out[invalid] = np.nan
    return out


def _depth_via_pillow(raw: bytes, name: str):
    """Fallback decoder for depth images OpenCV cannot read."""
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "L", "1"):
                return np.asarray(im)
            if im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (im.mode == "P" and im.has_transparency_data):
                rgba = np.asarray(im.convert("RGBA"))
                return rgba[..., 0], rgba[..., 3]
            return np.asarray(im.convert("RGB"))[..., 0]
    except Image.DecompressionBombError:
        raise InputError("depth map is too large", name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"not a readable depth map ({exc})", name) from None


def _disparity_to_unit(disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max normalise finite values to 0..1; returns (values, valid mask)."""
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"disparity must be a non-empty (H, W) array, got shape {d.shape}")
    valid = np.isfinite(d)
    if not valid.any():
        return np.zeros(d.shape, np.float32), valid
    lo, hi = float(d[valid].min()), float(d[valid].max())
    scale = 1.0 / (hi - lo) if hi > lo else 0.0
    unit = np.where(valid, (d - lo) * scale, 0.0).astype(np.float32)
    return np.clip(unit, 0.0, 1.0), valid


def save_depth_png16(
    path: str | os.PathLike, disparity: np.ndarray, *, overwrite: bool = False, protected: Iterable = ()
) -> None:
    """Save a disparity map as a 16-bit grayscale PNG (larger = nearer).

    Args:
        path: output file ("-" for stdout); written atomically.
        disparity: (H, W) or (H, W, 1) float array, any units, larger values
            nearer. Finite values are min-max normalised to 0..65535 (a
            constant map gives all 0); NaN/inf pixels are written as 0.
        overwrite: replace an existing file.
        protected: paths that must never be overwritten (the inputs).

    Raises:
        ValueError: ``disparity`` is not a non-empty 2-D array.
        OutputError: see :func:`save_image`.
    """
    unit, _ = _disparity_to_unit(disparity)
    u16 = np.round(unit * 65535.0).astype(np.uint16)
    ok, buf = cv2.imencode(".png", u16)
    if not ok:  # pragma: no cover - OpenCV always encodes uint16 PNG
        raise OutputError("cannot encode the depth map as PNG", os.fspath(path))
    _write_atomic(path, buf.tobytes(), overwrite=overwrite, protected=protected)


def save_depth_preview(
    path: str | os.PathLike, disparity: np.ndarray, *, overwrite: bool = False, protected: Iterable = ()
) -> None:
    """Save a false-colour 8-bit PNG of a disparity map for viewing.

    Uses OpenCV's TURBO colour map: near (large disparity) is red, far is
    dark blue; NaN/inf pixels are black.

    Args:
        path: output file ("-" for stdout); written atomically.
        disparity: (H, W) or (H, W, 1) float array, any units, larger = nearer;
            min-max normalised over its finite values.
        overwrite: replace an existing file.
        protected: paths that must never be overwritten (the inputs).

    Raises:
        ValueError: ``disparity`` is not a non-empty 2-D array.
        OutputError: see :func:`save_image`.
    """
    unit, valid = _disparity_to_unit(disparity)
    u8 = np.round(unit * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)
    bgr[~valid] = 0
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:  # pragma: no cover
        raise OutputError("cannot encode the depth preview as PNG", os.fspath(path))
    _write_atomic(path, buf.tobytes(), overwrite=overwrite, protected=protected)


# --------------------------------------------------------------------------
# Photos: decoding
# --------------------------------------------------------------------------


@dataclass
class LoadedImage:
    """A decoded photo, upright, ready for processing.

    Attributes:
        rgb: (H, W, 3) float32, sRGB-encoded values 0..1, EXIF orientation
            already applied (row 0 is the top of the scene).
        alpha: (H, W) float32 opacity 0..1, or None when the input has no
            alpha channel or transparency.
        icc_profile: the embedded RGB ICC profile, to write into the output
            (None if absent, or if the input was CMYK/grayscale: its pixels
            are then converted to, or taken as, sRGB).
        exif: the raw EXIF block (``b"Exif\\0\\0..."``) with Orientation set
            to 1, since the pixels are upright now; None if the input had
            no EXIF block (TIFF tags are not carried over).
        source: the path as given, or ``"-"`` for standard input.
        format: Pillow's name of the input format (``"JPEG"``, ``"PNG"``,
            ``"WEBP"``, ``"TIFF"``, ...), or None if unknown.
        bit_depth: 16 for 16-bit (or 32-bit/float) inputs, else 8.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    exif: bytes | None
    source: str
    format: str | None
    bit_depth: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112

#: Magic numbers of formats we recognise as images even when too short to open.
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"II*\x00",
    b"MM\x00*",
    b"GIF87a",
    b"GIF89a",
    b"BM",
)


def _reset_orientation(exif: bytes) -> bytes | None:
    """Return the EXIF block with the IFD0 Orientation tag set to 1.

    Patches the two value bytes in place so everything else (maker notes,
    GPS, sub-IFDs) is kept byte for byte. The result always starts with
    ``b"Exif\\0\\0"``. Returns None if the block cannot be parsed at all.
    """
    body = exif[len(_EXIF_HEADER):] if exif.startswith(_EXIF_HEADER) else exif
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(body[:2])]
        (ifd,) = struct.unpack(order + "I", body[4:8])
        (count,) = struct.unpack(order + "H", body[ifd : ifd + 2])
        for i in range(count):  # IFD entries (a few dozen), not pixels
            off = ifd + 2 + 12 * i
            tag, typ, n = struct.unpack(order + "HHI", body[off : off + 8])
            if tag == _ORIENTATION and typ == 3 and n == 1:
                body = body[: off + 8] + struct.pack(order + "H", 1) + body[off + 10 :]
                break
        return _EXIF_HEADER + bytes(body)
    except (KeyError, struct.error):
        pass
    try:  # Let Pillow re-serialise what it can.
        parsed = Image.Exif()
        parsed.load(_EXIF_HEADER + bytes(body))
        if _ORIENTATION in parsed:
            parsed[_ORIENTATION] = 1
        out = parsed.tobytes()
        return out if out.startswith(_EXIF_HEADER) else _EXIF_HEADER + out
    except Exception:  # noqa: BLE001 - unparseable EXIF is simply dropped
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


def _icc_colour_space(icc: bytes | None) -> bytes | None:
    """The ICC header's data colour space signature (b"RGB ", b"GRAY", b"CMYK")."""
    if icc and len(icc) >= 20:
        return bytes(icc[16:20])
    return None


def _tile_rawmode(im: Image.Image) -> str:
    """The raw pixel layout Pillow will decode (e.g. "RGB;16B"); "" if unknown.

    Must be called before ``im.load()``, which clears ``im.tile``.
    """
    try:
        args = im.tile[0][3]
    except (IndexError, TypeError):
        return ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _too_large(n: int | str, limit: int, name: str) -> InputError:
    return InputError(f"image is too large ({n} pixels, limit {limit})", name)


def load_image(source: str | os.PathLike, data: bytes | None = None) -> LoadedImage:
    """Decode a photo into upright sRGB floats.

    Handles Pillow modes 1, L, LA, P (with or without transparency), RGB,
    RGBA, CMYK (converted to sRGB through its ICC profile when it has one),
    YCbCr/LAB/HSV, I;16 / I (scaled by 1/65535) and F (clipped to 0..1, or
    divided by its maximum when that is above 1); 16-bit colour PNG/TIFF
    (and 16-bit gray+alpha PNG) are decoded with OpenCV to keep all 16 bits.
    Only the first frame of an animated or multi-page file is used.

    Args:
        source: file path, or ``"-"`` for standard input.
        data: the encoded bytes, when already read (e.g. from stdin); if
            None, they are read from ``source`` (stdin when it is ``"-"``).

    Returns:
        A :class:`LoadedImage` (``rgb`` (H, W, 3) float32 0..1, ``alpha``
        (H, W) float32 0..1 or None).

    Raises:
        InputError: "file not found", "is a directory, not a file", "file is
            empty", "cannot read (...)", "not an image (...)", "image is
            truncated or corrupt", or "image is too large (N pixels, limit
            M)" when width * height exceeds :data:`MAX_PIXELS`.
    """
    name = "-" if os.fspath(source) == "-" else os.fspath(source)
    if data is None:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            _check_readable_file(name)
            try:
                with open(name, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise InputError(f"cannot read ({exc.strerror or exc})", name) from None
    if not data:
        raise InputError("file is empty", name)

    limit = int(MAX_PIXELS)
    saved_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its limit: make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            if width * height > limit:
                raise _too_large(width * height, limit, name)
            fmt = im.format
            rawmode = _tile_rawmode(im)
            try:
                orientation = int(im.getexif().get(_ORIENTATION, 1))
            except Exception:  # noqa: BLE001 - a broken EXIF block is ignored
                orientation = 1
            im.load()
            info = dict(im.info)
            high_bit_colour = (
                fmt in ("PNG", "TIFF") and im.mode in ("RGB", "RGBA", "LA") and "16" in rawmode
            )
            if not high_bit_colour:
                im = ImageOps.exif_transpose(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            raise _too_large(found.group(1) if found else "?", limit, name) from None
        except UnidentifiedImageError:
            if any(data.startswith(sig) for sig in _SIGNATURES):
                raise InputError("image is truncated or corrupt", name) from None
            raise InputError("not an image (unrecognised file format)", name) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError):
            raise InputError("image is truncated or corrupt", name) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved_limit

    icc = info.get("icc_profile") or None
    raw_exif = info.get("exif") or None
    exif = _reset_orientation(raw_exif) if raw_exif else None
    alpha = None
    bit_depth = 8

    rgb = None
    if high_bit_colour:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.dtype == np.uint16:
            arr = apply_orientation(arr, orientation)
            arr = arr.astype(np.float32) * np.float32(1.0 / 65535.0)
            if arr.ndim == 2:
                arr = arr[..., None]
            channels = arr.shape[2]
            if channels in (2, 4):
                alpha = np.ascontiguousarray(arr[..., -1])
                arr = arr[..., :-1]
            if arr.shape[2] == 1:
                rgb = np.repeat(arr, 3, axis=2)
            else:
                rgb = np.ascontiguousarray(arr[..., ::-1])  # BGR -> RGB
            bit_depth = 16
        else:  # OpenCV cannot: fall back on Pillow's 8-bit reading
            im = ImageOps.exif_transpose(im)

    if rgb is None:
        mode = im.mode
        if mode.startswith("I;16") or mode == "I":
            v = np.asarray(im).astype(np.float32) * np.float32(1.0 / 65535.0)
            rgb = np.repeat(np.clip(v, 0.0, 1.0)[..., None], 3, axis=2)
            bit_depth = 16
        elif mode == "F":
            v = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            top = float(v.max()) if v.size else 1.0
            if top > 1.0:
                v = v / np.float32(top)
            rgb = np.repeat(np.clip(v, 0.0, 1.0)[..., None], 3, axis=2)
            bit_depth = 16
        else:
            has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in info
            if mode == "CMYK":
                im = _cmyk_to_srgb(im, icc)
            rgba = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
            scale = np.float32(1.0 / 255.0)
            rgb = rgba[..., :3].astype(np.float32) * scale
            if has_alpha:
                alpha = rgba[..., 3].astype(np.float32) * scale

    if _icc_colour_space(icc) != b"RGB ":
        icc = None  # a CMYK/gray profile does not describe the RGB output
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb, dtype=np.float32),
        alpha=alpha,
        icc_profile=icc,
        exif=exif,
        source=name,
        format=fmt,
        bit_depth=bit_depth,
    )


def _cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert a CMYK image to sRGB with its ICC profile if it has a CMYK one,
    else with Pillow's naive formula."""
    if _icc_colour_space(icc) == b"CMYK":
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # noqa: BLE001 - broken profile or no littleCMS
            pass
    return im.convert("RGB")


# --------------------------------------------------------------------------
# Photos: encoding and saving
# --------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _add_png_metadata(png: bytes, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR of an OpenCV-written PNG."""
    extra = b""
    if icc_profile:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        body = exif[len(_EXIF_HEADER):] if exif.startswith(_EXIF_HEADER) else exif
        extra += _png_chunk(b"eXIf", body)
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, length+type, IHDR data, CRC
    return png[:end_of_ihdr] + extra + png[end_of_ihdr:]


#: Rows converted per step by :func:`quantize` (bounds its temporaries).
_QUANTIZE_ROWS = 256


def quantize(values: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Round 0..1 floats to 8- or 16-bit integers, a strip of rows at a time.

    Equal to ``np.round(np.clip(np.nan_to_num(values, nan=0), 0, 1) * max)``
    cast to ``dtype``, without its four full-size float temporaries (a
    24-megapixel RGB image would need over 1 GB of them).

    Args:
        values: (H, W) or (H, W, C) float array, nominally 0..1; NaN -> 0,
            values outside 0..1 are clipped.
        dtype: ``np.uint8`` (0..255) or ``np.uint16`` (0..65535).

    Returns:
        Array of ``dtype``, same shape.
    """
    top = float(np.iinfo(dtype).max)
    out = np.empty(values.shape, dtype)
    for y0 in range(0, values.shape[0], _QUANTIZE_ROWS):
        strip = np.nan_to_num(np.asarray(values[y0 : y0 + _QUANTIZE_ROWS], np.float32), nan=0.0, copy=True)
        np.clip(strip, 0.0, 1.0, out=strip)
        strip *= np.float32(top)
        np.rint(strip, out=strip)
        out[y0 : y0 + _QUANTIZE_ROWS] = strip
    return out


def encode_image(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    *,
    quality: int = 95,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    bit_depth: int = 8,
) -> bytes:
    """Encode an image to PNG, JPEG, WebP or TIFF bytes.

    Values are clipped to 0..1 (NaN -> 0) and rounded to 8 bits, or to 16
    bits for PNG/TIFF when ``bit_depth`` is 16 (written with OpenCV; for a
    16-bit TIFF the ICC profile and EXIF are not kept).

    JPEG cannot hold alpha: if ``alpha`` is given and not all 1, the image
    is composited over white (in sRGB) and the alpha is dropped. Callers
    that must not lose transparency should refuse JPEG before calling.

    Args:
        rgb: (H, W, 3) float array, sRGB-encoded 0..1, or (H, W) for a
            grayscale image (written as 8- or 16-bit gray, no alpha).
        alpha: (H, W) float array 0..1, or None for an opaque image.
        fmt: "PNG", "JPEG", "WEBP", "TIFF", or an alias ("jpg", "tif",
            ".png", ...; any case).
        quality: 1..100, JPEG and WebP quality (ignored for PNG/TIFF).
        icc_profile: ICC profile bytes to embed (PNG, JPEG, WebP, TIFF).
        exif: EXIF block, with or without the ``b"Exif\\0\\0"`` header, to
            embed (PNG, JPEG, WebP).
        bit_depth: 8, or 16 (honoured for PNG and TIFF only).

    Returns:
        The encoded file as bytes.

    Raises:
        ValueError: ``rgb``/``alpha`` have the wrong shape.
        UsageError: unknown ``fmt``, ``quality`` outside 1..100, or
            ``bit_depth`` not 8 or 16.
        OutputError: the encoder refused the data (no path in the message;
            :func:`save_image` adds it).
    """
    fmt = normalize_format(fmt)
    rgb = np.asarray(rgb, dtype=np.float32)
    gray = rgb.ndim == 2
    if not (gray or (rgb.ndim == 3 and rgb.shape[2] == 3)) or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"rgb must be a non-empty (H, W, 3) or (H, W) array, got shape {rgb.shape}")
    if gray and alpha is not None:
        raise ValueError("a grayscale (H, W) image cannot carry alpha")
    if gray:
        icc_profile = None  # a photo's RGB profile does not describe one-channel data
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float32)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must have shape {rgb.shape[:2]}, got {alpha.shape}")
        alpha = np.clip(np.nan_to_num(alpha, nan=1.0), 0.0, 1.0)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise UsageError(f"quality must be an integer from 1 to 100, got {quality!r}")
    if bit_depth not in (8, 16):
        raise UsageError(f"bit depth must be 8 or 16, got {bit_depth!r}")
    if exif and not exif.startswith(_EXIF_HEADER):
        exif = _EXIF_HEADER + exif

    if fmt == "JPEG" and alpha is not None:
        if (alpha < 1.0).any():
            a = alpha[..., None]
            rgb = np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0) * a + (1.0 - a)
        alpha = None
    planes = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)

    if bit_depth == 16 and fmt in ("PNG", "TIFF"):
        u16 = quantize(planes, np.uint16)
        if not gray:
            u16 = cv2.cvtColor(u16, cv2.COLOR_RGB2BGR if alpha is None else cv2.COLOR_RGBA2BGRA)  # OpenCV order
        ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tif", u16)
        if not ok:
            raise OutputError(f"cannot encode a 16-bit {fmt} image")
        out = buf.tobytes()
        return _add_png_metadata(out, icc_profile, exif) if fmt == "PNG" else out

    u8 = quantize(planes, np.uint8)
    im = Image.fromarray(u8)
    options: dict = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if exif and fmt != "TIFF":
        options["exif"] = exif
    if fmt == "JPEG":
        options.update(quality=int(quality), optimize=True, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        options.update(quality=int(quality), method=4)
    elif fmt == "TIFF":
        options.update(compression="tiff_lzw")
    buf = io.BytesIO()
    try:
        im.save(buf, fmt, **options)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot encode as {fmt} ({exc})") from None
    return buf.getvalue()


def save_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    fmt: str | None = None,
    quality: int = 95,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    bit_depth: int = 8,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike] = (),
) -> None:
    """Encode an image and write it atomically.

    The bytes go to a hidden temporary file in the target's directory
    (created if missing), which is then renamed onto the target, so the
    target is either untouched or complete; the temporary file is removed
    on any failure. ``"-"`` writes to standard output. The new file gets
    the usual permissions for the umask (or those of the file it replaces).

    Args:
        path: output file, or ``"-"`` for stdout.
        rgb: (H, W, 3) float array, sRGB-encoded 0..1, or (H, W) grayscale.
        alpha: (H, W) float array 0..1, or None.
        fmt: output format (see :func:`encode_image`); if None, taken from
            the suffix of ``path`` (PNG for stdout).
        quality, icc_profile, exif, bit_depth: see :func:`encode_image`.
        overwrite: replace an existing file; without it an existing target
            is refused.
        protected: paths never to overwrite, even with ``overwrite`` (the
            inputs); compared with ``os.path.samefile`` when both exist.

    Raises:
        OutputError: the target is protected, exists without ``overwrite``,
            is a directory, has a suffix that names no supported format, or
            cannot be written (permissions, disk full, ...).
        UsageError, ValueError: see :func:`encode_image`.
    """
    target = os.fspath(path)
    if fmt is None:
        if target == "-":
            fmt = "PNG"
        else:
            suffix = os.path.splitext(target)[1]
            try:
                fmt = normalize_format(suffix) if suffix else None
            except UsageError:
                fmt = None
            if fmt is None:
                raise OutputError(
                    f"cannot tell the output format from the suffix {suffix!r}; "
                    "use .png, .jpg, .webp or .tif (or --format)",
                    target,
                )
    if target != "-":
        protected = list(protected)
        _check_target(target, overwrite=overwrite, protected=protected)  # fail before encoding
    try:
        data = encode_image(
            rgb, alpha, fmt, quality=quality, icc_profile=icc_profile, exif=exif, bit_depth=bit_depth
        )
    except OutputError as exc:
        if exc.path is None:
            raise OutputError(exc.message, target) from None
        raise
    _write_atomic(target, data, overwrite=overwrite, protected=protected)
