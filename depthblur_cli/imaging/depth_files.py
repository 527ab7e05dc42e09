"""Depth-map files: reading them in their own units, writing 16-bit and preview PNGs.

Depth maps (``--depth-map FILE``) are read in their own units (``.npy``,
``.npz``, 8/16-bit PNG, float TIFF) with invalid values as NaN;
interpretation (depth or disparity, scale) is the caller's business.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Iterable

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from depthblur_cli.errors import InputError, OutputError
from depthblur_cli.imaging.arrays import one_channel
from depthblur_cli.imaging.files import check_readable_file, write_atomic


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
            image, empty (0 pixels), not 2-D (or (H, W, 1)), or larger than
            the photos' decompression-bomb limit
            (:data:`~depthblur_cli.imaging.codec.MAX_PIXELS`), checked from
            its header before anything is decoded.
    """
    name = os.fspath(path)
    check_readable_file(name)
    _check_size(name)
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
                        raise InputError(f"holds several arrays ({', '.join(keys)}); expected one or 'arr_0'", name)
            else:
                arr = loaded
        except InputError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"not a readable NumPy file ({_one_line(exc)})", name) from None
        arr = one_channel(arr, "depth map", lambda message: InputError(message, name))
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
            raise InputError(f"depth map must hold real numbers, got dtype {arr.dtype}", name)
    else:
        try:
            with open(name, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror or exc})", name) from None
        decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is not None:
            arr = decoded
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
    invalid = None if arr.dtype.kind in "biu" else ~np.isfinite(out)  # integers are always finite
    if alpha is not None:
        invalid = alpha == 0 if invalid is None else invalid | (alpha == 0)
    if invalid is not None and invalid.any():
        out[invalid] = np.nan
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_size(name: str) -> None:
    """Refuse a depth map whose own header says it is too large, or not 2-D, before anything is decoded.

    The header is read by the file's magic bytes, whatever its name says and
    whatever a decoder would make of the rest (a broken ancillary chunk, an
    over-long text chunk): PNG's IHDR, JPEG's SOF, TIFF's first IFD, WebP's
    VP8/VP8L/VP8X, PFM's size line, the ``.npy`` header (alone or as each
    member of an ``.npz``). Other formats: Pillow's header read; a file
    whose size cannot be told from its header is refused.

    Raises:
        InputError: more pixels than the photos' limit, an array that is not
            2-D (or (H, W, 1)), or a size that cannot be read from the header.
    """
    from depthblur_cli.imaging.codec import MAX_PIXELS
    from depthblur_cli.imaging.headers import array_shapes, image_size

    limit = int(MAX_PIXELS)
    try:
        with open(name, "rb") as fh:
            head = fh.read(16)
            fh.seek(0)
            numpy_named = os.path.splitext(name)[1].lower() in (".npy", ".npz")
            if numpy_named and not (head.startswith(b"\x93NUMPY") or head.startswith(b"PK")):
                raise InputError("not a readable NumPy file (it does not start with a NumPy or zip header)", name)
            if head.startswith(b"\x93NUMPY") or head.startswith(b"PK"):
                shapes = array_shapes(fh)
                for shape in shapes:
                    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)):
                        raise InputError(f"depth map must be 2-D (H, W), got shape {tuple(shape)}", name)
                sizes = [(int(s[1]), int(s[0])) for s in shapes]
            else:
                size = image_size(fh)
                if size is None:
                    sizes = [_pillow_size(name)]
                else:
                    sizes = [size]
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
        raise InputError(f"not a readable depth map ({_one_line(exc)})", name) from None
    for width, height in sizes:
        if width * height > limit:
            raise InputError(f"depth map is too large ({width * height} pixels, limit {limit})", name)


def _pillow_size(name: str) -> tuple[int, int]:
    """(width, height) from Pillow's header read of a format :mod:`~depthblur_cli.imaging.headers` does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(name) as im:
                return im.size
    except Image.DecompressionBombError as exc:
        raise InputError(f"depth map is too large ({_one_line(exc)})", name) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise InputError("not a readable depth map (its size cannot be read from its header)", name) from None


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
    except UnidentifiedImageError:
        raise InputError("not a readable depth map (not an image or NumPy file)", name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"not a readable depth map ({_one_line(exc)})", name) from None


def _disparity_to_unit(disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max normalise finite values to 0..1; returns (values, valid mask)."""
    d = one_channel(np.asarray(disparity, dtype=np.float32), "disparity")
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
    write_atomic(path, buf.tobytes(), overwrite=overwrite, protected=protected)


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
    write_atomic(path, buf.tobytes(), overwrite=overwrite, protected=protected)
