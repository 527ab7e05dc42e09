"""Layers: what the renderer blurs and composites as one, and their inputs at a reduction.

A **layer** holds, of every pixel whose level index lies in ``[lo, hi)``,
its interpolation weights on one or two blur levels
(:mod:`~depthblur_cli.render.levels`):

- between two blur levels, a layer spans the interval and is blurred on
  both: the lower level's weight (``1 - f``) with that level's kernel and the
  upper one's (``f``) with its own, the two summed. A surface between two
  levels thus covers what is behind it once; as two layers composited *over*
  each other it was counted twice near its own edge (up to 12.5 % at
  ``f = 0.5``; measured +0.7 dB in benchmarks/bench_accuracy.py).
- the focal level, and levels blurred at a reduction below
  :data:`INTERVAL_MIN_REDUCTION`, keep their whole hat as one layer; beside
  one, a neighbour's half hat is a layer of its own. With two levels (a
  subject over a background) the layers are the two levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthblur_cli.render.levels import hat_weight_into, ramp_weight_into
from depthblur_cli.render.pyramid import Clusters
from depthblur_cli.threads import for_each_strip

#: Levels convolved at a smaller reduction keep their whole hat as one layer,
#: not split between interval layers: an interval layer blurs its pixels on
#: both of its levels, so it doubles the work per level, and at reduction 2
#: (the largest reduced images) each level's extra blur costs about 5 % of a
#: 12 MP render (interval layers everywhere: +40 %, from reduction 4 on:
#: +5 %). The coverage they count right spans about the blur radius,
#: smallest there (benchmarks/bench_accuracy.py: no change; the half-size
#: scenes of tests/render/test_reference.py: 0.1 dB lower).
INTERVAL_MIN_REDUCTION = 4


@dataclass(frozen=True)
class Layer:
    """Pixels blurred on one or two blur levels and composited as one.

    Attributes:
        levels: the blur levels (indices), increasing.
        lo, hi: the layer holds, of every pixel with level index ``lo <= x <
            hi``, its interpolation weights on ``levels`` (all of it for a
            layer between two levels).
    """

    levels: tuple[int, ...]
    lo: int
    hi: int

    def weight_into(self, x: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
        """Weight of level index ``x`` in the layer's part on level ``k``."""
        hat_weight_into(x, k, out)
        if self.lo > k - 1:
            np.copyto(out, 0.0, where=x < self.lo)
        if self.hi < k + 1:
            np.copyto(out, 0.0, where=x >= self.hi)
        return out

    def nearer_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Weight of level index ``x`` in the layers nearer than this one."""
        top = self.levels[-1]
        if self.hi > top:  # the rest of the top level's hat is nearer
            return ramp_weight_into(x, top + 1, out)
        return np.greater_equal(x, np.float32(self.hi), out=out)


def split_into_layers(whole: list[bool]) -> list[Layer]:
    """The layers of a ladder of blur levels, far to near.

    Args:
        whole: per level, whether its whole hat is one layer.

    Between two levels that are not whole, a layer spans the interval: the
    surfaces there are blurred on both levels and the two blurs summed, so a
    surface's coverage near its own edge is counted once. Beside a whole
    level, the other level's half hat is a layer of its own.
    """
    last = len(whole) - 1
    layers = []
    for k in range(last + 1):
        if whole[k]:
            layers.append(Layer((k,), k - 1, k + 1))
            continue
        if k > 0 and whole[k - 1]:
            layers.append(Layer((k,), k - 1, k))  # the upper half of the interval below
        if k < last and not whole[k + 1]:
            layers.append(Layer((k, k + 1), k, k + 1))  # the interval above
        elif k < last:
            layers.append(Layer((k,), k, k + 1))  # the lower half of the interval above
    # The nearest level's own pixels (index == last) belong to the last layer.
    layers[-1] = Layer(layers[-1].levels, layers[-1].lo, last + 1)
    return layers


def layer_inputs(c: Clusters, layer: Layer, levels: tuple[int, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """Parts of ``layer`` on ``levels`` at ``c``'s reduction.

    Computed in strips of rows on the thread pool (elementwise work).

    Returns:
        ((4, h, w) planar float32 array per level: colour premultiplied by
        the part's weight in [:3], the weight in [3]; (h, w) float32 weight
        of the layers nearer).
    """
    h, w = c.cover.shape
    parts = [np.empty((4, h, w), np.float32) for _ in levels]
    nearer = np.empty((h, w), np.float32)

    def work(y0: int, y1: int) -> None:
        rows = slice(y0, y1)
        a = np.empty((y1 - y0, w), np.float32)
        tmp = np.empty((y1 - y0, w), np.float32)
        strip_nearer = nearer[rows]
        for first, (cover, index, colour) in zip((True, False), c.parts(rows)):
            for k, whole in zip(levels, parts):
                part = whole[:, rows]
                layer.weight_into(index, k, a)
                # colour is premultiplied by cover already
                if first:
                    np.multiply(a, colour, out=part[:3])
                    np.multiply(a, cover, out=part[3])
                else:
                    for i in range(3):
                        part[i] += np.multiply(a, colour[i], out=tmp)
                    part[3] += np.multiply(a, cover, out=tmp)
            layer.nearer_into(index, a)
            if first:
                np.multiply(a, cover, out=strip_nearer)
            else:
                strip_nearer += np.multiply(a, cover, out=tmp)

    for_each_strip(work, h, width=w)
    return parts, nearer
