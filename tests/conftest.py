"""Shared test fixtures: the real example photos shipped in examples/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import WIN, copy_example, gradient_map, luminance, read_rgb
from PIL import Image
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def load_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32 sRGB 0..1 of an image file (test helper)."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The folder of real example photos (see examples/README.md)."""
    return EXAMPLES


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return EXAMPLES / "astronaut.png"


@pytest.fixture(scope="session")
def astronaut_rgb(astronaut_path) -> np.ndarray:
    return load_rgb(astronaut_path)


@pytest.fixture(scope="module", autouse=True)
def depthblur_home(tmp_path_factory):
    """An empty model cache for every test module: no user cache is read, nothing is downloaded."""
    home = tmp_path_factory.mktemp("depthblur_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPTHBLUR_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """The motorcycle pair, its ground-truth disparity, and a near and a far
    textured point chosen from the ground truth."""
    d = tmp_path_factory.mktemp("moto")
    left = copy_example("motorcycle_left.png", d)
    right = copy_example("motorcycle_right.png", d)
    disp_file = copy_example("motorcycle_disp.npz", d)
    disp = np.load(disp_file)["arr_0"].astype(np.float64)
    finite = np.isfinite(disp)
    k = 2 * WIN + 1
    frac = ndi.uniform_filter(finite.astype(float), k)
    mean = ndi.uniform_filter(np.where(finite, disp, 0), k) / np.maximum(frac, 1e-9)
    sq = ndi.uniform_filter(np.where(finite, disp, 0) ** 2, k) / np.maximum(frac, 1e-9)
    sd = np.sqrt(np.maximum(sq - mean**2, 0))
    inp = luminance(read_rgb(left))
    texture = ndi.uniform_filter(gradient_map(inp), k)
    ok = (frac > 0.98) & (sd < 2.0) & (texture > np.percentile(texture, 60))
    ok[:k], ok[-k:], ok[:, :k], ok[:, -k:] = False, False, False, False
    near = np.unravel_index(np.argmax(np.where(ok, mean, -np.inf)), disp.shape)
    far = np.unravel_index(np.argmin(np.where(ok, mean, np.inf)), disp.shape)
    h, w = disp.shape
    # The two points are far apart in depth (ground truth: ~58 vs ~11 px).
    assert mean[near] - mean[far] > 30
    return {
        "dir": d,
        "left": left,
        "right": right,
        "disp_file": disp_file,
        "disp": disp,
        "lum": inp,
        "near": near,
        "far": far,
        "near_disp": float(mean[near]),
        "point": lambda p: f"{p[1] / (w - 1):.5f},{p[0] / (h - 1):.5f}",
    }
