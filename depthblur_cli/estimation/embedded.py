"""The depth map a photo carries (an iPhone or a Google portrait's), checked and made dense at the photo's size."""

from __future__ import annotations

import numpy as np

from depthblur_cli.estimation.disparity import DepthResult
from depthblur_cli.estimation.upsample import upsample_disparity
from depthblur_cli.imaging.codec import LoadedImage


def embedded_disparity(image: LoadedImage, notes: list[str]) -> DepthResult | None:
    """The photo's own depth map upsampled to it, guided by it; or None.

    A HEIF depth image, or a JPEG's Dynamic Depth or GDepth map.

    Args:
        image: the decoded photo; its ``embedded_depth`` (see
            :mod:`depthblur_cli.imaging.embedded`) is read.
        notes: why there is none, added here for the report: the file's
            depth image could not be read, or it is damaged or implausible
            (another shape than the photo's, aspect ratio off by more than
            3 %; constant; not finite).

    Returns:
        (H, W) float32 disparity (larger = nearer) in the map's own units,
        with its source (``embedded:apple-heif``, ``embedded:dynamic-depth``,
        ``embedded:gdepth``); None when there is none to use.

    Source: guided upsampling as for a depth network's output
    (:func:`~depthblur_cli.estimation.upsample.upsample_disparity`).
    """
    embedded = image.embedded_depth
    if embedded is None:
        if image.embedded_warning:
            notes.append(f"{image.source}: {image.embedded_warning}")
        return None
    low = embedded.disparity
    (h, w), (dh, dw) = image.pixels.shape[:2], low.shape
    problem = None
    if abs((dw / dh) / (w / h) - 1.0) > 0.03:
        problem = f"is {dw}x{dh}, the photo {w}x{h} (another shape)"
    elif not np.isfinite(low).all():
        problem = "holds values that are not finite"
    elif float(low.max() - low.min()) <= 0.0:
        problem = "is constant"
    if problem is not None:
        notes.append(f"{image.source}: the photo's own depth map {problem}: not used")
        return None
    return DepthResult(upsample_disparity(low, image.pixels), embedded.source, [])
