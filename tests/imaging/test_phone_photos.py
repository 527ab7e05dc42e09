"""Issue 23: phone photos as they come: HEIC in and out, the phone's own depth map and stereo pair.

The real files are the iPhone portrait and the Apple spatial photo in ``../shared/fixtures``
(see its README); the tests that need them are skipped where that folder is absent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES, ROOT, cli, gradient_energy, luminance, read_rgb
from PIL import Image
from scipy import stats

from depthblur_cli.imaging import codec

FIXTURES = ROOT.parent / "shared" / "fixtures"
PUG = FIXTURES / "pug_portrait.heic"
SPATIAL = FIXTURES / "spatial_photo.heic"
needs_fixtures = pytest.mark.skipif(not PUG.exists(), reason="../shared/fixtures is not here")


def _heic(path, size=(96, 64)):
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").resize(size).save(path, "HEIF", quality=90)
    return path


def test_heic_in_and_out_and_in_folders(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _heic(folder / "cat.heic")
    cli("gaussian", folder, "-o", f"{tmp_path / 'out'}/", "--offline")  # a folder takes .heic
    (out,) = (tmp_path / "out").iterdir()
    with Image.open(out) as im:
        assert out.suffix == ".heic" and im.format == "HEIF" and im.size == (96, 64)
    cli("bokeh", folder / "cat.heic", "-o", tmp_path / "b.avif", "--offline")
    cli("bokeh", folder / "cat.heic", "-o", tmp_path / "b.heic", "--offline", "--quality", "60")
    for name, fmt in (("b.avif", "AVIF"), ("b.heic", "HEIF")):
        with Image.open(tmp_path / name) as im:
            assert im.format == fmt and im.size == (96, 64)
    assert np.abs(read_rgb(tmp_path / "b.heic") - read_rgb(folder / "cat.heic")).mean() > 0.005  # it blurred


@needs_fixtures
def test_an_iphone_portrait_is_blurred_by_its_own_depth_map(tmp_path):
    result = cli("depth", PUG, "--focal-selector", "0.55,0.62", "-o", tmp_path / "pug.jpg", "--save-depth",
                 "--json", "--offline")  # fmt: skip
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:apple-heif" and not record["warnings"], record
    # The depth used follows the phone's (Spearman at its own size).
    with Image.open(PUG) as im:
        phone = np.asarray(im.info["depth_images"][0]).astype(np.float64)
    with Image.open(tmp_path / "pug.depth.png") as im:
        used = np.asarray(im.resize(phone.shape[::-1], Image.BILINEAR)).astype(np.float64)
    assert stats.spearmanr(used.ravel(), phone.ravel()).statistic >= 0.95
    # The wall behind is blurred; the face at the focal point stays (nearly) sharp. With Photoshop's
    # focal range 0 only the focal disparity is exact: the face around it kept 0.62 of its detail.
    with Image.open(PUG) as im:
        photo = luminance(np.asarray(im.convert("RGB"), np.float64) / 255.0)
    out = luminance(read_rgb(tmp_path / "pug.jpg"))
    face, head, wall = (
        _box(photo, 0.55, 0.68, 0.49, 0.61),
        _box(photo, 0.48, 0.62, 0.47, 0.62),
        _box(photo, 0.1, 0.3, 0.35, 0.75),
    )
    assert gradient_energy(out, wall) <= 0.5 * gradient_energy(photo, wall)
    assert gradient_energy(out, face) >= 0.55 * gradient_energy(photo, face)
    # The subject in focus (the matte's band of the phone's depth): the whole head sharp (measured 1.05).
    cli("depth", PUG, "--focus-subject", "-o", tmp_path / "subject.jpg", "--offline")
    out = luminance(read_rgb(tmp_path / "subject.jpg"))
    assert gradient_energy(out, head) >= 0.8 * gradient_energy(photo, head)
    assert gradient_energy(out, wall) <= 0.5 * gradient_energy(photo, wall)


def _box(image: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """(H, W) bool: the box of fractions ``y0..y1``, ``x0..x1`` of ``image``."""
    h, w = image.shape[:2]
    box = np.zeros((h, w), bool)
    box[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = True
    return box


@needs_fixtures
def test_a_spatial_photo_carries_its_right_view_and_a_portrait_its_depth(tmp_path):
    spatial = codec.load_image(SPATIAL)
    assert spatial.stereo_right is not None and spatial.stereo_right.shape == spatial.pixels.shape
    assert spatial.embedded_depth is None
    pug = codec.load_image(PUG)
    assert pug.stereo_right is None and pug.embedded_depth is not None
    d = pug.embedded_depth.disparity
    assert d.shape == (576, 768) and d.dtype == np.float32
    # representation 1 (uniform disparity) from d_min 1.498 to d_max 4.383
    assert float(d.min()) >= 1.49 and float(d.max()) <= 4.39


@needs_fixtures
def test_a_damaged_embedded_depth_map_is_named_and_the_next_source_used(tmp_path, monkeypatch):
    from depthblur_cli.imaging import embedded

    def constant(im, limit):
        return embedded.EmbeddedDepth(np.ones((576, 768), np.float32), "embedded:apple-heif"), None

    monkeypatch.setattr(embedded, "heif_depth", constant)
    small = tmp_path / "pug.heic"
    with Image.open(PUG) as im:  # re-encoded small: the depth image is not carried, the patch gives one
        im.convert("RGB").resize((200, 150)).save(small, "HEIF")
    result = cli("depth", small, "-o", tmp_path / "o.jpg", "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"].startswith("model:")
    assert any("own depth map is constant: not used" in w for w in record["warnings"]), record["warnings"]


# ---------------------------------------------------------------------------
# Google's depthmap metadata (GDepth) in a JPEG, built per its documentation:
# https://developers.google.com/depthmap-metadata (properties, RangeInverse/RangeLinear encoding) and
# Adobe's XMP Specification Part 3, 1.1.3.1 (Extended XMP: GUID, full length, offset per APP1 chunk).


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _gdepth_jpeg(path, depth_u8, *, fmt="RangeInverse", near=1.0, far=5.0, chunk=20000, guid=None, photo="chelsea.png"):
    """A JPEG of a photo with a GDepth map: format, near and far in the main XMP, the image in Extended XMP."""
    import base64
    import hashlib
    import io

    png = io.BytesIO()
    Image.fromarray(depth_u8).save(png, "PNG")
    extended = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
        f'GDepth:Data="{base64.b64encode(png.getvalue()).decode()}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    digest = guid or hashlib.md5(extended).hexdigest().upper()
    main = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
        'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
        f'GDepth:Format="{fmt}" GDepth:Near="{near}" GDepth:Far="{far}" GDepth:Mime="image/png" '
        f'xmpNote:HasExtendedXMP="{hashlib.md5(extended).hexdigest().upper()}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    segments = _app1(b"http://ns.adobe.com/xap/1.0/\x00" + main)
    for offset in range(0, len(extended), chunk):  # several APP1 segments, each with the full length and its offset
        head = b"http://ns.adobe.com/xmp/extension/\x00" + digest.encode() + len(extended).to_bytes(4, "big")
        segments += _app1(head + offset.to_bytes(4, "big") + extended[offset : offset + chunk])
    encoded = io.BytesIO()
    with Image.open(EXAMPLES / photo) as im:
        im.convert("RGB").save(encoded, "JPEG", quality=92)
    data = encoded.getvalue()
    path.write_bytes(data[:2] + segments + data[2:])  # right after SOI
    return path


def _two_planes(shape=(75, 113)):
    """Stored GDepth values: the left half near (0), the right half far (255)."""
    depth = np.zeros(shape, np.uint8)
    depth[:, shape[1] // 2 :] = 255
    return depth


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
def test_a_google_portrait_jpeg_is_blurred_by_its_gdepth_map(tmp_path, fmt):
    photo = _gdepth_jpeg(tmp_path / "portrait.jpg", _two_planes(), fmt=fmt)
    loaded = codec.load_image(photo)
    assert loaded.embedded_depth is not None and loaded.embedded_depth.source == "embedded:gdepth"
    disparity = loaded.embedded_depth.disparity
    # Stored 0 is near (1 m), 255 far (5 m): disparity 1/d is 1.0 on the left, 0.2 on the right, either format.
    assert abs(float(disparity[:, :40].mean()) - 1.0) < 1e-5 and abs(float(disparity[:, -40:].mean()) - 0.2) < 1e-5
    out = tmp_path / "out.png"
    result = cli("depth", photo, "--focal-selector", "0.2,0.5", "-o", out, "--save-depth", "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:gdepth" and not record["warnings"], record
    src, res = luminance(read_rgb(photo)), luminance(read_rgb(out))
    h, w = src.shape
    near, far = (slice(10, h - 10), slice(10, w // 2 - 20)), (slice(10, h - 10), slice(w // 2 + 20, w - 10))
    assert gradient_energy(res, near) > 0.9 * gradient_energy(src, near)  # the focused near half stays sharp
    assert gradient_energy(res, far) < 0.5 * gradient_energy(src, far)  # the far half is blurred


def test_a_gdepth_map_that_cannot_be_used_is_named_and_the_model_used(tmp_path):
    photo = _gdepth_jpeg(tmp_path / "bad.jpg", _two_planes(), near=5.0, far=1.0)  # far before near
    result = cli("depth", photo, "-o", tmp_path / "out.png", "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"].startswith("model:"), record
    assert any("GDepth" in w and "near 5.0 and far 1.0" in w for w in record["warnings"]), record
    # Extended XMP under another GUID than the main XMP names: no image, said so.
    photo = _gdepth_jpeg(tmp_path / "lost.jpg", _two_planes(), guid="0" * 32)
    (loaded_warning,) = [codec.load_image(photo).embedded_warning]
    assert loaded_warning is not None and "no image data" in loaded_warning


def test_a_10_bit_heic_is_read_with_all_its_bits_and_written_at_16(tmp_path):
    import cv2
    import pillow_heif

    ramp = np.round(np.linspace(0, 1023, 96 * 64 * 3)).astype(np.uint16).reshape(64, 96, 3)  # 10-bit values
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(96, 64), data=(ramp << 6).tobytes())
    heif.save(tmp_path / "ten.heic", quality=-1)  # lossless, 10 bits (pillow-heif's encoding of 16-bit data)
    loaded = codec.load_image(tmp_path / "ten.heic")
    assert loaded.bit_depth == 16 and loaded.pixels.dtype == np.float32
    # Each sample is its 10-bit value over 1023 (white stays 1), within one 10-bit step (the encoder's
    # colour conversion rounds a few percent of them): finer than 8 bits can hold.
    np.testing.assert_allclose(loaded.pixels, ramp / 1023.0, atol=1.01 / 1023)
    assert float(loaded.pixels.max()) == 1.0 and len(np.unique(loaded.pixels)) > 256
    cli("gaussian", tmp_path / "ten.heic", "-o", tmp_path / "out.png", "--offline")
    written = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16  # a 16-bit result where the format holds it


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
def test_a_gdepth_jpeg_of_the_middlebury_truth_is_the_depth_used(tmp_path, fmt):
    """Issue 23's measure: a GDepth JPEG built from the Middlebury pair's true disparity (data in Extended
    XMP, encoded per Google's formulas); the depth used follows the truth (Spearman >= 0.95, right sign)."""
    truth = np.load(EXAMPLES / "motorcycle_disp.npz")["arr_0"].astype(np.float64)
    known = np.isfinite(truth) & (truth > 0)
    z = np.where(known, 1.0 / np.where(known, truth, 1.0), np.nan)  # depth, up to a scale
    near, far = float(np.nanmin(z)), float(np.nanmax(z))
    z = np.where(known, z, far)  # holes: as far as anything
    dn = far * (z - near) / (z * (far - near)) if fmt == "RangeInverse" else (z - near) / (far - near)
    stored = np.round(np.clip(dn, 0, 1) * 255).astype(np.uint8)
    photo = _gdepth_jpeg(tmp_path / "moto.jpg", stored, fmt=fmt, near=near, far=far, photo="motorcycle_left.png")
    result = cli("depth", photo, "--focal-selector", "0.5,0.55", "-o", tmp_path / "out.png", "--save-depth",
                 "--json", "--offline")  # fmt: skip
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:gdepth" and not record["warnings"], record
    with Image.open(tmp_path / "out.depth.png") as im:  # 16-bit disparity, larger = nearer
        used = np.asarray(im.resize(truth.shape[::-1], Image.BILINEAR)).astype(np.float64)
    rho = stats.spearmanr(used[known], truth[known]).statistic
    assert rho >= 0.95


# ---------------------------------------------------------------------------
# Android's Dynamic Depth 1.0 in a JPEG, built per its specification
# (https://developer.android.com/training/camera2/Dynamic-depth-v1.0.pdf; the element and property names as
# AOSP's reference library external/dynamic_depth writes them): the XMP's Device:Container lists the items
# (the primary image first, Length 0; then each appended payload with its Mime, Length, Padding and DataURI,
# in file order), the first Device:Camera's Camera:DepthMap names its image by DepthURI.

_DD_NAMESPACES = " ".join(
    f'xmlns:{prefix}="http://ns.google.com/photos/dd/1.0/{prefix.lower()}/"'
    for prefix in ("Device", "Camera", "Image", "DepthMap", "Container", "Item")
)


def _png(values: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    Image.fromarray(values).save(out, "PNG")
    return out.getvalue()


def _dynamic_depth_jpeg(path, depth_u8, *, fmt="RangeInverse", near=1.0, far=5.0, photo="chelsea.png",
                        confidence_first=False, padding=0, lie_about_length=0):  # fmt: skip
    """A JPEG with a Dynamic Depth container: its depth image (PNG) and a confidence image appended."""
    import io

    depth = _png(depth_u8) + b"\x00" * padding
    confidence = _png(np.full(depth_u8.shape, 255, np.uint8))
    payloads = [("android/confidencemap", confidence, 0), ("android/depthmap", depth, padding)]
    if not confidence_first:
        payloads.reverse()
    items = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Length="0" ' \
            'Item:DataURI="primary_image"/></rdf:li>'  # fmt: skip
    for uri, payload, pad in payloads:  # element form for these: <Item:Length>N</Item:Length>
        items += (
            '<rdf:li rdf:parseType="Resource"><Container:Item rdf:parseType="Resource">'
            f"<Item:Mime>image/png</Item:Mime><Item:Length>{len(payload) + lie_about_length}</Item:Length>"
            f"{f'<Item:Padding>{pad}</Item:Padding>' if pad else ''}<Item:DataURI>{uri}</Item:DataURI>"
            "</Container:Item></rdf:li>"
        )
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {_DD_NAMESPACES}>'
        '<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource"><Device:Camera rdf:parseType="Resource">'
        '<Camera:Image Image:ItemSemantic="Primary" Image:ItemURI="primary_image"/>'
        f'<Camera:DepthMap DepthMap:ItemSemantic="Depth" DepthMap:Format="{fmt}" DepthMap:Near="{near}" '
        f'DepthMap:Far="{far}" DepthMap:Units="Meters" DepthMap:MeasureType="OpticalAxis" '
        'DepthMap:DepthURI="android/depthmap" DepthMap:ConfidenceURI="android/confidencemap"/>'
        "</Device:Camera></rdf:li></rdf:Seq></Device:Cameras>"
        f"<Device:Container><Container:Directory><rdf:Seq>{items}</rdf:Seq></Container:Directory></Device:Container>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    encoded = io.BytesIO()
    with Image.open(EXAMPLES / photo) as im:
        im.convert("RGB").save(encoded, "JPEG", quality=92)
    data = encoded.getvalue()
    primary = data[:2] + _app1(b"http://ns.adobe.com/xap/1.0/\x00" + xmp) + data[2:]
    path.write_bytes(primary + b"".join(payload for _, payload, _ in payloads))
    return path


@pytest.mark.parametrize("confidence_first, padding", [(False, 0), (True, 7)])
def test_a_dynamic_depth_jpeg_is_blurred_by_its_own_depth_map(tmp_path, confidence_first, padding):
    photo = _dynamic_depth_jpeg(tmp_path / "pixel.jpg", _two_planes(), confidence_first=confidence_first,
                                padding=padding)  # fmt: skip
    loaded = codec.load_image(photo)
    assert loaded.embedded_depth is not None and loaded.embedded_depth.source == "embedded:dynamic-depth"
    disparity = loaded.embedded_depth.disparity  # stored 0 near (1 m), 255 far (5 m)
    assert abs(float(disparity[:, :40].mean()) - 1.0) < 1e-5 and abs(float(disparity[:, -40:].mean()) - 0.2) < 1e-5
    out = tmp_path / "out.png"
    result = cli("depth", photo, "--focal-selector", "0.2,0.5", "-o", out, "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:dynamic-depth" and not record["warnings"], record
    src, res = luminance(read_rgb(photo)), luminance(read_rgb(out))
    h, w = src.shape
    near, far = (slice(10, h - 10), slice(10, w // 2 - 20)), (slice(10, h - 10), slice(w // 2 + 20, w - 10))
    assert gradient_energy(res, near) > 0.9 * gradient_energy(src, near)
    assert gradient_energy(res, far) < 0.5 * gradient_energy(src, far)


def test_a_dynamic_depth_container_that_lies_is_named_and_the_model_used(tmp_path):
    photo = _dynamic_depth_jpeg(tmp_path / "lies.jpg", _two_planes(), lie_about_length=10_000_000)
    result = cli("depth", photo, "-o", tmp_path / "out.png", "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"].startswith("model:"), record
    assert any("Dynamic Depth" in w and "android/depthmap" in w for w in record["warnings"]), record


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
def test_a_dynamic_depth_jpeg_of_the_middlebury_truth_is_the_depth_used(tmp_path, fmt):
    """A Dynamic Depth JPEG built from the Middlebury pair's true disparity: the depth used follows the truth."""
    truth = np.load(EXAMPLES / "motorcycle_disp.npz")["arr_0"].astype(np.float64)
    known = np.isfinite(truth) & (truth > 0)
    z = np.where(known, 1.0 / np.where(known, truth, 1.0), np.nan)
    near, far = float(np.nanmin(z)), float(np.nanmax(z))
    z = np.where(known, z, far)
    dn = far * (z - near) / (z * (far - near)) if fmt == "RangeInverse" else (z - near) / (far - near)
    stored = np.round(np.clip(dn, 0, 1) * 255).astype(np.uint8)
    photo = _dynamic_depth_jpeg(tmp_path / "moto.jpg", stored, fmt=fmt, near=near, far=far,
                                photo="motorcycle_left.png")  # fmt: skip
    result = cli("depth", photo, "--focal-selector", "0.5,0.55", "-o", tmp_path / "out.png", "--save-depth",
                 "--json", "--offline")  # fmt: skip
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:dynamic-depth" and not record["warnings"], record
    with Image.open(tmp_path / "out.depth.png") as im:
        used = np.asarray(im.resize(truth.shape[::-1], Image.BILINEAR)).astype(np.float64)
    assert stats.spearmanr(used[known], truth[known]).statistic >= 0.95
