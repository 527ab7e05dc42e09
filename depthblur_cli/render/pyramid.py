"""Depth-aware image pyramid: every block keeps its near and its far pixels apart.

The image is reduced by powers of two for the blurred levels. A plain
average would mix a sharp subject's colour with the background it stands
against; here every ``s`` x ``s`` block keeps two *clusters*, its nearer
and its farther pixels (split at the middle of the block's level-index
range), each with its coverage, mean level index and premultiplied colour,
so a block on a depth edge never mixes a subject's colour into a blurred
background layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.render.planar import resize_planes
from depthblur_cli.threads import for_each_strip

#: One part of each pixel of some rows: (coverage (n, W) or None for 1, level index (n, W),
#: linear colour premultiplied by the coverage (n, W, 3)).
Part = tuple[np.ndarray | None, np.ndarray, np.ndarray]
#: Reads rows of the full-resolution scene as one or two parts per pixel
#: (two where a mixed edge pixel is split, see :mod:`depthblur_cli.render.edges`).
PartReader = Callable[[slice | np.ndarray], list[Part]]


@dataclass
class Clusters:
    """An image reduced by ``reduction``, each pixel split into a near and a far part.

    Attributes:
        reduction: reduction factor (power of two).
        cover: (h, w) float32 coverage of the near part (the far part
            covers ``1 - cover``).
        near_index, far_index: (h, w) float32 mean fractional level index of
            each part.
        near_colour, far_colour: (3, h, w) float32 planar linear colour of
            each part, premultiplied by its coverage.
    """

    reduction: int
    cover: np.ndarray
    near_index: np.ndarray
    far_index: np.ndarray
    near_colour: np.ndarray
    far_colour: np.ndarray

    @classmethod
    def empty(cls, reduction: int, h: int, w: int) -> Clusters:
        """Uninitialised clusters of (h, w) pixels."""
        f = np.float32
        return cls(
            reduction,
            np.empty((h, w), f),
            np.empty((h, w), f),
            np.empty((h, w), f),
            np.empty((3, h, w), f),
            np.empty((3, h, w), f),
        )

    def write_rows(self, r0: int, other: Clusters) -> None:
        """Copy ``other``'s rows into this one's from row ``r0``."""
        r1 = r0 + other.cover.shape[0]
        for name in ("cover", "near_index", "far_index", "near_colour", "far_colour"):
            getattr(self, name)[..., r0:r1, :] = getattr(other, name)

    def parts(
        self, rows: slice = slice(None)
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The near and far parts of ``rows`` (default all), each (coverage, level index, premultiplied colour)."""
        cover = self.cover[rows]
        return (
            (cover, self.near_index[rows], self.near_colour[:, rows]),
            (1.0 - cover, self.far_index[rows], self.far_colour[:, rows]),
        )


def _quads(x: np.ndarray) -> list[np.ndarray]:
    """The four pixels of every 2x2 block of the last two axes, as strided views."""
    return [x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]]


def _half(x: np.ndarray) -> np.ndarray:
    """Mean over 2x2 blocks of a (h, w) or (C, h, w) array (sides even)."""
    size = (x.shape[-1] // 2, x.shape[-2] // 2)
    if x.ndim == 3:
        return resize_planes(x, size, cv2.INTER_AREA)
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA)


def reduce_clusters(parts: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]], reduction: int) -> Clusters:
    """Halve the resolution of per-pixel parts, keeping a near and a far part per block.

    Args:
        parts: one or two (coverage or None for 1, level index, premultiplied
            colour) triples at the finer resolution: (h, w), (h, w),
            (3, h, w) float32, h and w even.
        reduction: the reduction of the result (for the record).

    Returns:
        the (h/2, w/2) reduction: each 2x2 block's parts are split at the
        middle of their level-index range into a near and a far part.
    """
    samples = []  # (cover view or None, index view, colour view) per block sample
    for cover, index, colour in parts:
        cq: list[np.ndarray | None] = [None] * 4 if cover is None else list(_quads(cover))
        samples += list(zip(cq, _quads(index), _quads(colour)))
    lo = hi = None
    for cover, index, _ in samples:
        low = index if cover is None else np.where(cover > 1e-6, index, np.float32(np.inf))
        high = index if cover is None else np.where(cover > 1e-6, index, np.float32(-np.inf))
        lo = np.array(low) if lo is None else np.minimum(lo, low, out=lo)
        hi = np.array(high) if hi is None else np.maximum(hi, high, out=hi)
    assert lo is not None and hi is not None  # parts is never empty
    mid = (lo + hi) * np.float32(0.5)
    h2, w2 = mid.shape
    near_cover = np.zeros((h2, w2), np.float32)
    near_weighted = np.zeros((h2, w2), np.float32)
    near_colour = np.zeros((3, h2, w2), np.float32)
    is_near = np.empty((h2, w2), np.float32)
    for cover, index, colour in samples:
        np.greater(index, mid, out=is_near)
        near_colour += is_near * colour  # colour is premultiplied already
        if cover is not None:
            is_near *= cover
        near_cover += is_near
        is_near *= index
        near_weighted += is_near
    all_weighted = sum(_half(index if cover is None else cover * index) for cover, index, _ in parts)
    all_colour = sum(_half(colour) for _, _, colour in parts)
    quarter = np.float32(0.25)
    near_cover *= quarter
    near_weighted *= quarter
    near_colour *= quarter
    far_cover = 1.0 - near_cover
    near_index = np.where(near_cover > 1e-6, near_weighted / np.maximum(near_cover, 1e-6), lo)
    far_index = np.where(far_cover > 1e-6, (all_weighted - near_weighted) / np.maximum(far_cover, 1e-6), hi)
    all_colour -= near_colour
    return Clusters(
        reduction, near_cover, near_index.astype(np.float32), far_index.astype(np.float32), near_colour, all_colour
    )


def _join(top: list[Part], bottom: list[Part]) -> list[Part]:
    """The parts of two runs of rows, stacked (one part each, or two when either has two)."""
    if len(top) == len(bottom) == 1:
        (ct, it, rt), (cb, ib, rb) = top[0], bottom[0]
        return [(None, np.concatenate([it, ib]), np.concatenate([rt, rb]))]

    def two(parts: list[Part]) -> list[Part]:
        if len(parts) == 2:
            return parts
        _, index, colour = parts[0]
        return [
            (np.ones(index.shape, np.float32), index, colour),
            (np.zeros(index.shape, np.float32), index, np.zeros_like(colour)),
        ]

    out: list[Part] = []
    for (ct, it, rt), (cb, ib, rb) in zip(two(top), two(bottom)):
        assert ct is not None and cb is not None
        out.append((np.concatenate([ct, cb]), np.concatenate([it, ib]), np.concatenate([rt, rb])))
    return out


def _reflect_index(n: int, padded: int) -> np.ndarray:
    """Indices 0..padded-1 into an axis of length n, reflected past the end."""
    i = np.arange(padded)
    return np.where(i < n, i, 2 * n - 1 - i).clip(0, n - 1)


def cluster_pyramid(
    read_parts: PartReader, image_shape: tuple[int, int], padded_shape: tuple[int, int], max_reduction: int
) -> dict[int, Clusters]:
    """Two-cluster reductions of the image at 2, 4, ... ``max_reduction``.

    Args:
        read_parts: reads full-resolution rows (the parts of their pixels).
        image_shape: (H, W) of the image.
        padded_shape: (PH, PW), multiples of ``max_reduction`` (the image is
            reflected past its edges).
        max_reduction: the coarsest reduction.

    Returns:
        {reduction: Clusters}; the level-2 reduction is read in strips on the
        thread pool, so no full-resolution temporary is made.
    """
    h, w = image_shape
    ph, pw = padded_shape
    rows = _reflect_index(h, ph)
    level = Clusters.empty(2, ph // 2, pw // 2)

    def reflect_right(x: np.ndarray) -> np.ndarray:
        """The columns reflected past the right edge up to PW (as :func:`_reflect_index`), by OpenCV's copy."""
        return cv2.copyMakeBorder(x, 0, 0, 0, pw - w, cv2.BORDER_REFLECT)

    def reduce_strip(y0: int, y1: int) -> None:
        parts = []
        if y1 <= h:
            read = read_parts(slice(y0, y1))
        elif y0 >= h:  # wholly in the reflected rows past the bottom
            read = read_parts(rows[y0:y1])
        else:
            read = _join(read_parts(slice(y0, h)), read_parts(rows[h:y1]))
        for cover, index, colour in read:
            if pw != w:
                cover = None if cover is None else reflect_right(cover)
                index, colour = reflect_right(index), reflect_right(colour)
            planes = np.ascontiguousarray(colour.transpose(2, 0, 1))
            cover = None if cover is None else np.ascontiguousarray(cover)
            parts.append((cover, np.ascontiguousarray(index), planes))
        level.write_rows(y0 // 2, reduce_clusters(parts, 2))

    for_each_strip(reduce_strip, ph, width=pw)
    pyramid = {2: level}
    reduction = 4
    while reduction <= max_reduction:  # each from the one before, in strips of its rows (even) on the pool
        finer = pyramid[reduction // 2]
        coarser = Clusters.empty(reduction, finer.cover.shape[0] // 2, finer.cover.shape[1] // 2)

        def reduce_rows(y0: int, y1: int, finer: Clusters = finer, coarser: Clusters = coarser) -> None:
            coarser.write_rows(y0 // 2, reduce_clusters(list(finer.parts(slice(y0, y1))), coarser.reduction))

        for_each_strip(reduce_rows, finer.cover.shape[0], width=finer.cover.shape[1])
        pyramid[reduction] = coarser
        reduction *= 2
    return pyramid
