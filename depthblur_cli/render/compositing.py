"""Compositing blurred layers with premultiplied alpha, coarse to fine.

Layers are composited with Porter and Duff's *over* ("Compositing Digital
Images", SIGGRAPH 1984): the layers behind the focal layer back to front,
those in front of it front to back (*over* is associative), and the two
stacks around the focal layer last, at full resolution, strip by strip.
Each stack is kept at the coarsest reduction that holds it and resampled
bicubically as finer layers join it: a blurred layer is smooth at its
reduction, and bilinear interpolation would blur it again by a triangle as
wide as the step, softening bokeh rims (benchmarks/bench_accuracy.py:
bicubic +0.4 dB at no measurable cost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from depthblur_cli.colour import linear_to_srgb8
from depthblur_cli.render.levels import hat_weight_into, ramp_weight_into
from depthblur_cli.render.lights import Splats
from depthblur_cli.render.planar import upsample_planes_bounded, upsample_rows
from depthblur_cli.render.pyramid import PartReader
from depthblur_cli.threads import for_each_strip

#: Resamples (C, h, w) planes to the size of a reduction: (planes, reduction) -> planes.
Resampler = Callable[[np.ndarray, int], np.ndarray]


def bicubic_resampler(padded_shape: tuple[int, int]) -> Resampler:
    """Bicubic resampling of blurred planes to the size of a reduction of a (PH, PW) padded image.

    Without overshoot: see :func:`~depthblur_cli.render.planar.upsample_planes_bounded`.
    """
    ph, pw = padded_shape

    def resample(planes: np.ndarray, reduction: int) -> np.ndarray:
        return upsample_planes_bounded(planes, (pw // reduction, ph // reduction))

    return resample


def stack_back_to_front(layers: Iterable[tuple[np.ndarray | None, int]], resample: Resampler) -> np.ndarray | None:
    """Composite blurred layers, farthest first: each *over* what is behind it.

    Args:
        layers: (layer, reduction) pairs, far to near; a layer is (4, h, w)
            float32 (premultiplied colour, coverage) or None when empty.
        resample: brings the stack to a layer's reduction.

    Returns:
        (4, h, w) float32 premultiplied colour over black and coverage, at
        the last layer's reduction, or None when every layer is empty.
    """
    behind = None
    for layer, reduction in layers:
        if layer is None:
            continue
        if behind is None:
            behind = layer  # over black
        else:
            behind = resample(behind, reduction)
            behind *= 1.0 - layer[3]
            behind += layer
    return behind


def stack_front_to_back(layers: Iterable[tuple[np.ndarray | None, int]], resample: Resampler) -> np.ndarray | None:
    """Composite blurred layers, nearest first: each *under* what is in front of it.

    Args:
        layers: (layer, reduction) pairs, near to far, as for
            :func:`stack_back_to_front`.
        resample: brings the stack to a layer's reduction.

    Returns:
        (4, h, w) float32 premultiplied colour and coverage at the last
        layer's reduction, or None when every layer is empty.
    """
    front = None
    for layer, reduction in layers:
        if layer is None:
            continue
        if front is None:
            front = layer
        else:
            front = resample(front, reduction)
            layer *= 1.0 - front[3]
            front += layer
    return front


@dataclass
class FocalComposite:
    """What is composited at full resolution around the focal layer.

    Attributes:
        focal_level: index of the focal blur level.
        focal_reduction: its reduction; 1 when it is sharp.
        focal_colour: (3, h, w) float32 premultiplied colour of the focal
            layer over what is behind it, when ``focal_reduction > 1``.
        behind: (4, h, w) float32 stack behind the focal layer (premultiplied
            colour, coverage), or None.
        fill: (4, h, w) float32 extension of the sharp focal layer behind the
            nearer layers, at ``fill_reduction``, or None.
        front: (4, h, w) float32 stack in front of the focal layer, or None.
        fill_reduction: reduction of ``fill``.
        padded_width: width of the padded image (reductions are read from
            the planes' widths).
        light_behind: discs of the lights behind the focal layer
            (occluded by it and by the front), or None.
        light_front: discs of the lights in front of it (added last), or None.
        slight: when the focal layer holds slight defocus
            (:mod:`~depthblur_cli.render.slight`): ``(y0, y1) ->`` the
            rows' focal layer with it blurred, (premultiplied colour,
            coverage, each pixel's own weight in it), or None where they
            have none; else None.
        light_focal: discs of the lights in the focal layer's slight
            defocus (added over it, under the front), or None.
    """

    focal_level: int
    focal_reduction: int
    focal_colour: np.ndarray | None
    behind: np.ndarray | None
    fill: np.ndarray | None
    front: np.ndarray | None
    fill_reduction: int
    padded_width: int
    light_behind: Splats | None = None
    light_front: Splats | None = None
    slight: Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray] | None] | None = None
    light_focal: Splats | None = None


def _filled(
    premultiplied: np.ndarray, coverage: np.ndarray, own: np.ndarray, rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The slight-defocus layer ((3, n, W) premultiplied colour, (n, W) coverage) made to cover each of its
    own pixels (``own``: their weight in it) at least as far as what is around it (coverage ``rest``)
    does not: where a nearer surface's blur uncovers a surface hidden behind it and nothing fills the
    hole, the layer's colours are normalised there, as a plain layered blur normalises by the coverage."""
    unfilled = np.maximum(own - coverage, 0.0) * (1.0 - rest)
    np.multiply(unfilled, coverage > 1e-6, out=unfilled)
    if not unfilled.any():
        return premultiplied, coverage
    scale = 1.0 + unfilled / np.maximum(coverage, 1e-6)
    return premultiplied * scale, coverage + unfilled


def compose_full_resolution(
    read_parts: PartReader, shape: tuple[int, int], c: FocalComposite, out: np.ndarray
) -> np.ndarray:
    """Full-resolution composite, strip by strip: front *over* (focal layer *over* behind).

    When the focal level is sharp: ``out = rgb * w + fill * nearer + (1 - cum) * (behind + lights behind)``
    with ``w`` the focal level's weight and ``cum = w + nearer * fill coverage``;
    otherwise ``c.focal_colour`` already holds it over what is behind (the
    lights behind are added). The front stack goes over that, and the lights
    in front are added last. Reduced inputs are upsampled bilinearly one
    strip at a time.

    Args:
        read_parts: reads full-resolution rows (the parts of their pixels).
        shape: (H, W) of the image.
        c: the stacks and the focal layer.
        out: (H, W, 3) float32 result, written strip by strip (it may be the
            input image: each strip is read before it is written); or uint8,
            for the result sRGB-encoded and rounded
            (:func:`~depthblur_cli.colour.linear_to_srgb8`) strip by strip.

    Returns:
        ``out``: linear light, or 8-bit sRGB.
    """
    h, w = shape

    def reduction_of(planes: np.ndarray) -> int:
        return c.padded_width // planes.shape[2]

    def compose_strip(y0: int, y1: int) -> None:
        if c.focal_reduction == 1:
            parts = read_parts(slice(y0, y1))
            cover, index, colour = parts[0]
            slight = c.slight(y0, y1) if c.slight is not None else None
            hat = hat_weight_into(index, c.focal_level, np.empty(index.shape, np.float32))
            own = hat if cover is None else hat * cover
            nearer = None
            if c.fill is not None:  # the weight of what is nearer than the focal level
                nearer = -own
                for part_cover, part_index, _ in parts:  # a split pixel's blurred part is never on the focal level
                    beyond = ramp_weight_into(part_index, c.focal_level, np.empty(part_index.shape, np.float32))
                    nearer += beyond if part_cover is None else beyond * part_cover
            if slight is not None:  # the focal layer goes over the rest below, blurred: here what is around it
                hat[slight[2] > 0.0] = 0.0  # (and the sharp part a blurred pixel split at its edge keeps)
                own = hat if cover is None else hat * cover
            strip = np.multiply(hat, colour.transpose(2, 0, 1))  # colour is premultiplied by cover
            cum = own
            if nearer is not None and c.fill is not None:
                ext = upsample_rows(c.fill, c.fill_reduction, y0, y1, w)
                strip += nearer * ext[:3]
                cum += nearer * ext[3]
            np.subtract(np.float32(1.0), cum, out=cum)
            behind = None if c.behind is None else upsample_rows(c.behind, reduction_of(c.behind), y0, y1, w)
            if behind is not None:
                strip += cum * behind[:3]
            if c.light_behind is not None:
                c.light_behind.add_rows(strip, y0, cum)
            if slight is not None:  # the focal layer, slight defocus blurred, *over* what is around it
                rest = 1.0 - cum if behind is None else 1.0 - cum * (1.0 - behind[3])
                premultiplied, coverage = _filled(*slight, rest)
                strip *= 1.0 - coverage
                strip += premultiplied
        else:
            assert c.focal_colour is not None
            strip = np.array(upsample_rows(c.focal_colour, c.focal_reduction, y0, y1, w))
            if c.light_behind is not None:
                c.light_behind.add_rows(strip, y0)
        if c.light_focal is not None:  # the lights at the focal layer's depth, over it
            c.light_focal.add_rows(strip, y0)
        if c.front is not None:
            f = upsample_rows(c.front, reduction_of(c.front), y0, y1, w)
            strip *= 1.0 - f[3]
            strip += f[:3]
        if c.light_front is not None:
            c.light_front.add_rows(strip, y0)
        if out.dtype == np.uint8:  # sRGB-encoded and rounded here: no full-size float result
            linear_to_srgb8(np.ascontiguousarray(strip.transpose(1, 2, 0)), out[y0:y1])
        else:
            out[y0:y1] = strip.transpose(1, 2, 0)

    for_each_strip(compose_strip, h, width=w)
    return out
