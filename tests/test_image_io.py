"""Tests for depthblur_cli.image_io: decoding, encoding, atomic saving, depth maps."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from depthblur_cli import image_io
from depthblur_cli.errors import InputError, OutputError, UsageError
from depthblur_cli.image_io import (
    read_depth_file,
    save_depth_png16,
    save_depth_preview,
)

DATA = Path(__file__).parent / "data"
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
