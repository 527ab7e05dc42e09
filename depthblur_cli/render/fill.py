"""Filling behind nearer layers: push-pull interpolation and each layer's extension.

Behind a nearer layer, a farther one has no pixels of its own, yet once the
nearer layer is blurred and partly transparent its fringe reveals what lies
behind it. Each layer is therefore extended there with colours interpolated
from its own pixels by push-pull (Gortler et al., "The Lumigraph", SIGGRAPH
1996, Sec. 3.3).
"""

from __future__ import annotations

import cv2
import numpy as np

from depthblur_cli.render.planar import resize_planes


def push_pull_fill(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill every pixel with a colour interpolated from the weighted ones.

    Pull: build a pyramid of premultiplied colour and weight by 2x2
    averaging. Push: from the coarsest level down, each level keeps its own
    colour where its weight is 1 and takes the coarser level's colour where
    its weight is 0 (linear in between). Holes of any size are filled with
    a smooth extension of their surroundings. Source: Gortler et al., "The
    Lumigraph", SIGGRAPH 1996, Sec. 3.3.

    Args:
        premultiplied: (H, W, C) float32, colour multiplied by ``weight``.
        weight: (H, W) float32 in 0..1; 0 marks a hole.

    Returns:
        (H, W, C) float32, un-premultiplied colour everywhere (0 where the
        whole image has no weight).
    """
    planes = np.ascontiguousarray(np.asarray(premultiplied, np.float32).transpose(2, 0, 1))
    return np.ascontiguousarray(push_pull_planes(planes, np.asarray(weight, np.float32)).transpose(1, 2, 0))


def push_pull_planes(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """:func:`push_pull_fill` on planar (C, h, w) colour; returns (C, h, w) float32."""
    levels = [(premultiplied, weight)]
    p, w = premultiplied, weight
    while min(w.shape) > 1:
        size = ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2)
        p = resize_planes(p, size, cv2.INTER_AREA)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
        levels.append((p, w))
    p, w = levels[-1]
    colour = p / np.maximum(w, 1e-8)
    for p, w in reversed(levels[:-1]):
        up = resize_planes(colour, (w.shape[1], w.shape[0]), cv2.INTER_LINEAR)
        # Trust a partly covered coarse cell more than its raw weight: the
        # weight is an average over the cell, not a confidence.
        trust = np.clip(w * 2.0, 0.0, 1.0)
        colour = p / np.maximum(w, 1e-8)
        colour -= up
        colour *= trust
        colour += up
    return colour


def layer_extension(parts: list[np.ndarray], nearer: np.ndarray) -> list[np.ndarray]:
    """A layer's extension behind nearer layers, at the reduction of its inputs.

    Behind nearer layers, the layer is extended with coverage ``share``: its
    own weight's fraction of the weight at or behind it (``1 - nearer``),
    interpolated into the hidden area by push-pull. Composited back to
    front, the extensions of all layers behind a foreground edge then divide
    the hidden area among them in the proportions seen around it, instead of
    each claiming all of it (benchmarks/bench_accuracy.py: the earlier limit,
    a box of 1.25x the kernel extent around the layer's own pixels, scored
    0.6 dB lower, 0.9 dB lower on the half-size scenes of
    tests/render/test_reference.py).

    Args:
        parts: the layer's (4, h, w) float32 parts on each of its one or two
            levels (premultiplied colour in [:3], weight in [3]), from
            :func:`~depthblur_cli.render.layers.layer_inputs`.
        nearer: (h, w) float32 weight of the nearer layers.

    Returns:
        (4, h, w) float32 per level: the level's part of the fill colour
        times the share in [:3], of the share in [3]. A layer between two
        levels splits its extension between them by the fill's position
        between them (interpolated like the colour).
    """
    total = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    weight = total[3]
    # Colour, and for an interval layer the upper level's weight (the position).
    filled = push_pull_planes(total[:3] if len(parts) == 1 else np.concatenate([total[:3], parts[1][3:]]), weight)
    ext = np.empty((4,) + weight.shape, np.float32)
    np.clip(push_pull_planes(weight[None], np.subtract(np.float32(1.0), nearer))[0], 0.0, 1.0, out=ext[3])
    np.multiply(filled[:3], ext[3], out=ext[:3])
    if len(parts) == 1:
        return [ext]
    upper = ext * np.clip(filled[3], 0.0, 1.0)
    return [np.subtract(ext, upper, out=ext), upper]
