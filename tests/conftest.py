"""Shared test fixtures: the real example photos shipped in examples/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
