"""What a photo file carries besides its pixels: the phone's own depth map, the other view of a stereo pair.

HEIF/HEIC files are read through pillow-heif (a libheif binding,
https://github.com/bigcat88/pillow_heif), whose opener is registered once,
here (:func:`register_heif`). An iPhone portrait stores its depth as a HEIF
depth auxiliary image with a depth representation (ISO/IEC 23008-12;
libheif's ``heif_depth_representation_info``: type 0 uniform inverse Z,
1 uniform disparity, 2 uniform Z, 3 nonuniform disparity, with ``d_min``,
``d_max`` or ``z_near``, ``z_far``). An Apple spatial photo stores its two
views as the images of a stereo entity group (``ster``: left, then right).
A JPEG from Google Camera's portrait or Lens Blur mode carries its depth in
XMP (Google's depthmap metadata, https://developers.google.com/depthmap-metadata:
``GDepth:Format`` RangeInverse or RangeLinear, ``GDepth:Near``/``Far``,
``GDepth:Mime``, the image base64 in ``GDepth:Data``), usually in Extended
XMP split over several APP1 segments (Adobe XMP Specification Part 3,
1.1.3.1: a GUID named by ``xmpNote:HasExtendedXMP``, the full length and
each chunk's offset). Nothing here decodes more than these images; their
sizes are checked against the photos' pixel limit before they are decoded.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

import numpy as np

from depthblur_cli.imaging.pixels import Decoded

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
        source: where it came from: ``"embedded:apple-heif"`` or ``"embedded:gdepth"``.
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


_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
_GDEPTH = "{http://ns.google.com/photos/1.0/depthmap/}"
_XMP_NOTE = "{http://ns.adobe.com/xmp/note/}"
#: Largest Extended XMP read, bytes (a phone's depth and confidence images are well under this).
MAX_EXTENDED_XMP = 32 << 20


def _xmp_root(packet: bytes) -> ElementTree.Element | None:
    """An XMP packet parsed, or None when it is not XML."""
    try:
        return ElementTree.fromstring(packet.strip(b"\x00 \r\n\t"))
    except ElementTree.ParseError:
        return None


def _node_properties(node: ElementTree.Element) -> dict[str, str]:
    """A node's properties, attributes or leaf elements, by ``{namespace}name``, with those of the nodes inside it."""
    found: dict[str, str] = {}
    for inner in node.iter():
        found.update(inner.attrib)
        if len(inner) == 0 and inner.text and inner.text.strip():
            found.setdefault(inner.tag, inner.text.strip())
    return found


def _xmp_properties(packet: bytes) -> dict[str, str]:
    """Every property of an XMP packet, attribute or element, by ``{namespace}name``; {} when it is not XML."""
    root = _xmp_root(packet)
    return {} if root is None else _node_properties(root)


def _extended_xmp(applist: list[tuple[str, bytes]], guid: str) -> bytes | None:
    """The Extended XMP of ``guid`` reassembled from its APP1 chunks, or None when it is missing or incomplete."""
    chunks: dict[int, bytes] = {}
    total = None
    for marker, payload in applist:
        if marker != "APP1" or not payload.startswith(_XMP_EXTENSION):
            continue
        header = payload[len(_XMP_EXTENSION) :]
        if len(header) < 40 or header[:32].decode("ascii", "replace") != guid:
            continue
        total = int.from_bytes(header[32:36], "big")
        chunks[int.from_bytes(header[36:40], "big")] = header[40:]
    if total is None or total > MAX_EXTENDED_XMP:
        return None
    data = bytearray(total)
    filled = 0
    for offset, chunk in chunks.items():
        if offset + len(chunk) > total:
            return None
        data[offset : offset + len(chunk)] = chunk
        filled += len(chunk)
    return bytes(data) if filled >= total else None


def gdepth_depth(applist: list[tuple[str, bytes]], max_pixels: int) -> tuple[EmbeddedDepth | None, str | None]:
    """A JPEG's GDepth depth map (Google's depthmap metadata in XMP), as disparity.

    Args:
        applist: the JPEG's application segments, as Pillow lists them
            (``JpegImageFile.applist``: (marker, payload) pairs).
        max_pixels: the decompression-bomb limit, checked on the depth
            image's size before it is decoded.

    Returns:
        ``(depth, None)``; ``(None, None)`` when the file has none;
        ``(None, warning)`` when it has one that cannot be used (an unknown
        format, a missing or undecodable image, near and far not positive
        and increasing, too large); the encoding: :func:`_range_depth`.
    """
    props: dict[str, str] = {}
    for marker, payload in applist:
        if marker == "APP1" and payload.startswith(_XMP):
            props.update(_xmp_properties(payload[len(_XMP) :]))
    guid = props.get(_XMP_NOTE + "HasExtendedXMP")
    if guid:
        extended = _extended_xmp(applist, guid.strip())
        if extended is not None:
            props.update(_xmp_properties(extended))
    fmt = props.get(_GDEPTH + "Format")
    data = props.get(_GDEPTH + "Data")
    if fmt is None and data is None:
        return None, None
    if not data:
        return None, "its GDepth depth map has no image data (GDepth:Data, or its Extended XMP, missing): not used"
    try:
        image = base64.b64decode(re.sub(r"\s+", "", data), validate=True)
    except (binascii.Error, ValueError) as exc:
        return None, f"its GDepth depth image cannot be decoded ({type(exc).__name__}): not used"
    near, far = props.get(_GDEPTH + "Near", "nan"), props.get(_GDEPTH + "Far", "nan")
    return _range_depth(image, fmt, near, far, max_pixels, "GDepth", "embedded:gdepth")


def _range_depth(
    image: bytes, fmt: str | None, near_text: str, far_text: str, max_pixels: int, label: str, source: str
) -> tuple[EmbeddedDepth | None, str | None]:
    """A depth image encoded per Google's depthmap encoding, as disparity (GDepth and Dynamic Depth share it).

    Args:
        image: the encoded depth image (JPEG or PNG, 8 or 16 bits).
        fmt: ``"RangeInverse"`` or ``"RangeLinear"``; near_text, far_text: the metadata's ``Near``/``Far``.
        max_pixels: the pixel limit, checked before the image is decoded.
        label: the container's name in the warnings (``"GDepth"``); source: the ``depth_source``.

    Returns:
        ``(depth, None)``, or ``(None, why it is not used)``.

    Source: https://developers.google.com/depthmap-metadata/encoding:
    RangeLinear ``d = near + dn (far - near)``; RangeInverse
    ``d = far near / (far - dn (far - near))``, ``dn`` the stored value over
    its maximum (0 is near), so the disparity ``1 / d`` is returned.
    """
    try:
        near, far = float(near_text), float(far_text)
    except ValueError:
        near = far = float("nan")
    if fmt not in ("RangeInverse", "RangeLinear"):
        return None, f"its {label} depth map has an unknown format {fmt!r}: not used"
    if not (0.0 < near < far < float("inf")):
        return None, f"its {label} depth map has near {near} and far {far} (must be 0 < near < far): not used"
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as depth:
            width, height = depth.size
            if width * height > max_pixels:
                return None, f"its {label} depth image is too large ({width * height} pixels): not used"
            values = np.asarray(depth.convert("I;16") if depth.mode.startswith("I") else depth.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return None, f"its {label} depth image cannot be decoded ({type(exc).__name__}): not used"
    dn = values.astype(np.float32) / np.float32(65535.0 if values.dtype == np.uint16 else 255.0)
    if fmt == "RangeLinear":
        disparity = 1.0 / (np.float32(near) + dn * np.float32(far - near))
    else:  # 1 / d is linear in dn: 1/near at 0, 1/far at 1
        disparity = (np.float32(far) - dn * np.float32(far - near)) / np.float32(far * near)
    note = f"depth from the photo's own {label} depth map ({width}x{height}, {fmt}, near {near:g}, far {far:g})"
    return EmbeddedDepth(np.ascontiguousarray(disparity, np.float32), source, [note]), None


def _dd(namespace: str, name: str) -> str:
    """A Dynamic Depth property's ``{namespace}name`` (``_dd("item", "Length")``)."""
    return "{http://ns.google.com/photos/dd/1.0/" + namespace + "/}" + name


def _xmp_roots(applist: list[tuple[str, bytes]]) -> list[ElementTree.Element]:
    """The parsed XMP packets of a JPEG's APP1 segments (the main packet, then its Extended XMP, if any)."""
    packets = [payload[len(_XMP) :] for marker, payload in applist if marker == "APP1" and payload.startswith(_XMP)]
    guid = next((v for p in packets for k, v in _xmp_properties(p).items() if k == _XMP_NOTE + "HasExtendedXMP"), None)
    extended = _extended_xmp(applist, guid.strip()) if guid else None
    roots = (_xmp_root(packet) for packet in [*packets, *([extended] if extended else [])])
    return [root for root in roots if root is not None]


def dynamic_depth(
    applist: list[tuple[str, bytes]], data: bytes, max_pixels: int
) -> tuple[EmbeddedDepth | None, str | None]:
    """A JPEG's Dynamic Depth map (Android's depth photo container), as disparity.

    The XMP's ``Device:Container`` lists the file's items in order
    (``Item:Mime``, ``Item:Length``, ``Item:Padding``, ``Item:DataURI``):
    the primary image, then the items appended after it, which end the
    file. The first camera's ``Camera:DepthMap`` (``ItemSemantic`` Depth)
    names its image by ``DepthMap:DepthURI`` and gives ``Format``
    (RangeInverse, RangeLinear), ``Near``, ``Far`` and ``Units``; the image
    is decoded as Google's depthmap encoding (:func:`_range_depth`).

    Args:
        applist: the JPEG's application segments (``JpegImageFile.applist``).
        data: the whole file, whose tail holds the items.
        max_pixels: the pixel limit, checked before the depth image is decoded.

    Returns:
        ``(depth, None)``; ``(None, None)`` when the file has none;
        ``(None, why)`` when its map cannot be used (an item missing or
        outside the file, not an image, units in diopters, or as
        :func:`_range_depth` refuses).

    Source: Dynamic Depth 1.0, Android
    (https://developer.android.com/training/camera2/Dynamic-depth-v1.0.pdf),
    and its reference library (AOSP ``external/dynamic_depth``).
    """
    roots = _xmp_roots(applist)
    maps = [_node_properties(n) for root in roots for n in root.iter(_dd("camera", "DepthMap"))]
    maps = [m for m in maps if m.get(_dd("depthmap", "ItemSemantic"), "Depth").lower() != "segmentation"]
    if not maps:
        return None, None
    depth_map = maps[0]  # the first camera's: the primary image's
    items = [_node_properties(n) for root in roots for n in root.iter(_dd("container", "Item"))]
    uri = depth_map.get(_dd("depthmap", "DepthURI"), "")
    try:
        lengths = [int(i.get(_dd("item", "Length"), "-1")) for i in items]
        paddings = [int(i.get(_dd("item", "Padding"), "0")) for i in items]
    except ValueError:
        lengths = [-1]
    index = next((k for k, i in enumerate(items) if uri and i.get(_dd("item", "DataURI")) == uri), 0)
    after = sum(lengths[1:])
    if index == 0 or min(lengths) < 0 or not 0 < after <= len(data):
        return None, f"its Dynamic Depth map's image (item {uri!r}) is not in the file's container: not used"
    start = len(data) - after + sum(lengths[1:index])
    image = data[start : start + lengths[index] - max(0, paddings[index])]
    if not (image.startswith(b"\xff\xd8") or image.startswith(b"\x89PNG")):
        return (
            None,
            f"its Dynamic Depth map's image (item {uri!r}) is not a JPEG or PNG where the container puts it: not used",
        )
    if depth_map.get(_dd("depthmap", "Units"), "Meters").lower() == "diopters":
        return None, "its Dynamic Depth map is in diopters, which depthblur does not read: not used"
    fmt = depth_map.get(_dd("depthmap", "Format"))
    near, far = depth_map.get(_dd("depthmap", "Near"), "nan"), depth_map.get(_dd("depthmap", "Far"), "nan")
    return _range_depth(image, fmt, near, far, max_pixels, "Dynamic Depth", "embedded:dynamic-depth")


def carried_images(
    im, fmt: str | None, max_pixels: int, data: bytes = b""
) -> tuple[EmbeddedDepth | None, str | None, np.ndarray | None]:
    """What an opened photo carries besides its pixels, in the file's orientation.

    Args:
        im: the Pillow image as opened (before any conversion).
        fmt: its format (``"HEIF"``, ``"JPEG"``, ...) or None.
        max_pixels: the decompression-bomb limit for every carried image.
        data: the file's bytes (a Dynamic Depth JPEG's items follow its image).

    Returns:
        (depth, why a depth map it carries is not used, the right view of
        a stereo pair): a HEIF depth image and stereo pair; a JPEG's
        Dynamic Depth map, else its GDepth map (a Dynamic Depth map that
        cannot be used is named in the GDepth map's notes); Nones for
        other formats.
    """
    if fmt == "HEIF":
        depth, warning = heif_depth(im, max_pixels)
        return depth, warning, heif_stereo_right(im, max_pixels)
    if fmt == "JPEG":
        applist = getattr(im, "applist", [])
        depth, warning = dynamic_depth(applist, data, max_pixels)
        if depth is None:
            gdepth, gdepth_warning = gdepth_depth(applist, max_pixels)
            if gdepth is not None and warning:
                gdepth.notes.insert(0, warning)
            depth, warning = (gdepth, None) if gdepth is not None else (None, warning or gdepth_warning)
        return depth, warning, None
    return None, None, None


def heif_high_bit(data: bytes, orientation: int) -> Decoded | None:
    """A 10- or 12-bit HEIF photo's primary image with all of its bits: (rgb, alpha, 16, gray), or None.

    pillow-heif's ``convert_hdr_to_8bit=False`` decode gives the samples
    shifted up to 16 bits; each is read as a fraction of its own range
    (1023 or 4095), so white stays 1. ``orientation`` is applied as to the
    8-bit pixels. None when pillow-heif is not installed or fails (the
    caller then reads the 8-bit conversion).

    Returns:
        (H, W, 3) float32 RGB 0..1, (H, W) float32 alpha or None, 16, False.
    """
    try:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        depth = int(heif.info.get("bit_depth") or 8)
        samples = np.asarray(heif)
    except Exception:  # libheif's own errors: the 8-bit reading still works or says why not
        return None
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (3, 4) or not 8 < depth <= 16:
        return None
    from depthblur_cli.imaging.metadata import apply_orientation

    values = (samples >> (16 - depth)).astype(np.float32) / np.float32((1 << depth) - 1)
    values = apply_orientation(values, orientation) if orientation != 1 else values
    alpha = np.ascontiguousarray(values[..., 3]) if values.shape[2] == 4 else None
    return np.ascontiguousarray(values[..., :3]), alpha, 16, False
