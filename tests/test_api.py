"""The one-call library API: the command's image for the command's defaults, any kind of photo in and out."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import depthblur_cli
from depthblur_cli.cli import app
from depthblur_cli.errors import UsageError
from depthblur_cli.pipeline.compose import blur_background

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def command_output(tmp_path, *args) -> np.ndarray:
    out = tmp_path / "out.png"
    result = CliRunner().invoke(app, [*map(str, args), "-o", str(out), "--offline", "-q"])
    assert result.exit_code == 0, result.stderr
    return np.asarray(Image.open(out))


@pytest.mark.parametrize(
    "call, command",
    [
        (lambda a: depthblur_cli.bokeh(a, offline=True), ["bokeh"]),
        (lambda a: depthblur_cli.gaussian(a, offline=True), ["gaussian"]),
        (lambda a: depthblur_cli.rembg_blur(a, offline=True), ["rembg-blur"]),
        (
            lambda a: depthblur_cli.bokeh(a, radius=0.03, blades=6, offline=True),
            ["bokeh", "--radius", "0.03", "--blades", "6"],
        ),
        (lambda a: depthblur_cli.depth_blur(a, offline=True), ["depth"]),
    ],
    ids=["bokeh", "gaussian", "rembg-blur", "bokeh-hexagon", "depth"],
)
def test_uint8_array_gives_exactly_the_commands_image(tmp_path, call, command):
    photo = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB"))
    got = call(photo)
    assert got.dtype == np.uint8 and got.shape == photo.shape
    np.testing.assert_array_equal(got, command_output(tmp_path, *command, EXAMPLES / "astronaut.png"))
    assert np.abs(got.astype(int) - photo).mean() > 1.0  # it did blur


def test_depth_blur_with_a_depth_map_equals_the_command(tmp_path):
    left, disp = EXAMPLES / "motorcycle_left.png", EXAMPLES / "motorcycle_disp.npz"
    got = depthblur_cli.depth_blur(left, disp, focal_selector=(0.5, 0.55), blur_strength=80)
    assert isinstance(got, Image.Image) and got.mode == "RGB"
    expected = command_output(
        tmp_path, "depth", left, "--depth-map", disp, "--focal-point", "0.5,0.55", "--blur-strength", "80"
    )
    np.testing.assert_array_equal(np.asarray(got), expected)
    # The same depth given as an array.
    values = np.load(disp)["arr_0"] if "arr_0" in np.load(disp).files else np.load(disp)[np.load(disp).files[0]]
    same = depthblur_cli.depth_blur(np.asarray(Image.open(left)), values, focal_selector=(0.5, 0.55), blur_strength=80)
    np.testing.assert_array_equal(same, expected)


def test_pil_in_pil_out_keeps_mode_and_alpha():
    rgb = Image.open(EXAMPLES / "chelsea.png").convert("RGB")
    out = depthblur_cli.gaussian(rgb, offline=True)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == rgb.size
    rgba = rgb.convert("RGBA")
    alpha = np.full(rgb.size[::-1], 200, np.uint8)
    rgba.putalpha(Image.fromarray(alpha))
    out = depthblur_cli.gaussian(rgba, offline=True)
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], alpha)  # alpha is the input's
    gray = depthblur_cli.gaussian(rgb.convert("L"), offline=True)
    assert gray.mode == "L"


def test_float_and_uint16_arrays_come_back_as_given():
    photo = np.asarray(Image.open(EXAMPLES / "chelsea.png").convert("RGB"))
    as_float = depthblur_cli.gaussian(photo / 255.0, offline=True)
    assert as_float.dtype == np.float32 and as_float.min() >= 0 and as_float.max() <= 1
    as_u8 = depthblur_cli.gaussian(photo, offline=True)
    # The same image, not rounded: within a level and a half (an 8-bit photo is reduced for the
    # matte in 8 bits, a float one in floats, so the mattes differ in their last digits).
    diff = np.abs(as_float * 255 - as_u8)
    # (the 8-bit result's own rounding is 0.25 on average; the int8 matte, the default on a CPU with fast
    # int8 instructions, turns those last digits into a step of its 8-bit activations at a few pixels
    # of the matte's edge: measured 3.2 levels at most, on 0.03 % of the pixels; float32 u2netp 1.24)
    assert np.mean(diff > 1.5) < 1e-3 and diff.max() <= 6 and diff.mean() < 0.3
    fp32 = [depthblur_cli.gaussian(a, offline=True, model="u2netp") for a in (photo / 255.0, photo)]
    assert np.abs(fp32[0] * 255 - fp32[1]).max() <= 1.5
    assert not np.array_equal(as_float * 255, np.rint(as_float * 255))
    as_u16 = depthblur_cli.gaussian(photo.astype(np.uint16) * 257, offline=True)
    assert as_u16.dtype == np.uint16
    u16_diff = np.abs(as_u16 / 257.0 - as_u8)
    assert np.mean(u16_diff > 1.5) < 1e-3 and u16_diff.max() <= 6  # as the float image (above)


def test_matte_and_cutout_and_estimate_depth_shapes():
    photo = np.asarray(Image.open(EXAMPLES / "astronaut.png").convert("RGB"))
    alpha = depthblur_cli.matte(photo, offline=True)
    assert alpha.shape == photo.shape[:2] and alpha.dtype == np.uint8
    assert alpha[100:141, 205:246].min() > 240 and alpha[:24, :24].max() < 15  # face / backdrop
    cut = depthblur_cli.rembg_blur(photo, result="cutout", offline=True)
    assert cut.shape == photo.shape[:2] + (4,)
    np.testing.assert_array_equal(cut[..., :3], photo)
    disparity = depthblur_cli.estimate_depth(photo, offline=True)  # offline: FastDepth with the subject in front
    assert disparity.shape == photo.shape[:2] and disparity.dtype == np.float32
    assert disparity[100:141, 205:246].mean() > disparity[:24, :24].mean() + 0.2  # the subject is nearer


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: depthblur_cli.bokeh(np.zeros((8, 8, 3), np.uint8), radius=0.2), "radius"),
        (lambda: depthblur_cli.bokeh(np.zeros((8, 8, 3), np.uint8), radius_px=float("nan")), "radius_px"),
        (lambda: depthblur_cli.bokeh(np.zeros((8, 8, 3), np.uint8), blade_rotation=float("nan")), "rotation"),
        (lambda: depthblur_cli.rembg_blur(np.zeros((8, 8, 3), np.uint8), radius=51), "radius"),
        (lambda: depthblur_cli.depth_blur(np.zeros((8, 8, 3), np.uint8), haze=101), "haze"),
        (lambda: depthblur_cli.depth_blur(np.zeros((8, 8, 3), np.uint8), focal_selector=(2, 0)), "focal_selector"),
        (lambda: depthblur_cli.gaussian(np.zeros((8, 8, 3), np.float64) + 3.0), "0..1"),
        (lambda: depthblur_cli.gaussian(np.zeros((8, 8, 2), np.uint8)), "shape"),
    ],
)
def test_bad_values_raise_value_errors_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_usage_error_is_a_value_error():
    assert issubclass(UsageError, ValueError)


def test_lower_level_takes_8_bits_as_8_bits_and_refuses_other_integers_with_a_clear_error():
    photo = np.asarray(Image.open(EXAMPLES / "chelsea.png").convert("RGB"))
    matte = np.zeros(photo.shape[:2], np.float32)
    as_u8 = blur_background(photo, matte, 10.0, mode="gaussian")
    as_float = blur_background(photo / 255.0, matte, 10.0, mode="gaussian")
    # rounded (the background in 8 bits before the composite, then the result): within 1.5 levels
    assert as_u8.dtype == np.uint8 and np.abs(as_float * 255 - as_u8).max() <= 1.5
    with pytest.raises(ValueError, match="uint16"):
        blur_background(photo.astype(np.uint16), matte, 10.0)
    with pytest.raises(ValueError, match="matte"):
        blur_background(photo / 255.0, matte * 255 + 2, 10.0)


def test_importing_the_package_or_the_batch_loop_loads_no_heavy_library():
    code = (
        "import sys, depthblur_cli, depthblur_cli.batch.run, depthblur_cli.pipeline.outputs\n"
        "import depthblur_cli.pipeline.records\n"
        "print(sorted(m for m in ('numpy', 'cv2', 'onnxruntime', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bytes_and_binary_files_come_back_as_image_bytes_of_their_format():
    """As rembg's remove(): bytes in, bytes out (JPEG stays JPEG; a cutout needs PNG for its alpha)."""
    import io

    data = (EXAMPLES / "chelsea.png").read_bytes()
    out = depthblur_cli.gaussian(data, offline=True)
    assert isinstance(out, bytes)
    same = depthblur_cli.gaussian(EXAMPLES / "chelsea.png", offline=True)
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), np.asarray(same))  # the same image as from the path
    jpeg = io.BytesIO()
    Image.open(EXAMPLES / "chelsea.png").convert("RGB").save(jpeg, "JPEG")
    jpeg.seek(0)
    with Image.open(io.BytesIO(depthblur_cli.bokeh(jpeg, offline=True))) as im:
        assert im.format == "JPEG"
    jpeg.seek(0)
    with Image.open(io.BytesIO(depthblur_cli.rembg_blur(jpeg, result="cutout", offline=True))) as im:
        assert im.format == "PNG" and im.mode == "RGBA"
    # A matte from bytes is the bytes of a one-channel image file too (it was a PIL image).
    with Image.open(io.BytesIO(depthblur_cli.matte(data, offline=True))) as im:
        assert im.format == "PNG" and im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), np.asarray(depthblur_cli.matte(EXAMPLES / "chelsea.png")))
    with pytest.raises(TypeError, match="binary mode"):
        depthblur_cli.gaussian(io.StringIO("not bytes"), offline=True)


def test_the_commands_warnings_reach_a_library_caller_as_depthblur_warnings():
    photo = np.asarray(Image.open(EXAMPLES / "chelsea.png").convert("RGB"))
    small = np.tile(np.linspace(0.0, 1.0, 40, dtype=np.float32), (30, 1))  # a 40x30 map for a 451x300 photo
    with pytest.warns(depthblur_cli.DepthblurWarning, match=r"depth map is 40x30, image is 451x300: resized") as got:
        out = depthblur_cli.depth_blur(photo, small, offline=True)
    assert out.shape == photo.shape
    assert all(w.filename == __file__ for w in got)  # attributed to the caller's line, not the library's
    with warnings.catch_warnings():
        warnings.simplefilter("error", depthblur_cli.DepthblurWarning)  # a warning can be made an error
        with pytest.raises(depthblur_cli.DepthblurWarning):
            depthblur_cli.depth_blur(photo, small, offline=True)


def test_a_session_keeps_its_models_for_many_calls_and_gives_the_same_images(tmp_path):
    photo = np.asarray(Image.open(EXAMPLES / "chelsea.png").convert("RGB"))
    session = depthblur_cli.new_session(offline=True)
    loaded = session.models.matte_session()
    first = depthblur_cli.bokeh(photo, session=session)
    np.testing.assert_array_equal(first, depthblur_cli.bokeh(photo, offline=True))  # the same job, bit for bit
    np.testing.assert_array_equal(depthblur_cli.matte(photo, session=session), depthblur_cli.matte(photo, offline=True))
    assert session.models.matte_session() is loaded  # loaded once, when the session was made
    with pytest.raises(depthblur_cli.ModelError, match="no-such-model"):  # a bad model is said at once
        depthblur_cli.new_session("no-such-model", offline=True)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(depthblur_cli.ModelError, match="not a valid ONNX model"):
        depthblur_cli.new_session(str(bad))
