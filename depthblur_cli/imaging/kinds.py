"""The photo as a library caller gives it (a path, bytes, a binary file, a PIL image, a NumPy array) and
the result given back as the same kind: what :mod:`depthblur_cli.api` takes and returns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthblur_cli.imaging import codec
from depthblur_cli.imaging.headers import MAX_ASPECT
from depthblur_cli.imaging.pixels import quantize, to_float
from depthblur_cli.options import defaults


@dataclass(frozen=True)
class PhotoKind:
    """How the caller gave the photo, so the result is given back the same way."""

    kind: str  # "path", "pil", "array" or "bytes"
    dtype: Any = np.float32
    gray: bool = False
    alpha: bool = False
    mode: str = "RGB"
    fmt: str | None = None  # "bytes": the input's file format, the result's


def from_array(arr: np.ndarray) -> tuple[codec.LoadedImage, PhotoKind]:
    """An (H, W), (H, W, 3) or (H, W, 4) uint8, uint16 or float 0..1 sRGB array as a decoded photo.

    Raises:
        ValueError: another shape, dtype or range, NaN, or an aspect ratio over ``MAX_ASPECT``:1.
    """
    a = np.asarray(arr)
    gray = a.ndim == 2
    if not (gray or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"image must be an (H, W), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")
    if max(a.shape[:2]) > MAX_ASPECT * min(a.shape[:2]):
        raise ValueError(f"image shape {a.shape[:2]}: an aspect ratio over {MAX_ASPECT}:1 is not supported")
    if a.dtype == np.uint8:
        values = a  # kept 8-bit, as the command keeps a decoded 8-bit photo (codec.LoadedImage.pixels)
    elif a.dtype == np.uint16:
        values = a.astype(np.float32) * np.float32(1 / 65535)
    elif np.issubdtype(a.dtype, np.floating):
        values = np.asarray(a, np.float32)
        if not np.isfinite(values).all():
            raise ValueError("image holds NaN or infinite values")
        if values.min() < -0.01 or values.max() > 1.01:
            raise ValueError(f"a float image must hold values in 0..1, got {values.min():g}..{values.max():g}")
        values = np.clip(values, 0.0, 1.0)
    else:
        raise ValueError(f"image dtype must be uint8, uint16 or floating point, got {a.dtype}")
    alpha = None
    if gray:
        rgb = np.repeat(values[..., None], 3, axis=2)
    else:
        rgb = np.ascontiguousarray(values[..., :3])
        alpha = to_float(values[..., 3]) if a.shape[2] == 4 else None
    bits = 16 if a.dtype == np.uint16 else 8
    kind = PhotoKind(
        "array", a.dtype if a.dtype in (np.uint8, np.uint16) else np.dtype(np.float32), gray, alpha is not None
    )
    return codec.LoadedImage(rgb, alpha, None, None, "<array>", None, bits), kind


def load_photo(image: Any) -> tuple[codec.LoadedImage, PhotoKind]:
    """Decode any accepted kind of photo: a path, bytes or a binary file, a PIL image, an array.

    Raises:
        TypeError: another kind of object; ValueError: a bad array (see
            :func:`from_array`); InputError: a file or bytes that are not an image.
    """
    if isinstance(image, np.ndarray):
        return from_array(image)
    if isinstance(image, (str, os.PathLike)):
        return codec.load_image(image), PhotoKind("path")
    if isinstance(image, (bytes, bytearray, memoryview)) or callable(getattr(image, "read", None)):
        data = bytes(image) if isinstance(image, (bytes, bytearray, memoryview)) else image.read()
        if not isinstance(data, bytes):
            raise TypeError(f"a file object must be opened in binary mode, got {type(data).__name__} from read()")
        loaded = codec.load_image("<bytes>", data=data)
        return loaded, PhotoKind("bytes", fmt=loaded.format)
    from PIL import Image

    if isinstance(image, Image.Image):
        mode = image.mode
        if mode in ("L", "LA", "RGB", "RGBA"):
            loaded, _ = from_array(np.asarray(image))
            return loaded, PhotoKind("pil", mode=mode)
        if mode.startswith("I;16") or mode == "I":
            loaded, _ = from_array(np.clip(np.asarray(image), 0, 65535).astype(np.uint16))
            return loaded, PhotoKind("pil", mode="L")
        has_alpha = "transparency" in image.info or mode in ("PA", "RGBa", "La")
        converted = image.convert("RGBA" if has_alpha else "RGB")
        loaded, _ = from_array(np.asarray(converted))
        return loaded, PhotoKind("pil", mode=converted.mode)
    raise TypeError(
        f"image must be a path, bytes, a binary file, a PIL image or a NumPy array, got {type(image).__name__}"
    )


def give_back(rgb: np.ndarray, alpha: np.ndarray | None, kind: PhotoKind, icc: bytes | None = None) -> Any:
    """The result as the caller gave the photo: (H, W, 3) sRGB float, or (H, W) for a matte."""
    rgb = to_float(rgb)  # an 8-bit result as 0..1 (quantized back below, exactly, where 8 bits are wanted)
    single = rgb.ndim == 2
    if kind.kind == "array":
        out = rgb if single else (rgb.mean(axis=2) if kind.gray else rgb)
        if kind.alpha and alpha is not None and not single:
            out = np.concatenate([out, alpha[..., None]], axis=2)
        if kind.dtype == np.uint8:
            return quantize(out, np.uint8)
        if kind.dtype == np.uint16:
            return quantize(out, np.uint16)
        return np.ascontiguousarray(out, dtype=np.float32)
    from PIL import Image

    if single:  # a matte: one channel
        matte = Image.fromarray(quantize(rgb, np.uint8), "L")
        return encoded_file(matte, kind.fmt or "PNG", None) if kind.kind == "bytes" else matte
    planes = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)
    im = Image.fromarray(quantize(planes, np.uint8), "RGB" if alpha is None else "RGBA")
    if kind.kind == "pil" and im.mode != kind.mode:
        im = im.convert(kind.mode)
    if icc:
        im.info["icc_profile"] = icc
    if kind.kind == "bytes":
        return encoded_file(im, kind.fmt or "PNG", icc)
    return im


def encoded_file(im: Any, fmt: str, icc: bytes | None) -> bytes:
    """The bytes of ``im`` as an image file of format ``fmt`` (PNG where that cannot hold it)."""
    import io

    from PIL import Image

    if fmt not in ("JPEG", "PNG", "WEBP", "TIFF") or (fmt == "JPEG" and im.mode in ("RGBA", "LA")):
        fmt = "PNG"
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt in ("JPEG", "WEBP"):
        extra["quality"] = defaults.QUALITY
    buffer = io.BytesIO()
    Image.Image.save(im, buffer, format=fmt, **extra)
    return buffer.getvalue()
