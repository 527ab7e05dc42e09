"""Tests for depthblur_cli.imaging: decoding, encoding, atomic saving, depth maps."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from depthblur_cli.errors import InputError, OutputError, UsageError
from depthblur_cli.imaging import codec, files
from depthblur_cli.imaging.codec import LoadedImage, encode_image, load_image, save_image
from depthblur_cli.imaging.depth_files import read_depth_file, save_depth_png16, save_depth_preview
from depthblur_cli.imaging.metadata import add_png_metadata, apply_orientation

DATA = Path(__file__).resolve().parents[2] / "examples"  # real photos, licences in examples/README.md
ASTRONAUT = DATA / "astronaut.png"


def _one_line_naming(exc: BaseException, path) -> None:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")


# --------------------------------------------------------------------------
# Depth maps
# --------------------------------------------------------------------------


def test_read_depth_npy_2d_and_hw1(tmp_path):
    d = np.arange(12, dtype=np.float64).reshape(3, 4) * 0.5
    p = tmp_path / "d.npy"
    np.save(p, d)
    out = read_depth_file(p)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, d.astype(np.float32))

    p1 = tmp_path / "d1.npy"
    np.save(p1, d[..., None])
    np.testing.assert_array_equal(read_depth_file(p1), d.astype(np.float32))


def test_read_depth_npy_nonfinite_become_nan(tmp_path):
    d = np.array([[1.0, np.inf], [-np.inf, np.nan]], np.float32)
    p = tmp_path / "d.npy"
    np.save(p, d)
    out = read_depth_file(p)
    assert out[0, 0] == 1.0
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and np.isnan(out[1, 1])


def test_read_depth_npz_arr0(tmp_path):
    d = np.full((5, 7), 3.25, np.float32)
    p = tmp_path / "d.npz"
    np.savez(p, d)
    np.testing.assert_array_equal(read_depth_file(p), d)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 3, 2)])
def test_read_depth_npy_wrong_dims(tmp_path, shape):
    p = tmp_path / "bad.npy"
    np.save(p, np.zeros(shape, np.float32))
    with pytest.raises(InputError) as ei:
        read_depth_file(p)
    _one_line_naming(ei.value, p)
    assert "2-D" in str(ei.value)


def test_read_depth_png16_raw_values(tmp_path):
    d = (np.arange(20, dtype=np.uint16) * 3000 + 7).reshape(4, 5)
    p = tmp_path / "d.png"
    assert cv2.imwrite(str(p), d)
    out = read_depth_file(p)
    assert out.dtype == np.float32 and out.shape == (4, 5)
    np.testing.assert_array_equal(out, d.astype(np.float32))  # no rescaling


def test_read_depth_png8_gray_and_colour_first_channel(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(g).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_depth_file(tmp_path / "g.png"), g.astype(np.float32))
    rgb = np.stack([g, 255 - g, np.full_like(g, 9)], axis=-1)  # R, G, B
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_depth_file(tmp_path / "c.png"), g.astype(np.float32))


def test_read_depth_float_tiff_with_nan_and_inf(tmp_path):
    d = np.array([[0.5, 1.25, np.nan], [np.inf, -np.inf, 1000.0]], np.float32)
    p = tmp_path / "d.tif"
    assert cv2.imwrite(str(p), d)
    out = read_depth_file(p)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out[0, :2], [0.5, 1.25])
    assert out[1, 2] == 1000.0
    assert np.isnan(out[0, 2]) and np.isnan(out[1, 0]) and np.isnan(out[1, 1])


def test_read_depth_pillow_float_tiff(tmp_path):
    d = np.linspace(-3, 5, 30, dtype=np.float32).reshape(5, 6)
    p = tmp_path / "pil.tiff"
    Image.fromarray(d, mode="F").save(p)
    np.testing.assert_allclose(read_depth_file(p), d)


def test_read_depth_transparent_pixels_are_nan(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = [[10, 20], [30, 40]]
    rgba[..., 3] = [[255, 0], [255, 255]]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_depth_file(tmp_path / "a.png")
    assert np.isnan(out[0, 1])
    np.testing.assert_array_equal(out[[0, 1, 1], [0, 0, 1]], [10, 30, 40])


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_text("depth,values\n1,2\n"), "not a readable"),
        (lambda p: p.mkdir(), "directory"),
    ],
)
def test_read_depth_bad_files(tmp_path, make, expected):
    p = tmp_path / "depth.png"
    make(p)
    with pytest.raises(InputError) as ei:
        read_depth_file(p)
    _one_line_naming(ei.value, p)
    assert expected in str(ei.value)


def test_read_depth_corrupt_npy(tmp_path):
    p = tmp_path / "d.npy"
    p.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError) as ei:
        read_depth_file(p)
    _one_line_naming(ei.value, p)


def test_save_depth_png16_normalised_nearer_is_larger(tmp_path):
    disp = np.array([[2.0, 4.0], [6.0, np.nan]], np.float32)
    p = tmp_path / "depth.png"
    save_depth_png16(p, disp)
    back = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == (2, 2)
    np.testing.assert_array_equal(back, [[0, 32768], [65535, 0]])
    # The round trip through read_depth_file gives the stored counts.
    np.testing.assert_array_equal(read_depth_file(p), back.astype(np.float32))
    with pytest.raises(OutputError):
        save_depth_png16(p, disp)  # exists, no overwrite
    save_depth_png16(p, -disp, overwrite=True)
    back = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert back[0, 0] == 65535 and back[1, 0] == 0


def test_save_depth_preview_colours(tmp_path):
    disp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    disp[0, 0] = np.nan
    p = tmp_path / "preview.png"
    save_depth_preview(p, disp)
    with Image.open(p) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (64, 8)
        rgb = np.asarray(im).astype(int)
    assert (rgb[0, 0] == 0).all()  # invalid -> black
    # TURBO: far (small disparity) is blue-ish, near (large) is red-ish.
    assert rgb[4, 1, 2] > rgb[4, 1, 0]
    assert rgb[4, -1, 0] > rgb[4, -1, 2]
    # Not a grayscale image.
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 50


# --------------------------------------------------------------------------
# Loading photos
# --------------------------------------------------------------------------


def _exif(orientation: int | None = None) -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F] = "TestMaker"  # Make
    if orientation is not None:
        ex[0x0112] = orientation
    ex.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal (Exif sub-IFD)
    return ex


def _check_float_image(img: LoadedImage, h: int, w: int) -> None:
    assert img.rgb.shape == (h, w, 3) and img.rgb.dtype == np.float32
    assert img.rgb.min() >= 0.0 and img.rgb.max() <= 1.0
    if img.alpha is not None:
        assert img.alpha.shape == (h, w) and img.alpha.dtype == np.float32
        assert img.alpha.min() >= 0.0 and img.alpha.max() <= 1.0


def test_load_astronaut_rgb_values_and_icc():
    img = load_image(ASTRONAUT)
    _check_float_image(img, 512, 512)
    assert img.alpha is None and img.format == "PNG" and img.bit_depth == 8
    assert img.source == str(ASTRONAUT)
    with Image.open(ASTRONAUT) as im:
        ref = np.asarray(im.convert("RGB"))
        icc = im.info["icc_profile"]
    np.testing.assert_array_equal(np.round(img.rgb * 255).astype(np.uint8), ref)
    assert img.icc_profile == icc and img.icc_profile[16:20] == b"RGB "
    assert img.size == (512, 512)


def test_exif_orientation_6_jpeg_loads_upright_and_resets_tag(tmp_path):
    # Stored 64 wide x 32 high; red block in the stored top-left corner.
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[..., 2] = 255
    stored[:16, :16] = (255, 0, 0)
    p = tmp_path / "rot6.jpg"
    Image.fromarray(stored).save(p, quality=95, exif=_exif(6))
    img = load_image(p)
    # Orientation 6 = rotate 90 degrees clockwise for display: H and W swap,
    # the stored top-left corner ends up top-right.
    _check_float_image(img, 64, 32)
    assert np.allclose(img.rgb[4, 28], (1, 0, 0), atol=0.1)
    assert np.allclose(img.rgb[4, 4], (0, 0, 1), atol=0.1)
    assert np.allclose(img.rgb[60, 28], (0, 0, 1), atol=0.1)
    assert img.exif.startswith(b"Exif\x00\x00")
    ex = Image.Exif()
    ex.load(img.exif)
    assert ex[0x0112] == 1
    assert ex[0x010F] == "TestMaker"
    assert ex.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation):
    arr = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    im = Image.fromarray(arr)
    ex = im.getexif()
    ex[0x0112] = orientation
    im.info["exif"] = ex.tobytes()
    ref = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(apply_orientation(arr, orientation), ref)


def test_png16_rgb_with_exif_orientation_keeps_16_bits_and_rotates(tmp_path):
    rng = np.random.default_rng(0)
    rgb16 = rng.integers(0, 65536, size=(6, 10, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", rgb16[..., ::-1])  # OpenCV writes BGR
    assert ok
    exif = _exif(8).tobytes()
    p = tmp_path / "rgb16.png"
    p.write_bytes(add_png_metadata(buf.tobytes(), None, exif))
    img = load_image(p)
    _check_float_image(img, 10, 6)  # orientation 8: H and W swap
    assert img.bit_depth == 16 and img.format == "PNG"
    expected = np.rot90(rgb16, 1).astype(np.float64) / 65535.0
    np.testing.assert_allclose(img.rgb, expected, atol=0.5 / 65535)
    ex = Image.Exif()
    ex.load(img.exif)
    assert ex[0x0112] == 1


def test_png16_rgba_and_gray16(tmp_path):
    rng = np.random.default_rng(1)
    bgra = rng.integers(0, 65536, size=(4, 5, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgba16.png"), bgra)
    img = load_image(tmp_path / "rgba16.png")
    _check_float_image(img, 4, 5)
    assert img.bit_depth == 16
    np.testing.assert_allclose(img.rgb, bgra[..., 2::-1] / 65535.0, atol=0.5 / 65535)
    np.testing.assert_allclose(img.alpha, bgra[..., 3] / 65535.0, atol=0.5 / 65535)

    gray = (np.arange(20, dtype=np.uint16) * 3277).reshape(4, 5)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray)
    img = load_image(tmp_path / "gray16.png")
    _check_float_image(img, 4, 5)
    assert img.bit_depth == 16 and img.alpha is None
    for c in range(3):
        np.testing.assert_allclose(img.rgb[..., c], gray / 65535.0, atol=0.5 / 65535)


def test_tiff16_rgb(tmp_path):
    rgb16 = (np.arange(2 * 3 * 3, dtype=np.uint16) * 3000 + 11).reshape(2, 3, 3)
    cv2.imwrite(str(tmp_path / "rgb16.tif"), rgb16[..., ::-1])
    img = load_image(tmp_path / "rgb16.tif")
    assert img.bit_depth == 16 and img.format == "TIFF"
    np.testing.assert_allclose(img.rgb, rgb16 / 65535.0, atol=0.5 / 65535)


def test_float_tiff_grayscale(tmp_path):
    v = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    Image.fromarray(v, mode="F").save(tmp_path / "f.tif")
    img = load_image(tmp_path / "f.tif")
    _check_float_image(img, 2, 2)
    np.testing.assert_allclose(img.rgb[..., 1], v)


def test_palette_with_and_without_transparency(tmp_path):
    with Image.open(ASTRONAUT) as im:
        pal = im.convert("RGB").resize((64, 64)).quantize(16)
    pal.save(tmp_path / "p.png")
    img = load_image(tmp_path / "p.png")
    _check_float_image(img, 64, 64)
    assert img.alpha is None
    np.testing.assert_array_equal(np.round(img.rgb * 255), np.asarray(pal.convert("RGB")))

    index = int(np.asarray(pal)[0, 0])
    pal.save(tmp_path / "pt.png", transparency=index)
    img = load_image(tmp_path / "pt.png")
    _check_float_image(img, 64, 64)
    transparent = np.asarray(pal) == index
    assert img.alpha is not None
    assert (img.alpha[transparent] == 0).all() and (img.alpha[~transparent] == 1).all()


def test_la_and_l(tmp_path):
    g = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    a = np.full_like(g, 128)
    Image.fromarray(np.stack([g, a], -1), "LA").save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    _check_float_image(img, 4, 16)
    for c in range(3):
        np.testing.assert_allclose(img.rgb[..., c], g / 255.0, atol=1e-6)
    np.testing.assert_allclose(img.alpha, 128 / 255.0, atol=1e-6)

    Image.fromarray(g, "L").save(tmp_path / "l.jpg", quality=100)
    img = load_image(tmp_path / "l.jpg")
    _check_float_image(img, 4, 16)
    assert img.alpha is None and img.format == "JPEG"
    np.testing.assert_allclose(img.rgb[..., 0], img.rgb[..., 2])


def test_cmyk_converts_to_rgb(tmp_path):
    cmyk = np.zeros((4, 6, 4), np.uint8)
    cmyk[:, :3] = (0, 255, 255, 0)  # red
    cmyk[:, 3:] = (0, 0, 0, 255)  # black
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    img = load_image(tmp_path / "c.tif")
    _check_float_image(img, 4, 6)
    np.testing.assert_allclose(img.rgb[0, 0], (1, 0, 0), atol=0.02)
    np.testing.assert_allclose(img.rgb[0, 5], (0, 0, 0), atol=0.02)


def test_load_from_bytes_stdin():
    data = ASTRONAUT.read_bytes()
    img = load_image("-", data=data)
    assert img.source == "-" and img.format == "PNG"
    _check_float_image(img, 512, 512)


def _png_bytes(h=64, w=64) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_text("hello, I am a text file\n"), "not an image"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(_png_bytes()[:2000]), "image is truncated or corrupt"),
        (lambda p: p.write_bytes(_png_bytes()[:30]), "image is truncated or corrupt"),
    ],
    ids=["missing", "empty", "text", "directory", "truncated", "header-only"],
)
def test_load_bad_inputs(tmp_path, make, expected):
    p = tmp_path / "photo.png"
    make(p)
    with pytest.raises(InputError) as ei:
        load_image(p)
    _one_line_naming(ei.value, p)
    assert expected in str(ei.value)


@pytest.mark.parametrize("size", [(20, 20), (11, 10)])  # 4x and 1.1x the limit
def test_decompression_bomb_limit(tmp_path, monkeypatch, size):
    monkeypatch.setattr(codec, "MAX_PIXELS", 100)
    before = Image.MAX_IMAGE_PIXELS
    p = tmp_path / "big.png"
    Image.new("RGB", size).save(p)
    with pytest.raises(InputError) as ei:
        load_image(p)
    _one_line_naming(ei.value, p)
    n = size[0] * size[1]
    assert f"image is too large ({n} pixels, limit 100)" in str(ei.value)
    assert before == Image.MAX_IMAGE_PIXELS  # Pillow's global is restored
    Image.new("RGB", (10, 10)).save(tmp_path / "ok.png")
    assert load_image(tmp_path / "ok.png").rgb.shape == (10, 10, 3)


# --------------------------------------------------------------------------
# Encoding and saving
# --------------------------------------------------------------------------


def test_icc_survives_png_and_jpeg_round_trip(tmp_path):
    img = load_image(ASTRONAUT)
    for name in ("out.png", "out.jpg", "out.webp"):
        save_image(tmp_path / name, img.rgb, img.alpha, icc_profile=img.icc_profile, exif=img.exif)
        back = load_image(tmp_path / name)
        assert back.icc_profile == img.icc_profile, name
        assert back.format == {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[name[4:]]
        err = np.abs(back.rgb - img.rgb).mean()
        assert err < (1e-6 if name.endswith("png") else 0.03), name


def test_exif_kept_in_png_jpeg_webp():
    exif = _exif(1).tobytes()
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    for fmt in ("png", "jpeg", "WEBP"):
        data = encode_image(rgb, None, fmt, exif=exif)
        with Image.open(io.BytesIO(data)) as im:
            ex = im.getexif()
            assert ex[0x010F] == "TestMaker", fmt
            assert ex.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09", fmt


def test_alpha_round_trips_png_and_webp(tmp_path):
    h, w = 32, 48
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[..., 0] = np.linspace(0, 1, w)[None, :]
    alpha = np.tile(np.linspace(0, 1, h, dtype=np.float32)[:, None], (1, w))
    alpha = np.round(alpha * 255) / 255
    save_image(tmp_path / "a.png", rgb, alpha)
    back = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(back.alpha, alpha, atol=1e-6)
    np.testing.assert_allclose(back.rgb, np.round(rgb * 255) / 255, atol=1e-6)

    save_image(tmp_path / "a.webp", rgb, alpha, quality=90)
    back = load_image(tmp_path / "a.webp")
    assert back.format == "WEBP"
    np.testing.assert_allclose(back.alpha, alpha, atol=1.5 / 255)  # alpha plane is lossless
    opaque = alpha > 0.5
    assert np.abs(back.rgb[opaque] - rgb[opaque]).mean() < 0.03


def test_jpeg_flattens_alpha_over_white():
    rgb = np.zeros((16, 16, 3), np.float32)
    alpha = np.ones((16, 16), np.float32)
    alpha[:, :8] = 0.0
    data = encode_image(rgb, alpha, "jpg")
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        px = np.asarray(im).astype(int)
    assert px[8, 2].min() > 245  # transparent -> white
    assert px[8, 13].max() < 10  # opaque black stays black


def test_png16_output_round_trip_with_icc(tmp_path):
    icc = load_image(ASTRONAUT).icc_profile
    rng = np.random.default_rng(3)
    u16 = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    rgb = u16.astype(np.float32) / 65535
    save_image(tmp_path / "o16.png", rgb, bit_depth=16, icc_profile=icc, exif=_exif(1).tobytes())
    back = load_image(tmp_path / "o16.png")
    assert back.bit_depth == 16 and back.icc_profile == icc
    assert back.exif is not None
    np.testing.assert_array_equal(np.round(back.rgb.astype(np.float64) * 65535).astype(np.uint16), u16)

    alpha = u16[..., 0].astype(np.float32) / 65535
    save_image(tmp_path / "o16a.png", rgb, alpha, bit_depth=16)
    back = load_image(tmp_path / "o16a.png")
    assert back.bit_depth == 16
    np.testing.assert_allclose(back.alpha, alpha, atol=0.5 / 65535)
    np.testing.assert_allclose(back.rgb, rgb, atol=0.5 / 65535)


def test_tiff_8_and_16_bit(tmp_path):
    rgb = np.random.default_rng(4).random((6, 4, 3)).astype(np.float32)
    save_image(tmp_path / "o.tif", rgb)
    back = load_image(tmp_path / "o.tif")
    assert back.format == "TIFF" and back.bit_depth == 8
    np.testing.assert_allclose(back.rgb, rgb, atol=0.5 / 255 + 1e-6)
    save_image(tmp_path / "o16.tiff", rgb, bit_depth=16)
    back = load_image(tmp_path / "o16.tiff")
    assert back.bit_depth == 16
    np.testing.assert_allclose(back.rgb, rgb, atol=0.5 / 65535 + 1e-6)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(fmt="bmp"), UsageError),
        (dict(fmt="png", quality=0), UsageError),
        (dict(fmt="jpeg", quality=101), UsageError),
        (dict(fmt="png", bit_depth=12), UsageError),
    ],
)
def test_encode_rejects_bad_options(kwargs, exc):
    rgb = np.zeros((2, 2, 3), np.float32)
    fmt = kwargs.pop("fmt")
    with pytest.raises(exc):
        encode_image(rgb, None, fmt, **kwargs)


def test_encode_rejects_bad_shapes():
    with pytest.raises(ValueError):
        encode_image(np.zeros((2, 2, 2), np.float32), None, "png")
    with pytest.raises(ValueError):
        encode_image(np.zeros((2, 2), np.float32), np.ones((2, 2)), "png")  # gray has no alpha
    with pytest.raises(ValueError):
        encode_image(np.zeros((2, 2, 3), np.float32), np.zeros((3, 2)), "png")


def _rgb():
    return np.full((8, 8, 3), 0.25, np.float32)


@pytest.mark.parametrize("fmt, bits", [("png", 8), ("png", 16), ("jpeg", 8), ("tiff", 16)])
def test_grayscale_is_written_as_one_channel(fmt, bits):
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (8, 1))
    data = encode_image(ramp, None, fmt, bit_depth=bits, quality=100, icc_profile=b"not for gray")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode in ("L", "I;16", "I;16B", "I")
        assert "icc_profile" not in im.info
        back = np.asarray(im, dtype=np.float64) / (255.0 if im.mode == "L" else 65535.0)
    assert np.abs(back - ramp).max() <= (
        1.5 / 255 if fmt == "jpeg" else 0.5 / (255 if bits == 8 or fmt == "jpeg" else 65535)
    )


def test_save_refuses_existing_without_overwrite(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(b"precious")
    with pytest.raises(OutputError) as ei:
        save_image(p, _rgb())
    _one_line_naming(ei.value, p)
    assert "already exists" in str(ei.value)
    assert p.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    save_image(p, _rgb(), overwrite=True)
    assert load_image(p).rgb.shape == (8, 8, 3)


def test_save_refuses_input_even_with_overwrite(tmp_path):
    src = tmp_path / "in.png"
    save_image(src, _rgb())
    before = src.read_bytes()
    for spelling in (src, tmp_path / "sub" / ".." / "in.png", str(src)):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError) as ei:
            save_image(spelling, np.zeros((8, 8, 3)), overwrite=True, protected=[str(src)])
        assert "input" in str(ei.value)
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(OutputError):
        save_image(link, np.zeros((8, 8, 3)), overwrite=True, protected=[src])
    assert src.read_bytes() == before


def test_save_leaves_no_temp_files_on_success_and_sets_mode(tmp_path):
    p = tmp_path / "deep" / "er" / "out.jpg"  # missing parents are created
    save_image(p, _rgb())
    assert os.listdir(p.parent) == ["out.jpg"]
    with Image.open(p) as im:
        assert im.format == "JPEG"  # from the suffix
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_save_cleans_up_when_writing_fails(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    p = tmp_path / "out.png"
    with pytest.raises(OutputError) as ei:
        save_image(p, _rgb())
    _one_line_naming(ei.value, p)
    assert "No space left" in str(ei.value)
    assert os.listdir(tmp_path) == []


def test_save_cleans_up_when_encoding_fails(tmp_path, monkeypatch):
    p = tmp_path / "out.png"
    p.write_bytes(b"old")

    def broken(*a, **k):
        raise OutputError("cannot encode as PNG (boom)")

    monkeypatch.setattr(codec, "encode_image", broken)
    with pytest.raises(OutputError) as ei:
        save_image(p, _rgb(), overwrite=True)
    assert str(ei.value) == f"{p}: cannot encode as PNG (boom)"
    assert os.listdir(tmp_path) == ["out.png"] and p.read_bytes() == b"old"


def test_save_explicit_format_and_unknown_suffix(tmp_path):
    save_image(tmp_path / "noext", _rgb(), fmt="webp")
    with Image.open(tmp_path / "noext") as im:
        assert im.format == "WEBP"
    with pytest.raises(OutputError) as ei:
        save_image(tmp_path / "out.xyz", _rgb())
    assert "suffix" in str(ei.value)
    assert not (tmp_path / "out.xyz").exists()


def test_save_to_stdout(capsysbinary):
    save_image("-", _rgb(), fmt="png")
    out = capsysbinary.readouterr().out
    assert out.startswith(b"\x89PNG")
    img = load_image("-", data=out)
    np.testing.assert_allclose(img.rgb, np.round(0.25 * 255) / 255, atol=1e-6)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 7, 3), (9, 1, 4), (33, 17, 2), (40, 30, 1), (300, 451, 3), (1500, 1200, 3), (2000, 1, 1)]
)
def test_fast_png_holds_exactly_the_pixels(shape):
    """The fast PNG writer (Sub filter, ISA-L deflate in pieces on the pool) gives a plain PNG
    that decodes to the same pixels, every chunk's CRC and the zlib stream's Adler-32 right."""
    import struct
    import zlib

    from depthblur_cli.imaging.png import encode_png8

    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] //= 16  # half of it compressible
    data = encode_png8(pixels)
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        decoded = np.asarray(im)
    assert np.array_equal(decoded, pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
    at, idat = 8, b""
    while at < len(data):  # every chunk: length, type, data, CRC of type and data
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + body)
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    channels = 1 if pixels.ndim == 2 else shape[2]
    assert len(zlib.decompress(idat)) == shape[0] * (shape[1] * channels + 1)  # zlib checks the Adler-32
    with pytest.raises(ValueError, match="uint8"):
        encode_png8(pixels.astype(np.uint16))


def test_fast_png_keeps_the_icc_profile_and_exif_and_compresses():
    from helpers import ROOT

    with Image.open(ROOT / "examples" / "astronaut.png") as src:
        photo, icc = np.asarray(src.convert("RGB")), src.info["icc_profile"]
    exif = Image.Exif()
    exif[0x010F] = "depthblur test"  # Make
    data = codec.encode_image(photo, None, "PNG", icc_profile=icc, exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "depthblur test"
        assert np.array_equal(np.asarray(im), photo)
    assert len(data) < 0.8 * photo.nbytes
    small = codec.encode_image(photo, None, "PNG", png_compression="small")
    assert len(small) < len(data)  # zlib 9 is still the smallest


def test_8_bit_photos_stay_8_bit_until_floats_are_asked_for(tmp_path):
    """``pixels`` is the decoded uint8 (a quarter of the floats' memory); ``rgb`` converts once, exactly."""
    photo = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    Image.fromarray(photo).save(tmp_path / "p.jpg", quality=95)
    cv2.imwrite(str(tmp_path / "p16.png"), (photo.astype(np.uint16) * 257)[..., ::-1])
    img = load_image(tmp_path / "p.png")
    assert img.pixels.dtype == np.uint8 and np.array_equal(img.pixels, photo) and img.size == (40, 30)
    assert load_image(tmp_path / "p.jpg").pixels.dtype == np.uint8
    rgb = img.rgb
    assert rgb.dtype == np.float32 and img.pixels is rgb  # converted once, kept in place of the uint8
    assert np.array_equal(rgb, photo.astype(np.float32) * np.float32(1 / 255))
    deep = load_image(tmp_path / "p16.png")
    assert deep.pixels.dtype == np.float32 and deep.bit_depth == 16


def test_adler32_of_pieces_combines_to_the_whole():
    import zlib

    from depthblur_cli.imaging.png import adler32_combine

    rng = np.random.default_rng(4)
    for size_a, size_b in ((0, 0), (0, 5), (7, 0), (1, 1), (5552, 70000), (65521, 65522), (300000, 1)):
        a, b = (
            rng.integers(0, 256, size_a, dtype=np.uint8).tobytes(),
            rng.integers(0, 256, size_b, dtype=np.uint8).tobytes(),
        )
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)
