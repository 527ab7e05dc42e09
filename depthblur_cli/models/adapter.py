"""One way into every catalog model: an image at the model's size normalised, in NCHW, run, one map out.

Both kinds of model the catalog holds (matting, monocular depth) take one
NCHW float32 image normalised ``(x - mean) / std`` per the model's catalog
entry and give one (h, w) map as their first output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthblur_cli.errors import ModelError


def run_image_model(small: np.ndarray, session: Any, spec: Any, what: str) -> np.ndarray:
    """The model's first output, as one (h, w) float32 map, for an image already at its input size.

    Args:
        small: (h, w, 3) float32 RGB 0..1 (sRGB-encoded), at the model's input size.
        session: an onnxruntime session (``get_inputs()``, ``run(None, feeds)``).
        spec: the model's catalog entry: ``mean`` and ``std`` (3 each).
        what: the model's kind for messages (``"matting"``, ``"depth"``).

    Returns:
        (h', w') float32, the first output squeezed (not clipped, not resized).

    Raises:
        ModelError: the model fails to run, or its first output is not one (h, w) map.
    """
    mean = np.asarray(spec.mean, np.float32).reshape(1, 1, 3)
    std = np.asarray(spec.std, np.float32).reshape(1, 1, 3)
    x = np.ascontiguousarray(((small - mean) / std).transpose(2, 0, 1)[None], dtype=np.float32)
    try:
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception as exc:  # onnxruntime raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{what} model failed on a {small.shape[1]}x{small.shape[0]} input: {first}") from exc
    result = np.squeeze(np.asarray(out, dtype=np.float32))
    if result.ndim != 2 or min(result.shape) < 2:
        raise ModelError(f"{what} model output has shape {np.shape(out)}, expected one (h, w) map")
    return result
