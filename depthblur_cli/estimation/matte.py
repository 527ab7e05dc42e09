"""Subject matte: which pixels belong to the main subject, as alpha 0..1.

A salient-object segmentation / matting network (U²-Net family, ISNet; Qin
et al., "U²-Net: Going Deeper with Nested U-Structure for Salient Object
Detection", Pattern Recognition 2020, https://arxiv.org/abs/2005.09007)
predicts a low-resolution saliency map; it is upsampled and its edges are
refined with a guided filter driven by the photo (He et al., TPAMI 2013),
so fine structure such as hair follows the real image edges. The filter's
coefficients are found on a reduced copy (fast guided filter, He and Sun
2015) and applied to the full-resolution photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.errors import ModelError
from depthblur_cli.estimation.guided_filter import (
    ColourGuide,
    apply_coefficients,
    fast_guided_coefficients,
    reduced_colour_guide,
)
from depthblur_cli.imaging.arrays import rgb_pixels
from depthblur_cli.imaging.pixels import to_float
from depthblur_cli.models.adapter import run_image_model
from depthblur_cli.resample import enlarge_rows

#: The edge refinement finds its coefficients on a copy of the photo reduced
#: to this longer side, or by at most _MAX_SUBSAMPLE: 512 px keeps the matte
#: within 0.001 (mean) of the full-resolution filter on 0.5-1 MP product
#: photos at a third of its time. A cap of 8 (twice He and Sun's example
#: factor) mattes a synthetic subject with a known anti-aliased edge closer
#: to its truth than 4 does (mean error in the edge band 0.072 at 12 MP,
#: 0.081 at 24 MP) for 0.16 s at 24 MP (tests/estimation/test_matte_edges.py
#: keeps the bound).
_COEFFICIENT_SIDE = 512
_MAX_SUBSAMPLE = 8.0


def _model_input_hw(session, spec) -> tuple[int, int]:
    shape = session.get_inputs()[0].shape
    h, w = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    return int(spec.input_size), int(spec.input_size)


def predict_saliency(rgb: np.ndarray, session, spec) -> np.ndarray:
    """Run the matting model and return its map at the model's resolution.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8.
        session: an ``onnxruntime.InferenceSession`` of a U²-Net-style model
            (one NCHW float input; the first output is the fused map).
        spec: model facts with ``input_size``, ``mean``, ``std`` (applied to
            RGB 0..1 as ``(x - mean) / std``); a static input shape read from
            the session overrides ``input_size``.

    Returns:
        (h, w) float32 saliency 0..1 at the model's input size.

    Raises:
        ModelError: the model does not take one NCHW image with 3 channels,
            fails to run, or its first output is not one (h, w) map.
    """
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else None
    if len(inputs) != 1 or shape is None or len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        got = f"{len(inputs)} inputs" if len(inputs) != 1 else f"an input of shape {shape}"
        raise ModelError(f"not a matting model: expected one image input [N, 3, H, W], got {got}")
    h, w = _model_input_hw(session, spec)
    small = to_float(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_LINEAR))
    sal = run_image_model(small, session, spec, "matting")
    # U²-Net outputs are sigmoids already; clip, and do NOT min-max stretch
    # (that would turn an empty scene's noise into a fake subject).
    return np.clip(sal, 0.0, 1.0)


def _edge_filter_settings(shape: tuple[int, ...], radius: int | None) -> tuple[int, float]:
    """(window radius in pixels of the photo, subsample) of :func:`refine_matte` for a photo of ``shape``."""
    H, W = shape[:2]
    r = radius if radius is not None else max(2, round(max(H, W) / 100))
    return r, min(_MAX_SUBSAMPLE, max(1.0, max(H, W) / _COEFFICIENT_SIDE))


def edge_guide(rgb: np.ndarray, *, radius: int | None = None, eps: float = 1e-3) -> ColourGuide:
    """The photo's part of :func:`refine_matte`, computed before the matte is known.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8, the full-resolution photo.
        radius, eps: as :func:`refine_matte`'s.

    Returns:
        the :func:`~depthblur_cli.estimation.guided_filter.reduced_colour_guide`
        of the photo on the grid :func:`refine_matte` finds its coefficients on,
        for its ``guide``.
    """
    r, subsample = _edge_filter_settings(rgb.shape, radius)
    return reduced_colour_guide(rgb, r, eps, subsample=subsample)


def refine_matte(
    rgb: np.ndarray,
    coarse: np.ndarray,
    *,
    radius: int | None = None,
    eps: float = 1e-3,
    guide: ColourGuide | None = None,
) -> np.ndarray:
    """Upsample a coarse matte to the photo and snap its edges to the photo's.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8, the full-resolution photo.
        coarse: (h, w) float32 alpha 0..1 at any resolution.
        radius: guided-filter window radius in pixels of the photo
            (default: about 1/100 of its longer side, at least 2).
        eps: guided-filter regularisation (smaller keeps finer edges).
        guide: :func:`edge_guide` of ``rgb`` with the same ``radius`` and
            ``eps``, if already computed (the result is the same).

    Returns:
        (H, W) float32 alpha 0..1.

    The filter's coefficients are found on a copy of the photo reduced to
    :data:`_COEFFICIENT_SIDE` on the longer side (by at most
    :data:`_MAX_SUBSAMPLE`), with the coarse matte resized to that grid, and
    applied to the full-resolution photo strip by strip. Where the model was
    confident (its matte, enlarged bilinearly, is < 0.02 or > 0.98) and the
    filter moved alpha by more than 0.5, the model's value is kept.

    Source: guided filter, He et al., TPAMI 2013; fast guided filter, He and
    Sun, arXiv:1505.00996.
    """
    H, W = rgb.shape[:2]
    coarse = np.asarray(coarse, np.float32)
    r, subsample = _edge_filter_settings(rgb.shape, radius)
    # At subsample 1 the coarse matte is enlarged to the photo first (bilinear), as the coefficients' grid.
    src = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR) if subsample == 1 else coarse
    coefficients = fast_guided_coefficients(rgb, src, r, eps, subsample=subsample, colour_guide=guide)
    out = np.empty((H, W), np.float32)

    def work(y0: int, y1: int) -> None:
        refined = apply_coefficients(coefficients, rgb, y0, y1)
        alpha = enlarge_rows(coarse, (H, W), y0, y1)
        # Where the model is confident, keep its answer; refine the uncertain rim.
        keep = ((alpha < 0.02) | (alpha > 0.98)) & (np.abs(refined - alpha) > 0.5)
        np.copyto(refined, alpha, where=keep)
        np.clip(refined, 0.0, 1.0, out=out[y0:y1])

    threads.for_each_strip(work, H, width=W)
    return out


def estimate_matte(rgb: np.ndarray, session, spec, *, refine: bool = True) -> np.ndarray:
    """Alpha matte of the photo's most prominent subject.

    Args:
        rgb: (H, W, 3) sRGB, float32 0..1 or uint8 0..255.
        session: ``onnxruntime.InferenceSession`` of the matting model.
        spec: the model's catalog entry (``input_size``, ``mean``, ``std``).
        refine: snap edges to the photo with the guided filter.

    Returns:
        (H, W) float32 alpha 0..1 (1 = subject).

    Raises:
        ValueError: ``rgb`` is not (H, W, 3) uint8 or float 0..1.
        ModelError: see :func:`predict_saliency`.
    """
    rgb = rgb_pixels(rgb)
    # The photo's half of the edge refinement runs on the thread pool while the network runs.
    guide = threads.submit(edge_guide, rgb) if refine else None
    coarse = predict_saliency(rgb, session, spec)
    if guide is not None:
        return refine_matte(rgb, coarse, guide=guide.result())
    H, W = rgb.shape[:2]
    return np.clip(cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
