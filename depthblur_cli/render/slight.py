"""Slight defocus at full resolution: the focal layer's surfaces blurred by their own small discs.

A surface blurred by a CoC of a few pixels (a portrait at f/2.8-f/4, the
band around any focal plane) keeps detail at the scale of a pixel, so a
reduced copy cannot hold it: convolved at reduction 2 with a 1-px kernel, a
2-px blur is neither the right size nor the aperture's shape. So pixels
with ``|CoC|`` up to :data:`SLIGHT_MAX_COC` are not split into the blurred
layers: they stay in the focal layer (the level index is flat there, see
:class:`~depthblur_cli.render.levels.LevelIndex`), and the focal layer is
rendered here, in the composite's pass, strip by strip, as a small layered
blur of its own at full resolution:

- a pixel at a depth step between two slightly defocused surfaces is a mix
  of both; it is blurred as the nearer one when that is the sharper one or
  blurred by at most :data:`NEAR_SPREAD_MAX_COC` (:func:`nearer_at_depth_steps`);
- its pixels are spread over a fine ladder of signed **sub-levels**
  (:data:`SUB_LEVELS`, both sides of the focus) by hat weights, flat within
  :data:`~depthblur_cli.render.levels.IN_FOCUS_COC` of 0;
- each pixel's premultiplied colour and weight are blurred on its two
  sub-levels with the aperture kernel of each radius; within one side of
  the focus (behind it, in front of it) the blurs of a run of consecutive
  layers (intervals between sub-levels) are summed: a surface whose CoC
  changes smoothly passes through each; a layer missing between two within
  a tile is a step in depth, and the nearer run goes *over* the farther.
  The in-focus pixels are not blurred;
- the sides are composited far to near with premultiplied *over*: a
  slightly blurred surface in front spills over a sharper one behind it
  (partial occlusion), a sharp one in front is never smeared into the one
  behind (no halo);
- blurs of different radii do not add up to full coverage where the CoC
  varies, so inside a continuous surface a run's coverage is raised to
  what its pixels' own discs find of the run around them (1 inside, partial
  at its edge, where what is behind must show through), and at most 1 where
  a run's blurs overlap at a depth step;
- what is left uncovered and has nothing behind it is filled with the
  layer's own colours in the composite (``compositing._filled``), as a plain
  layered blur normalises by the coverage.

An in-focus pixel that no nearer blur reaches keeps its colour bit for bit;
a uniform surface at a sub-level's CoC gets exactly the disc blur of its
radius, between two a mix of the two. Every sub-level is convolved at full
resolution, each part only in the box of rows and columns that holds it in
a tile of :data:`TILE` columns. Lights are splatted with their own disc as everywhere
(:mod:`~depthblur_cli.render.lights`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from depthblur_cli.render.kernels import Aperture, aperture_kernel
from depthblur_cli.render.levels import LevelIndex, hat_weight_into

#: Largest |CoC| (pixels) blurred at full resolution in the focal layer; the main ladder starts above it.
#: 8 px: a surface at 6.3 px left to the main ladder (reduced by 2) scored 43.5 dB against the exact
#: image where a plain full-resolution layered blur scores 45.2 (``bench_accuracy.py``, slight scene 3).
SLIGHT_MAX_COC = 8.0
#: Radii (pixels) of the sub-levels on either side of the focus.
SUB_LEVELS = (1.0, 2.0, 3.0, 4.5, 6.0, SLIGHT_MAX_COC)
#: The layer number of pixels in front of the slight-defocus layer (beyond its last sub-level).
BEYOND = 127
#: Columns of the tiles a strip is worked on in (each layer in the box that holds it in a tile).
TILE = 256
#: Rows (and columns) read around a strip: the largest sub-level kernel's reach, and a pixel more.
MARGIN = int(math.ceil(SLIGHT_MAX_COC + 0.5)) + 1
#: A pixel beside a nearer slightly defocused surface (a 4-neighbour whose signed CoC is larger by
#: more than this, pixels) is blurred as that surface: see :func:`nearer_at_depth_steps`.
DEPTH_STEP = 0.5
#: ... when that surface is sharper than the pixel's own, or blurred by at most this CoC (pixels).
NEAR_SPREAD_MAX_COC = 3.0
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


class SlightDefocus:
    """The full-resolution blur of the slightly defocused pixels of a strip of rows.

    Args (constructor):
        aperture: the iris shape of the kernels.
    """

    def __init__(self, aperture: Aperture) -> None:
        radii = np.asarray(SUB_LEVELS, np.float32)
        self.levels = np.concatenate([-radii[::-1], [0.0], radii]).astype(np.float32)
        self.index = LevelIndex(self.levels)
        self.focal = len(SUB_LEVELS)
        self.kernels = {k: aperture_kernel(abs(float(v)), aperture) for k, v in enumerate(self.levels) if v != 0.0}

    def _interval_ids(self, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Which layer each pixel is in: (n, W) int8, far intervals ``k`` (index in ``[k, k + 1)``), the focus
        (index exactly :attr:`focal`), near intervals ``k`` (index in ``(k - 1, k]``); outside the layer -1
        behind it, :data:`BEYOND` in front of it."""
        ids = np.floor(index).astype(np.int8)
        nearer = index > np.float32(self.focal)
        ids[nearer] = np.ceil(index[nearer]).astype(np.int8)
        outside = weight <= 0.0
        ids[outside] = np.where(nearer[outside], BEYOND, -1)
        return ids

    def _blurred(
        self, colour: np.ndarray, index: np.ndarray, share: np.ndarray, layer: int, rows: slice, columns: slice
    ) -> np.ndarray:
        """One layer's pixels (``share``: their weight in it, in the box ``rows`` x ``columns`` of the rows
        read) blurred on the two sub-levels around them by their interpolation weights and summed:
        (r, c, 4) float32 premultiplied colour and coverage of the box."""
        planes = np.empty(share.shape + (4,), np.float32)  # premultiplied colour and coverage
        np.multiply(colour[rows, columns], share[..., None], out=planes[..., :3])
        planes[..., 3] = share
        if layer == self.focal:  # in focus: not blurred
            return planes
        lo = layer if layer < self.focal else layer - 1
        # The weight on the upper sub-level, 0..1 where share > 0 (elsewhere the planes are 0).
        upper = index[rows, columns] - np.float32(lo)
        on_upper = planes * upper[..., None]
        planes -= on_upper  # the rest is on the lower one
        parts = [(lo, planes), (lo + 1, on_upper)]
        blurred = [p if k == self.focal else self._convolve(p, k) for k, p in parts]
        blurred[0] += blurred[1]
        return blurred[0]

    def _convolve(self, planes: np.ndarray, k: int) -> np.ndarray:
        """(r, c, 4) planes convolved with sub-level ``k``'s aperture kernel, at full resolution."""
        return cv2.filter2D(planes, -1, self.kernels[k], borderType=cv2.BORDER_REFLECT)

    def _tile(
        self,
        colour: np.ndarray,
        index: np.ndarray,
        ids: np.ndarray,
        weight: np.ndarray,
        core: slice,
        tile: slice,
        present: list[int],
        composite: np.ndarray,
        nearer: bool,
    ) -> None:
        """:meth:`layer` in the columns ``tile`` of the core rows, composited into ``composite`` (m, W, 4):
        the layers behind the focus, or (``nearer``) the in-focus one and those in front; ``present``:
        the layers within reach of the tile.

        Each layer present within reach of the tile is worked on in the box of rows and columns that
        holds it there (a tile keeps the boxes tight around a band of depth that crosses a strip).
        """
        width = index.shape[1]
        xa, xb = max(0, tile.start - MARGIN), min(width, tile.stop + MARGIN)
        region = ids[:, xa:xb]
        far = [v for v in present if v < self.focal]
        near = [v for v in present if v > self.focal]
        sides = [near, [self.focal] if self.focal in present else []][::-1] if nearer else [far]
        # Far to near, each *over* what is behind it; within a run of consecutive layers (a surface
        # whose CoC changes smoothly passes through each) the layers add up; a layer missing between
        # two (a step in depth within the tile) separates them, the nearer run *over* the farther.
        groups = [run for side in sides for run in _runs(side)]
        for i, group in enumerate(groups):
            total = np.zeros((core.stop - core.start, tile.stop - tile.start, 4), np.float32)
            for layer in group:
                self._add_layer(colour, index, ids, weight, core, tile, layer, region, xa, total)
            if group[0] != self.focal:
                self._cover_continuous(index, ids, weight, core, tile, group, xa, xb, total)
                _at_most_opaque(total)
            if not nearer and i == 0:  # the first part of the tile: over nothing
                composite[:, tile] = total
                continue
            target = composite[:, tile]
            target *= (1.0 - total[..., 3])[..., None]
            target += total

    def _cover_continuous(self, index, ids, weight, core, tile, side, xa, xb, total) -> None:
        """Fill, in place, what the blurs of a run of layers (``side``) leave uncovered inside a continuous surface.

        Blurs of different radii do not add up to full coverage where the CoC varies (a larger disc
        spreads its pixels' weight further out than a smaller one brings back), so inside a surface
        whose CoC changes smoothly the summed coverage falls short of 1 and what is behind would show
        through. A pixel of the run is covered at least as far as its own disc is covered by the
        run's pixels (its expected coverage: 1 inside the surface, partial at its edge, where what is
        behind must show): the sum of its sub-levels' weights times those sub-levels' blurs of the
        run's membership.
        """
        rows = slice(core.start, core.stop)
        columns = slice(tile.start - xa, tile.stop - xa)
        members = np.where((ids[:, xa:xb] >= side[0]) & (ids[:, xa:xb] <= side[-1]), weight[:, xa:xb], 0.0)
        members = members.astype(np.float32)
        box_index = index[rows, tile]
        expected = np.zeros(box_index.shape, np.float32)
        share = np.empty(box_index.shape, np.float32)
        levels = sorted(
            {k for layer in side for k in ((layer, layer + 1) if layer < self.focal else (layer - 1, layer))}
        )
        for k in levels:
            hat_weight_into(box_index, k, share)
            if not share.any():
                continue
            spread = members if k == self.focal else self._convolve(members, k)
            expected += share * spread[rows, columns]
        expected *= members[rows, columns] > 0.0
        cover = total[..., 3]
        short = cover < expected
        if short.any():
            scale = np.where(short, expected / np.maximum(cover, 1e-6), 1.0).astype(np.float32)
            scale = np.where(cover > 1e-6, scale, 1.0)
            total *= scale[..., None]

    def _add_layer(self, colour, index, ids, weight, core, tile, layer, region, xa, total) -> None:
        """Add one layer's blur, in the box that holds it in the tile, to the tile's ``total`` (m, t, 4)."""
        n, width = index.shape
        inside = region == layer
        ys, xs = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        reach = 0 if layer == self.focal else MARGIN
        r0, r1 = max(0, int(ys[0]) - reach), min(n, int(ys[-1]) + reach + 1)
        c0, c1 = max(0, xa + int(xs[0]) - reach), min(width, xa + int(xs[-1]) + reach + 1)
        a, b = max(r0, core.start), min(r1, core.stop)  # the box's rows among the core's
        o0, o1 = max(c0, tile.start), min(c1, tile.stop)  # and its columns among the tile's
        if a >= b or o0 >= o1:
            return
        rows, columns = slice(r0, r1), slice(c0, c1)
        share = np.multiply(weight[rows, columns], ids[rows, columns] == layer, dtype=np.float32)
        blurred = self._blurred(colour, index, share, layer, rows, columns)
        total[a - core.start : b - core.start, o0 - tile.start : o1 - tile.start] += blurred[
            a - r0 : b - r0, o0 - c0 : o1 - c0
        ]

    def layer(
        self,
        read_colour: Callable[[], np.ndarray],
        coc: np.ndarray,
        weight: np.ndarray,
        core: slice,
        add_lights: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The slight-defocus layer of the core rows: its sub-levels blurred and composited far to near.

        Args:
            read_colour: gives the (n, W, 3) float32 linear colour of the
                rows read, the core and up to :data:`MARGIN` rows on either
                side (fewer at the image's edges, where the kernels
                reflect); called only when the rows have slight defocus.
            coc: (n, W) float32 signed CoC radius of the same rows, pixels.
            weight: (n, W) float32 each pixel's share in the layer (the
                focal level's weight: 1 up to :data:`SLIGHT_MAX_COC`, falling
                to 0 at the next blur level).
            core: the rows to return.
            add_lights: adds the discs of the lights behind the focus at
                this depth to (3, m, W) planes: they go over the layers
                behind the focus and under the rest.

        Returns:
            ((3, m, W) float32 premultiplied linear colour, (m, W) float32
            coverage) of the core rows; a pixel in focus and not reached by
            a nearer sub-level's blur is exactly ``weight * colour``. None
            when no pixel within reach of the core is slightly defocused.

        The side behind the focus, the in-focus pixels and the side in
        front are composited far to near with *over* (see the module), in
        tiles of :data:`TILE` columns, each part of a side worked on in the
        box of rows and columns that holds it there.
        """
        index = self.index(nearer_at_depth_steps(coc))
        ids = self._interval_ids(index, weight)
        if set(_present(ids)) <= {-1, self.focal, BEYOND}:
            return None
        colour = read_colour()
        width = index.shape[1]
        composite = np.zeros((core.stop - core.start, width, 4), np.float32)  # premultiplied colour, coverage
        tiles = []  # each tile with the layers within reach of it
        for x0 in range(0, width, TILE):
            region = ids[:, max(0, x0 - MARGIN) : min(width, x0 + TILE + MARGIN)]
            tiles.append((slice(x0, min(width, x0 + TILE)), [v for v in _present(region) if 0 <= v < BEYOND]))
        for tile, present in tiles:  # behind the focus
            self._tile(colour, index, ids, weight, core, tile, present, composite, nearer=False)
        if add_lights is not None:
            add_lights(composite[..., :3].transpose(2, 0, 1))
        for tile, present in tiles:  # the focus and in front
            self._tile(colour, index, ids, weight, core, tile, present, composite, nearer=True)
        premultiplied = np.ascontiguousarray(composite[..., :3].transpose(2, 0, 1))
        coverage = np.ascontiguousarray(composite[..., 3])
        return premultiplied, coverage


def nearer_at_depth_steps(signed_coc: np.ndarray) -> np.ndarray:
    """The CoC map with each pixel at a depth step within slight defocus given its nearer neighbour's CoC.

    A depth map is a hard step where a photo's pixel is a mix: the edge pixel of a nearer surface
    holds part of it, and in a lens that part is blurred with the nearer surface, from its true
    edge inside the pixel. So where the nearest of a pixel's 4-neighbours (the largest signed
    CoC) is nearer by more than :data:`DEPTH_STEP` and both are within :data:`SLIGHT_MAX_COC`,
    the pixel takes that neighbour's CoC: a sharper surface in front keeps its mixed edge pixels
    as sharp as itself (no halo), and a surface in front blurred by up to
    :data:`NEAR_SPREAD_MAX_COC` spreads over one more pixel of what is behind it (partial
    occlusion, as the exact image does). A more blurred one does not: the mixed pixel, mostly
    what is behind (a depth map labels a pixel by its larger part), would be spread over its
    whole disc (a plane at 4.1 px over a sharp one: -0.6 dB with the rule). Beyond slight
    defocus the main ladder's layer extension does this job (there the rule lowered
    bench_accuracy's extreme family by 1.3 dB). Measured against the exact thin-lens image
    (``bench_accuracy.py --family slight``): 46.99 -> 49.32 dB.

    Args:
        signed_coc: (n, W) float32 signed CoC radius, pixels (> 0 nearer than the focus).

    Returns:
        (n, W) float32, a new array.

    Source: the near field's CoC dilated so a blurred foreground covers its edge, as in Jimenez,
    "Next Generation Post Processing in Call of Duty: Advanced Warfare", SIGGRAPH 2014
    Advances in Real-Time Rendering course.
    """
    coc = np.ascontiguousarray(signed_coc, np.float32)
    nearest = cv2.dilate(coc, _CROSS)  # the largest signed CoC of the pixel and its 4 neighbours
    # nearest > coc, so both within SLIGHT_MAX_COC is nearest <= it and coc >= -it; and the nearer
    # surface sharper than the pixel's or blurred by at most NEAR_SPREAD_MAX_COC is
    # nearest <= max(|coc|, NEAR_SPREAD_MAX_COC). (NumPy: OpenCV's arithmetic reads arrays of up
    # to 4 values, a 1-pixel-wide strip's, as scalars.)
    bound = np.abs(coc)
    np.clip(bound, NEAR_SPREAD_MAX_COC, SLIGHT_MAX_COC, out=bound)
    step = nearest <= bound
    step &= (nearest - coc) > DEPTH_STEP
    step &= coc >= -SLIGHT_MAX_COC
    out = coc.copy()
    np.copyto(out, nearest, where=step)
    return out


def _at_most_opaque(total: np.ndarray) -> None:
    """Layers added up ((m, t, 4) premultiplied colour and coverage) scaled, in place, to a coverage of
    at most 1 where their blurs overlap (at a depth step within one side of the focus)."""
    cover = total[..., 3]
    over = cover > 1.0
    if over.any():
        total[over] /= cover[over][..., None]


def _runs(layers: list[int]) -> list[list[int]]:
    """Increasing layer numbers cut into runs of consecutive ones: ``[0, 1, 3]`` -> ``[[0, 1], [3]]``."""
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return runs


def _present(ids: np.ndarray) -> list[int]:
    """The layer numbers (int8, -1 .. :data:`BEYOND`) that occur in ``ids``, increasing (a count, not a sort)."""
    counts = np.bincount(np.ascontiguousarray(ids).view(np.uint8).ravel(), minlength=256)
    found = np.flatnonzero(counts)
    return sorted(int(v) - 256 if v > BEYOND else int(v) for v in found)
