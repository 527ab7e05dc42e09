"""Helpers of the command-line tests: run the command in-process, read and measure images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from typer.testing import CliRunner

from depthblur_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUNNER = CliRunner()

#: Face of the astronaut (rows, columns), well inside the subject.
FACE = (slice(100, 141), slice(205, 246))
#: Half-size of the 41x41 windows used on the motorcycle.
WIN = 20


def cli(*args, code: int = 0):
    """Run ``depthblur ARGS`` in-process and check its exit code."""
    result = RUNNER.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, (
        f"depthblur {' '.join(map(str, args))} exited {result.exit_code}, expected {code}\n"
        f"stderr:\n{result.stderr}\nstdout:\n{result.stdout[:2000]}"
    )
    return result


def read_rgb(path) -> np.ndarray:
    """(H, W, 3) float64 sRGB 0..1."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


def read_gray(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def gradient_map(lum: np.ndarray) -> np.ndarray:
    """Squared Sobel gradient magnitude per pixel."""
    return ndi.sobel(lum, axis=1) ** 2 + ndi.sobel(lum, axis=0) ** 2


def gradient_energy(lum: np.ndarray, region: np.ndarray) -> float:
    return float(gradient_map(lum)[region].mean())


def hf_energy(lum: np.ndarray, region: np.ndarray) -> float:
    """Mean square of the finest detail (luminance minus its sigma-1 blur)."""
    return float(((lum - ndi.gaussian_filter(lum, 1.0)) ** 2)[region].mean())


def window(center: tuple[int, int], half: int) -> tuple[slice, slice]:
    return slice(center[0] - half, center[0] + half + 1), slice(center[1] - half, center[1] + half + 1)


def energy_ratio(out_lum: np.ndarray, in_lum: np.ndarray, region) -> float:
    """Gradient energy of the output over that of the input in a region."""
    return float(gradient_map(out_lum)[region].mean() / gradient_map(in_lum)[region].mean())


def save_png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def copy_example(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(EXAMPLES / name, dest / name))


def small_copy(name: str, dest: Path, size: tuple[int, int], fmt: str = "PNG") -> Path:
    """A downscaled copy of an example photo (fast to process)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(EXAMPLES / name) as im:
        im.convert("RGB").resize(size, Image.LANCZOS).save(dest, fmt)
    return dest


def sharpness(moto, out) -> tuple[float, float]:
    res = luminance(read_rgb(out))
    return (
        energy_ratio(res, moto["lum"], window(moto["near"], WIN)),
        energy_ratio(res, moto["lum"], window(moto["far"], WIN)),
    )


#: Float32 steps (ULP) that two float results may differ by where the code does not fix the
#: order of operations: a thread count or strip height that cuts the image elsewhere, NumPy's
#: and OpenCV's SIMD bodies against their scalar tails (AVX2, AVX-512 or NEON, array length and
#: alignment), a table lookup against the formula it tabulates, or another library version.
#: Measured: one step (2.98e-8 at 0.25..0.5) on AVX-512 with NumPy 2.4 and OpenCV 4.13.
FLOAT_STEPS = 4


def assert_floats_close(actual, expected, *, steps: int = FLOAT_STEPS, scale: float = 1.0) -> None:
    """Float arrays equal within ``steps`` float32 steps of each value, and of ``scale`` near zero.

    For results the code computes in another order (threads, strips, SIMD width, a lookup
    table), which NumPy and OpenCV do not promise to round alike (see :data:`FLOAT_STEPS`).
    """
    step = float(np.finfo(np.float32).eps)
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=steps * step, atol=steps * step * scale)


def assert_8bit_close(actual, expected, *, share: float = 1e-3) -> None:
    """8-bit (or 16-bit) images from float results a few float32 steps apart: a value that lies on
    a rounding boundary may round either way, so at most one level apart, on at most ``share``
    of the values (none seen on the machines tried; the bound only keeps the test honest)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    assert diff.max(initial=0) <= 1, f"{int(diff.max())} levels apart"
    assert (diff > 0).mean() <= share, f"{(diff > 0).mean():.2%} of the values differ"
