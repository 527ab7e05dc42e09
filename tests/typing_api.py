"""Checked by mypy (``make test``), never run: the one-call API returns the kind of photo it is given.

Issue 25: "the library API typed (PEP 561 py.typed; overloads so a PIL image returns a PIL image, an
array an array)". ``assert_type`` fails mypy when the inferred type differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_type

import numpy as np
from PIL import Image

import depthblur_cli


def kinds(photo: np.ndarray, image: Image.Image, path: Path, data: bytes) -> None:
    assert_type(depthblur_cli.bokeh(photo, radius=0.02), np.ndarray)
    assert_type(depthblur_cli.gaussian(image), Image.Image)
    assert_type(depthblur_cli.rembg_blur(path, radius=20), Image.Image)
    assert_type(depthblur_cli.depth_blur("photo.jpg", focal_selector=(0.5, 0.5)), Image.Image)
    assert_type(depthblur_cli.matte(data), bytes)
    assert_type(depthblur_cli.estimate_depth(photo), np.ndarray)
    session = depthblur_cli.new_session(offline=True)
    assert_type(depthblur_cli.bokeh(data, session=session), bytes)
