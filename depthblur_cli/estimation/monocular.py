"""Monocular relative disparity from an ONNX depth network (Depth Anything, MiDaS, user models).

The photo is fed as the network's own preprocessing does (size, multiple,
normalisation from the model's catalog entry); the output is taken as
relative disparity and upsampled to the photo by
:func:`~depthblur_cli.estimation.upsample.upsample_disparity`.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from depthblur_cli.errors import ModelError
from depthblur_cli.estimation.disparity import fill_holes
from depthblur_cli.estimation.upsample import upsample_disparity
from depthblur_cli.imaging.arrays import rgb_shape
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.models.adapter import run_image_model

#: Longest model input side, in multiples of ``spec.input_size`` (panoramas).
MODEL_MAX_ASPECT = 3.0


def _round_multiple(x: float, multiple: int, at_least: int | None = None) -> int:
    """Nearest multiple of ``multiple`` (ties to even, as Python's ``round``),
    rounded up instead if that falls below ``at_least``; never below
    ``multiple``. Depth Anything's ``constrain_to_multiple_of`` with
    ``lower_bound`` resizing (github.com/DepthAnything/Depth-Anything-V2,
    ``depth_anything_v2/util/transform.py``)."""
    m = max(1, int(multiple))
    y = int(round(x / m)) * m
    if at_least is not None and y < at_least:
        y = int(np.ceil(x / m)) * m
    return max(m, y)


def _model_input_size(shape: Any, image_hw: tuple[int, int], spec: Any) -> tuple[int, int]:
    """(h, w) the model must be fed: a static input wins, else ``spec.resize``."""
    dims = list(shape) if shape is not None else []
    static_h = static_w = None
    if len(dims) == 4:
        static_h = dims[2] if isinstance(dims[2], int) and dims[2] > 0 else None
        static_w = dims[3] if isinstance(dims[3], int) and dims[3] > 0 else None
    if static_h is not None and static_w is not None:
        return static_h, static_w
    height, width = image_hw
    size = int(spec.input_size)
    multiple = int(getattr(spec, "multiple", 1) or 1)
    mode = getattr(spec, "resize", "auto")
    if mode == "square":
        h = w = _round_multiple(size, multiple)
    elif mode in ("shorter_side", "auto"):
        # Shorter side -> input_size, both sides at least input_size after
        # rounding (Depth Anything's "lower_bound"); the longer side is capped
        # at MODEL_MAX_ASPECT * input_size so a panorama cannot blow up memory.
        short = size / float(min(height, width))
        s = min(short, MODEL_MAX_ASPECT * size / float(max(height, width)))
        floor = size if s == short else None
        h, w = _round_multiple(height * s, multiple, floor), _round_multiple(width * s, multiple, floor)
    else:
        raise ModelError(f"unknown resize mode {mode!r} in the depth model spec")
    # A partly static input (one fixed side) keeps its fixed side.
    return (static_h or h), (static_w or w)


def disparity_from_model(rgb: np.ndarray, session: Any, spec: Any) -> np.ndarray:
    """Monocular relative disparity from an ONNX model, at the photo's size.

    The input name and shape are read from ``session.get_inputs()[0]``. A
    static [1, 3, h, w] input is fed h x w; a dynamic one follows
    ``spec.resize``: "shorter_side" (and "auto") scales the shorter side to
    ``spec.input_size`` keeping the aspect, both sides rounded to multiples
    of ``spec.multiple`` (Depth Anything: 518, 14), the longer side capped
    at ``MODEL_MAX_ASPECT * input_size`` for panoramas; "square" feeds
    ``input_size`` x ``input_size`` (MiDaS-style). The photo is first reduced
    with ``cv2.INTER_AREA`` to at most twice the model size, then resized with
    ``spec.interpolation``, so a 24 MP photo never reaches the model and
    memory stays bounded. The image is normalised ``(x - mean) / std`` and
    fed NCHW float32; output 0 squeezed to (h, w) is taken as relative
    disparity (larger = nearer), or, for a model whose ``spec.output`` is
    "depth" (metric depth, larger = farther: FastDepth), inverted to
    ``1 / depth``; then upsampled with :func:`upsample_disparity`.

    Args:
        rgb: (H, W, 3) float32 sRGB 0..1, or uint8 0..255 (read as value /
            255; no full-size float copy outlives its reduction).
        session: an ``onnxruntime.InferenceSession`` (or any object with
            ``get_inputs()`` and ``run(None, feeds)``).
        spec: object with ``input_size`` (int), ``resize`` ("square" |
            "shorter_side" | "auto"), ``multiple`` (int), ``mean`` and ``std``
            (3 floats each, for 0..1 input), ``interpolation`` ("bilinear" |
            "bicubic"), optionally ``output`` ("disparity", the default, or
            "depth").

    Returns:
        (H, W) float32 relative disparity in the model's own units, finite.

    Raises:
        ValueError: if ``rgb`` is not (H, W, 3).
        ModelError: if the model fails, its output is not a single (h, w)
            map, or it has no finite value.
    """
    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        img = img.astype(np.float32, copy=False)
    rgb_shape(img, "image")
    height, width = img.shape[:2]
    inp = session.get_inputs()[0]
    in_h, in_w = _model_input_size(getattr(inp, "shape", None), (height, width), spec)

    small: np.ndarray = to_float(img)  # (an 8-bit photo's float copy lives only while it is reduced)
    if height > 2 * in_h or width > 2 * in_w:
        f = min(1.0, max(2.0 * in_h / height, 2.0 * in_w / width))
        sh, sw = max(in_h, int(round(height * f))), max(in_w, int(round(width * f)))
        small = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA)
    interp = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}.get(
        getattr(spec, "interpolation", "bilinear"), cv2.INTER_LINEAR
    )
    x = cv2.resize(small, (in_w, in_h), interpolation=interp)
    out = run_image_model(np.clip(x, 0.0, 1.0), session, spec, "depth")
    if not np.isfinite(out).any():
        raise ModelError("depth model output has no finite value")
    out = fill_holes(out)
    if getattr(spec, "output", "disparity") == "depth":  # metric depth (FastDepth): disparity is its inverse
        out = (1.0 / np.maximum(out, np.float32(1e-3))).astype(np.float32)
    return upsample_disparity(out, img)
