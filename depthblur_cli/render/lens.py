"""Layered depth-of-field renderer (the core of ``bokeh`` and ``depth``).

Given a linear-light image and a per-pixel *signed* circle-of-confusion
radius (pixels; > 0 nearer than the focal plane, < 0 farther, 0 in focus),
the scene is split into depth layers at a ladder of signed radii (rungs).
Each pixel belongs to the two rungs around its CoC with linear ("tent")
weights, so blur varies continuously with depth. The pixels are grouped
into *units*, each blurred and composited as one, with **premultiplied
alpha**, in depth order:

- between two rungs, a *slab*: the pixels whose CoC lies between them, the
  lower rung's tent weight (``1 - f``) blurred with that rung's kernel and
  the upper one's (``f``) with its own, the two summed. A surface between
  two rungs thus covers what is behind it once; as two layers composited
  *over* each other it was counted twice near its own edge (up to 12.5 %
  at ``f = 0.5``; slabs measured +0.7 dB in benchmarks/bench_accuracy.py,
  +0.5 dB on the half-size scenes of tests/test_reference.py).
- the sharpest rung, and rungs blurred at a reduction below
  ``_SLAB_MIN_SCALE``, keep their whole tent as one *layer*; beside one, a
  neighbour's half tent is a unit of its own. With two levels (a subject
  over a background) the units are the two layers.

1. Unit *u* holds its pixels (weight ``w_u``) and is *extended behind
   everything nearer* (weight ``nearer_u``, that of the units after it)
   with colours filled in from its own pixels by push-pull interpolation
   (Gortler et al., "The Lumigraph", SIGGRAPH 1996, Sec. 3.3). The
   extension's coverage is ``nearer_u * share_u``, ``share_u`` being the
   unit's fraction of the weight at or behind it (``w_u / (1 - nearer_u)``),
   push-pulled into the hidden area: the units behind a foreground edge
   share what it hides instead of each claiming all of it. Where a nearer
   blurred unit becomes partly transparent, the background revealed behind
   it is that fill, never the foreground's colour.
2. The premultiplied colour and the coverage (``w_u`` plus the
   extension's) are convolved with the aperture kernel of each rung's
   radius (a slab's two parts separately) and summed.
3. Units are composited with Porter and Duff's *over* ("Compositing
   Digital Images", SIGGRAPH 1984): the units behind the sharpest layer
   back to front, those in front of it front to back (*over* is
   associative), and the two stacks around the sharpest layer last.

So a sharp subject never smears into the blurred background (it is not in
the background layers at all: no halo), and a blurred foreground spills
softly over a sharp background (partial occlusion). The scheme follows the
layered gather approaches surveyed in Barsky and Kosloff, "Algorithms for
Rendering Depth of Field Effects in Computer Graphics", WSEAS 2008.

**Speed.** A rung blurred by a CoC of ``r`` pixels has no detail finer
than about ``r``, so its parts are built, filled, blurred and composited
on a copy of the image reduced by a power of two ``s`` (``r / s`` between
``_KERNEL_RADIUS_AT_SCALE`` and twice that), and only the sharpest layer
touches full resolution. The parts' inputs at scale ``s`` come from a
*two-cluster* reduction of the image: every ``s``x``s`` block keeps its
nearer and its farther pixels apart (split at the middle of the block's
layer-index range), each with its coverage, mean layer index and
premultiplied colour, so a block on a depth edge never mixes a sharp
subject's colour into a blurred background layer. All parts at one scale
share that reduction, the stacks are composited at the coarsest scale that
holds them, and the work grows with the pixel count, not with the blur
radius squared. Full resolution is read and written in strips of rows (the
sRGB decode, highlight boost and layer index are done per strip), so no
full-size temporary exists besides the output; strips, and the units of a
render up to ``_PARALLEL_UNITS_MAX_PIXELS``, run on a small thread pool
(NumPy releases the GIL in its array loops), and the result does not depend
on the thread count.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.color import luminance, srgb_to_linear
from depthblur_cli.render.kernels import Aperture, aperture_kernel

#: Radii (pixels) of the layer ladder; between two rungs a pixel is blurred
#: by a linear mix of the two radii. Spacing grows with the radius (~1.3x),
#: since large blurs differ less visibly.
_LADDER = (0.0, 2.0, 4.0, 6.5, 9.0, 12.0, 16.0, 21.0, 27.0, 35.0, 45.0, 58.0, 75.0, 96.0, 123.0, 158.0, 202.0, 259.0)

#: A layer of CoC radius ``r`` is convolved at the largest power-of-two
#: reduction ``s`` with ``r / s >= _KERNEL_RADIUS_AT_SCALE``: the kernel stays
#: at most 11x11 (OpenCV convolves directly below 130 taps, by DFT above,
#: several times slower), at the price of a rim softened over about ``s``
#: pixels and a light placed at the centre of its ``s`` x ``s`` block.
_KERNEL_RADIUS_AT_SCALE = 2.25
#: The same for a render of at most two layers (``bokeh``, ``gaussian``):
#: one blurred layer can afford a larger kernel and crisper rims.
_KERNEL_RADIUS_FEW_LAYERS = 6.0
#: A layer sharper than this (pixels) is rendered at full resolution.
_SHARP_RADIUS = 0.75
#: Rungs convolved at a smaller reduction are layers (their whole tent is
#: one unit), not split between slabs: a slab blurs its pixels on both of
#: its rungs, so slabs double the work per rung, and at reduction 2 (the
#: largest reduced images) each rung's extra blur costs about 5 % of a
#: 12 MP render (slabs on every rung: +40 %, from reduction 4 on: +5 %).
#: The coverage that slabs count right spans about the blur radius,
#: smallest there (benchmarks/bench_accuracy.py: no change; the half-size
#: scenes of tests/test_reference.py: 0.1 dB lower).
_SLAB_MIN_SCALE = 4
#: Reduction at which the fill behind nearer layers is computed at least.
_FILL_SCALE = 4
#: Reduced images keep at least this many pixels on their shorter side.
_MIN_REDUCED_SIDE = 24


@dataclass(frozen=True)
class Highlights:
    """Specular highlight boost applied before the blur.

    Real out-of-focus lights are far brighter than the clipped 1.0 a photo
    stores; boosting near-clipped pixels lets them bloom into bright bokeh
    discs instead of grey smudges (Photoshop Lens Blur: "specular highlights
    brightness" and "threshold").

    Attributes:
        gain: extra brightness multiplier at full clipping (0 = off); a pixel
            at or above ``threshold`` is multiplied by up to ``1 + gain``.
        threshold: sRGB-encoded luminance 0..1 above which the boost ramps in.
    """

    gain: float = 0.0
    threshold: float = 0.92


def boost_highlights(linear_rgb: np.ndarray, highlights: Highlights) -> np.ndarray:
    """Brighten near-clipped pixels so they bloom when blurred.

    Args:
        linear_rgb: (H, W, 3) float32, linear light 0..1.
        highlights: gain and threshold.

    Returns:
        (H, W, 3) float32 linear light, values may exceed 1; the input
        itself when no pixel reaches the threshold.
    """
    if highlights.gain <= 0:
        return linear_rgb
    t = float(srgb_to_linear(np.float32(min(max(highlights.threshold, 0.0), 0.999))))
    ramp = luminance(linear_rgb)
    if not ramp.size or float(ramp.max()) <= t:
        return linear_rgb
    ramp -= np.float32(t)
    ramp *= np.float32(1.0 / max(1e-6, 1.0 - t))
    np.clip(ramp, 0.0, 1.0, out=ramp)
    np.square(ramp, out=ramp)
    ramp *= np.float32(highlights.gain)
    ramp += np.float32(1.0)
    return linear_rgb * ramp[..., None]


def radius_ladder(max_radius: float) -> np.ndarray:
    """Unsigned layer radii from 0 up to at least ``max_radius``.

    Args:
        max_radius: the largest CoC radius in the image, pixels.

    Returns:
        1-D float32 array, increasing, starting at 0.
    """
    rungs = list(_LADDER)
    while rungs[-1] < max_radius:
        rungs.append(rungs[-1] * 1.26)
    n = next(i for i, r in enumerate(rungs) if r >= max_radius) + 1
    return np.asarray(rungs[: max(n, 2)], dtype=np.float32)


def signed_levels(signed_coc: np.ndarray) -> np.ndarray:
    """Signed layer radii covering the CoC range of an image, far to near.

    Args:
        signed_coc: (H, W) float32 signed CoC radius in pixels.

    Returns:
        1-D float32 array, increasing (farthest layer first), containing 0.
    """
    far = float(max(0.0, -signed_coc.min()))
    near = float(max(0.0, signed_coc.max()))
    far_rungs = radius_ladder(far)[1:] if far > 0 else np.zeros(0, np.float32)
    near_rungs = radius_ladder(near)[1:] if near > 0 else np.zeros(0, np.float32)
    return np.concatenate([-far_rungs[::-1], [0.0], near_rungs]).astype(np.float32)


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
    return np.ascontiguousarray(_push_pull_planar(planes, np.asarray(weight, np.float32)).transpose(1, 2, 0))


def _push_pull_planar(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``push_pull_fill`` on planar (C, H, W) colour; returns (C, H, W)."""
    levels = [(premultiplied, weight)]
    p, w = premultiplied, weight
    while min(w.shape) > 1:
        size = ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2)
        p = _planar_resize(p, size, cv2.INTER_AREA)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
        levels.append((p, w))
    p, w = levels[-1]
    colour = p / np.maximum(w, 1e-8)
    for p, w in reversed(levels[:-1]):
        up = _planar_resize(colour, (w.shape[1], w.shape[0]), cv2.INTER_LINEAR)
        # Trust a partly covered coarse cell more than its raw weight: the
        # weight is an average over the cell, not a confidence.
        trust = np.clip(w * 2.0, 0.0, 1.0)
        colour = p / np.maximum(w, 1e-8)
        colour -= up
        colour *= trust
        colour += up
    return colour


def working_scale(radius: float, kernel: str = "disc", kernel_radius: float | None = None) -> int:
    """Power-of-two reduction at which a blur of ``radius`` pixels is done.

    Args:
        radius: disc radius or Gaussian sigma, pixels.
        kernel: "disc" or "gaussian" (a Gaussian of sigma ``radius`` is
            treated like a disc of ``2 * radius``).
        kernel_radius: smallest kernel radius (pixels at the reduced scale)
            to keep; default ``_KERNEL_RADIUS_AT_SCALE``.

    Returns:
        1 for (nearly) sharp layers, else the largest power of two ``s >= 2``
        with ``radius / s >= kernel_radius`` (2 if none).
    """
    cap = _KERNEL_RADIUS_AT_SCALE if kernel_radius is None else kernel_radius
    extent = radius * (2.0 if kernel == "gaussian" else 1.0)
    if extent < _SHARP_RADIUS:
        return 1
    return int(2 ** max(1, math.floor(math.log2(max(extent, 1e-6) / cap))))


def convolve(image: np.ndarray, radius: float, *, kernel: str = "disc", aperture: Aperture = Aperture()) -> np.ndarray:
    """Convolve an image with the blur kernel of ``radius``, at its resolution.

    Args:
        image: (H, W) or (H, W, C) float32, C <= 4.
        radius: pixels; the aperture rim radius for ``kernel="disc"``, the
            standard deviation for ``kernel="gaussian"``.
        kernel: "disc" (the lens aperture, see ``aperture``) or "gaussian".
        aperture: iris shape for the disc kernel.

    Returns:
        float32, same shape, blurred; borders reflect.
    """
    if radius < 0.25:
        return image
    if kernel == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=radius, borderType=cv2.BORDER_REFLECT)
    return cv2.filter2D(image, -1, aperture_kernel(radius, aperture), borderType=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------------------
# Planar helpers: colour is stored as (C, h, w) so that per-pixel weights
# broadcast over contiguous rows and OpenCV filters run plane by plane.
# ---------------------------------------------------------------------------


def _planar_resize(planes: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Resize every plane of a (C, h, w) array to ``size`` = (w, h)."""
    if (planes.shape[2], planes.shape[1]) == size:
        return planes
    out = np.empty((planes.shape[0], size[1], size[0]), np.float32)
    for src, dst in zip(planes, out):
        cv2.resize(src, size, dst=dst, interpolation=interpolation)
    return out


def _planar_convolve(planes: np.ndarray, radius: float, kernel: str, aperture: Aperture) -> np.ndarray:
    """``convolve`` every plane of a (C, h, w) array, in place (OpenCV filters allow it); returns it."""
    if radius < 0.25:
        return planes
    if kernel == "gaussian":
        for plane in planes:
            cv2.GaussianBlur(plane, (0, 0), sigmaX=radius, dst=plane, borderType=cv2.BORDER_REFLECT)
    else:
        k = aperture_kernel(radius, aperture)
        for plane in planes:
            cv2.filter2D(plane, -1, k, dst=plane, borderType=cv2.BORDER_REFLECT)
    return planes


def _upsample_rows(planes: np.ndarray, scale: int, y0: int, y1: int, width: int) -> np.ndarray:
    """Rows ``y0:y1`` and columns ``:width`` of ``planes`` (C, h, w) upsampled by ``scale``.

    Equal to the same rows of a bilinear resize of the whole array to
    (h * scale, w * scale), computed from a few source rows only.
    """
    if scale == 1:
        return planes[:, y0:y1, :width]
    h = planes.shape[1]
    r0 = max(0, y0 // scale - 1)
    r1 = min(h, -(-y1 // scale) + 1)
    up = _planar_resize(planes[:, r0:r1], (planes.shape[2] * scale, (r1 - r0) * scale), cv2.INTER_LINEAR)
    return up[:, y0 - r0 * scale : y1 - r0 * scale, :width]


# ---------------------------------------------------------------------------
# Two-cluster reduction
# ---------------------------------------------------------------------------


@dataclass
class _Clusters:
    """An image reduced by ``scale``, each pixel split into a near and a far part.

    Attributes:
        scale: reduction factor (power of two).
        cover: (h, w) float32 coverage of the near part (the far part
            covers ``1 - cover``).
        near_index, far_index: (h, w) float32 mean fractional layer index of
            each part.
        near_colour, far_colour: (3, h, w) float32 planar linear colour of
            each part, premultiplied by its coverage.
    """

    scale: int
    cover: np.ndarray
    near_index: np.ndarray
    far_index: np.ndarray
    near_colour: np.ndarray
    far_colour: np.ndarray

    @classmethod
    def empty(cls, scale: int, h: int, w: int) -> _Clusters:
        f = np.float32
        return cls(scale, np.empty((h, w), f), np.empty((h, w), f), np.empty((h, w), f),
                   np.empty((3, h, w), f), np.empty((3, h, w), f))

    def write_rows(self, r0: int, other: _Clusters) -> None:
        r1 = r0 + other.cover.shape[0]
        for name in ("cover", "near_index", "far_index", "near_colour", "far_colour"):
            getattr(self, name)[..., r0:r1, :] = getattr(other, name)


def _quads(x: np.ndarray) -> list[np.ndarray]:
    """The four pixels of every 2x2 block of the last two axes, as strided views."""
    return [x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]]


def _half(x: np.ndarray) -> np.ndarray:
    """Mean over 2x2 blocks of a (h, w) or (C, h, w) array (sides even)."""
    size = (x.shape[-1] // 2, x.shape[-2] // 2)
    if x.ndim == 3:
        return _planar_resize(x, size, cv2.INTER_AREA)
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA)


def _reduce_clusters(parts: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]], scale: int) -> _Clusters:
    """Halve the resolution of per-pixel parts, keeping a near and a far part per block.

    Args:
        parts: one or two (coverage or None for 1, layer index, premultiplied
            colour) triples at the finer resolution: (h, w), (h, w),
            (3, h, w) float32, h and w even.
        scale: the reduction of the result (for the record).

    Returns:
        the (h/2, w/2) reduction: each 2x2 block's parts are split at the
        middle of their layer-index range into a near and a far part.
    """
    samples = []  # (cover view or None, index view, colour view) per block sample
    for cover, index, colour in parts:
        cq = [None] * 4 if cover is None else _quads(cover)
        samples += list(zip(cq, _quads(index), _quads(colour)))
    lo = hi = None
    for cover, index, _ in samples:
        low = index if cover is None else np.where(cover > 1e-6, index, np.float32(np.inf))
        high = index if cover is None else np.where(cover > 1e-6, index, np.float32(-np.inf))
        lo = np.array(low) if lo is None else np.minimum(lo, low, out=lo)
        hi = np.array(high) if hi is None else np.maximum(hi, high, out=hi)
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
    return _Clusters(scale, near_cover, near_index.astype(np.float32), far_index.astype(np.float32), near_colour, all_colour)


#: Rows of full-resolution pixels processed at a time (even, for the first
#: 2x2 reduction), so that no full-size temporary is ever allocated. Each
#: strip's temporaries (about 20 planes) exist once per thread: 64 rows of a
#: 24 MP image are about 30 MB per thread, and were no slower than 256 rows
#: (12 MP depth render, best of 4: 1.07 s against 1.11 s).
_STRIP_ROWS = 64


#: Strips are processed by this many threads (NumPy releases the GIL in
#: its array loops, so the mostly single-threaded elementwise work of the
#: full-resolution passes runs on every core).
_STRIP_THREADS = max(1, min(4, os.cpu_count() or 1))
_strip_pool: ThreadPoolExecutor | None = None
#: Above this many pixels, depth units are rendered one at a time, not one
#: per thread: each unit in flight holds several reduced planes (about 0.3 GB
#: at 24 MP). Measured at 24 MP, CoC 1 % (benchmarks/bench_render.py): peak
#: 1.42 GB with one unit in flight, 1.78 GB with two, time within noise.
_PARALLEL_UNITS_MAX_PIXELS = 16_000_000


def _pool() -> ThreadPoolExecutor:
    """The renderer's thread pool, created on first use."""
    global _strip_pool
    if _strip_pool is None:
        _strip_pool = ThreadPoolExecutor(_STRIP_THREADS, thread_name_prefix="depthblur-render")
    return _strip_pool


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool on demand."""
    global _strip_pool
    _strip_pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _for_each_strip(work, height: int) -> None:
    """Call ``work(y0, y1)`` for every strip of ``_STRIP_ROWS`` rows of ``height``, on a thread pool.

    ``work`` must only write rows ``y0:y1`` of shared outputs (strips are
    independent, so the result does not depend on the threading).
    """
    starts = list(range(0, height, _STRIP_ROWS))
    for _ in _in_order(lambda y0: work(y0, min(height, y0 + _STRIP_ROWS)), starts, _STRIP_THREADS):
        pass  # re-raises a strip's exception here


def _in_order(work, keys: list, ahead: int):
    """Yield ``work(key)`` for each key in order, computing up to ``ahead`` of them at once on the pool.

    Bounded look-ahead: at most ``ahead`` results exist beyond the one
    being consumed, so memory stays that of a few layers. ``work`` must not
    use the pool itself.
    """
    if ahead <= 1 or len(keys) <= 1:
        for key in keys:
            yield work(key)
        return
    pending = [_pool().submit(work, key) for key in keys[:ahead]]
    for i in range(len(keys)):
        result = pending.pop(0).result()
        if i + ahead < len(keys):
            pending.append(_pool().submit(work, keys[i + ahead]))
        yield result


def _reflect_index(n: int, padded: int) -> np.ndarray:
    """Indices 0..padded-1 into an axis of length n, reflected past the end."""
    i = np.arange(padded)
    return np.where(i < n, i, 2 * n - 1 - i).clip(0, n - 1)


def _cluster_pyramid(scene: _Scene, shape: tuple[int, int], max_scale: int) -> dict[int, _Clusters]:
    """Two-cluster reductions of the image at 2, 4, ... ``max_scale``.

    Args:
        scene: the image and its layer index, read in strips.
        shape: (PH, PW) padded size, multiples of ``max_scale`` (the image is
            reflected past its edges).
        max_scale: the coarsest reduction.
    """
    h, w = scene.coc.shape
    ph, pw = shape
    cols = None if pw == w else _reflect_index(w, pw)
    rows = _reflect_index(h, ph)
    level = _Clusters.empty(2, ph // 2, pw // 2)

    def reduce_strip(y0: int, y1: int) -> None:
        colour, index = scene.rows(slice(y0, y1) if y1 <= h else rows[y0:y1])
        if cols is not None:
            colour, index = colour[:, cols], index[:, cols]
        planes = np.ascontiguousarray(colour.transpose(2, 0, 1))
        level.write_rows(y0 // 2, _reduce_clusters([(None, np.ascontiguousarray(index), planes)], 2))

    _for_each_strip(reduce_strip, ph)
    pyramid = {2: level}
    scale = 4
    while scale <= max_scale:
        c = pyramid[scale // 2]
        parts = [(c.cover, c.near_index, c.near_colour), (1.0 - c.cover, c.far_index, c.far_colour)]
        pyramid[scale] = _reduce_clusters(parts, scale)
        scale *= 2
    return pyramid


def _tent_into(x: np.ndarray, k: float, out: np.ndarray) -> np.ndarray:
    """``out = max(1 - |x - k|, 0)``, the layer weight of index ``x`` in layer ``k``."""
    np.subtract(x, np.float32(k), out=out)
    np.abs(out, out=out)
    np.subtract(np.float32(1.0), out, out=out)
    return np.maximum(out, 0.0, out=out)


def _ramp_into(x: np.ndarray, k: float, out: np.ndarray) -> np.ndarray:
    """``out = clip(x - k + 1, 0, 1)``: weight of index ``x`` in layer ``k`` and nearer."""
    np.subtract(x, np.float32(k - 1.0), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(frozen=True)
class _Unit:
    """Pixels blurred on one or two rungs and composited as one.

    Attributes:
        rungs: the rungs (layer indices), increasing.
        lo, hi: the unit holds, of every pixel with layer index ``lo <= x <
            hi``, the tent weights of ``rungs`` (all of it for a slab between
            two rungs).
    """

    rungs: tuple[int, ...]
    lo: int
    hi: int

    def weight_into(self, x: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
        """Weight of index ``x`` in the unit's part on rung ``k``."""
        _tent_into(x, k, out)
        if self.lo > k - 1:
            np.copyto(out, 0.0, where=x < self.lo)
        if self.hi < k + 1:
            np.copyto(out, 0.0, where=x >= self.hi)
        return out

    def nearer_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Weight of index ``x`` in the units nearer than this one."""
        top = self.rungs[-1]
        if self.hi > top:  # the rest of the top rung's tent is nearer
            return _ramp_into(x, top + 1, out)
        return np.greater_equal(x, np.float32(self.hi), out=out)


def _units(layered: list[bool]) -> list[_Unit]:
    """The units of a ladder of rungs, far to near.

    Args:
        layered: per rung, whether its whole tent is one unit (a layer).

    Between two rungs that are not layered, a slab: the surfaces there are
    blurred on both rungs and the two blurs summed, so a surface's coverage
    near its own edge is counted once (composited *over* each other, two
    layers count it up to 12.5 % twice). Beside a layered rung, the other
    rung's half tent is a unit of its own.
    """
    last = len(layered) - 1
    units = []
    for k in range(last + 1):
        if layered[k]:
            units.append(_Unit((k,), k - 1, k + 1))
            continue
        if k > 0 and layered[k - 1]:
            units.append(_Unit((k,), k - 1, k))  # the upper half of the interval below
        if k < last and not layered[k + 1]:
            units.append(_Unit((k, k + 1), k, k + 1))  # the slab above
        elif k < last:
            units.append(_Unit((k,), k, k + 1))  # the lower half of the interval above
    # The nearest rung's own pixels (index == last) belong to the last unit.
    units[-1] = _Unit(units[-1].rungs, units[-1].lo, last + 1)
    return units


def _unit_inputs(c: _Clusters, unit: _Unit, rungs: tuple[int, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """Parts of ``unit`` on ``rungs`` at ``c``'s scale.

    Returns:
        ((4, h, w) planar array per rung: colour premultiplied by the part's
        weight in [:3], the weight in [3]; (h, w) weight of the units nearer).
    """
    h, w = c.cover.shape
    parts = [np.empty((4, h, w), np.float32) for _ in rungs]
    nearer = np.empty((h, w), np.float32)
    a = np.empty((h, w), np.float32)
    tmp = np.empty((h, w), np.float32)
    clusters = ((c.cover, c.near_index, c.near_colour), (1.0 - c.cover, c.far_index, c.far_colour))
    for first, (cover, index, colour) in zip((True, False), clusters):
        for k, part in zip(rungs, parts):
            unit.weight_into(index, k, a)
            # colour is premultiplied by cover already
            if first:
                np.multiply(a, colour, out=part[:3])
                np.multiply(a, cover, out=part[3])
            else:
                for i in range(3):
                    part[i] += np.multiply(a, colour[i], out=tmp)
                part[3] += np.multiply(a, cover, out=tmp)
        unit.nearer_into(index, a)
        if first:
            np.multiply(a, cover, out=nearer)
        else:
            nearer += np.multiply(a, cover, out=tmp)
    return parts, nearer


class _LayerIndex:
    """Fractional layer index of pixels: ``interp(coc, levels, 0..L-1)``.

    Looked up on a grid of 1/32 pixel anchored at 0 (so in-focus pixels get
    their layer's index exactly). Called on strips of rows, so that no
    full-size index array is ever kept.
    """

    _STEP = 32.0

    def __init__(self, levels: np.ndarray):
        self.g0 = int(math.floor(float(levels[0]) * self._STEP))
        g1 = int(math.ceil(float(levels[-1]) * self._STEP))
        grid = np.arange(self.g0, g1 + 1, dtype=np.float64) / self._STEP
        self.lut = np.interp(grid, levels, np.arange(len(levels), dtype=np.float64)).astype(np.float32)

    def __call__(self, coc_rows: np.ndarray) -> np.ndarray:
        """(h, w) float32 signed CoC (pixels) -> (h, w) float32 layer index."""
        q = coc_rows * np.float32(self._STEP)
        q -= np.float32(self.g0 - 0.5)
        idx = q.astype(np.int32)
        np.clip(idx, 0, len(self.lut) - 1, out=idx)
        return np.take(self.lut, idx, out=q)


@dataclass
class _Scene:
    """The renderer's input, read a strip of rows at a time.

    Attributes:
        rgb: (H, W, 3) float32 colour, before the highlight boost.
        srgb: ``rgb`` is sRGB-encoded and is decoded as it is read.
        coc: (H, W) float32 signed CoC radius, pixels.
        index: CoC -> fractional layer index.
        highlights: boost applied to each strip as it is read.
    """

    rgb: np.ndarray
    srgb: bool
    coc: np.ndarray
    index: _LayerIndex
    highlights: Highlights

    def rows(self, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n, W, 3) boosted linear colour, (n, W) layer index) of the given rows."""
        colour = srgb_to_linear(self.rgb[rows]) if self.srgb else self.rgb[rows]
        return boost_highlights(colour, self.highlights), self.index(self.coc[rows])


# ---------------------------------------------------------------------------
# The renderer
# ---------------------------------------------------------------------------


def render_depth_of_field(
    linear_rgb: np.ndarray,
    signed_coc: np.ndarray,
    *,
    kernel: str = "disc",
    aperture: Aperture = Aperture(),
    highlights: Highlights = Highlights(),
    levels: np.ndarray | None = None,
    srgb: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render depth of field by layered, premultiplied, depth-ordered blur.

    Args:
        linear_rgb: (H, W, 3) float32, **linear light** 0..1 (sRGB-encoded
            0..1 with ``srgb=True``).
        signed_coc: (H, W) float32 signed circle-of-confusion radius in
            pixels: > 0 nearer than the focal plane, < 0 farther, 0 sharp.
            For ``kernel="gaussian"`` the magnitude is the Gaussian sigma.
        kernel: "disc" (lens aperture) or "gaussian".
        aperture: iris shape for the disc kernel.
        highlights: specular boost applied before blurring.
        levels: optional increasing signed radii of the layers (must span
            the CoC range); by default a ladder of about 1.3x steps. Passing
            exactly two levels, e.g. ``[-R, 0]``, with CoC ``-R * (1 - matte)``
            gives a two-layer subject/background render where the matte is
            the subject's alpha.
        srgb: the image is sRGB-encoded; it is decoded to linear light
            strip by strip as it is read, which saves a full-size linear
            copy. The blur is in linear light and the result linear either
            way.
        out: optional (H, W, 3) float32 C-contiguous array for the result;
            it may be ``linear_rgb`` itself (each strip of the input is read
            before the same strip is written), which saves a full-size image.

    Returns:
        (H, W, 3) float32 linear light (may exceed 1 where highlights were
        boosted; clip or tone-map when encoding); ``out`` when given.

    Raises:
        ValueError: on mismatched shapes, a bad ``out``, or levels that do
            not span the CoC.
    """
    rgb = np.asarray(linear_rgb, dtype=np.float32)
    coc = np.asarray(signed_coc, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or coc.shape != rgb.shape[:2]:
        raise ValueError(f"expected (H, W, 3) image and (H, W) CoC, got {rgb.shape} and {coc.shape}")
    if out is not None and (out.shape != rgb.shape or out.dtype != np.float32 or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous float32 array of shape {rgb.shape}")
    levels = signed_levels(coc) if levels is None else np.asarray(levels, dtype=np.float32)
    if levels.ndim != 1 or np.any(np.diff(levels) <= 0):
        raise ValueError("levels must be strictly increasing")
    if coc.min() < levels[0] - 1e-3 or coc.max() > levels[-1] + 1e-3:
        raise ValueError(f"levels {levels[0]}..{levels[-1]} do not span the CoC {coc.min()}..{coc.max()}")
    if len(levels) == 1:
        linear = srgb_to_linear(rgb) if srgb else rgb
        blurred = convolve(boost_highlights(linear, highlights), abs(float(levels[0])), kernel=kernel, aperture=aperture)
        if out is None:
            return blurred
        out[...] = blurred
        return out
    h, w = coc.shape
    # Reductions are powers of two that keep the reduced image usable.
    scale_cap = 2 ** max(1, int(math.floor(math.log2(max(2, min(h, w) // _MIN_REDUCED_SIDE)))))
    # With few layers, each can afford a larger kernel: crisper bokeh rims.
    cap = _KERNEL_RADIUS_AT_SCALE if len(levels) > 2 else _KERNEL_RADIUS_FEW_LAYERS
    scales = [min(working_scale(abs(float(v)), kernel, cap), scale_cap) for v in levels]
    pivot = int(np.argmin(np.abs(levels)))  # the sharpest layer
    # Only the sharpest layer is ever rendered at full resolution.
    scales = [s if k == pivot else max(s, 2) for k, s in enumerate(scales)]
    fill_scale = min(_FILL_SCALE, scale_cap)
    max_scale = max(max(scales), fill_scale)
    ph, pw = h + (-h) % max_scale, w + (-w) % max_scale
    scene = _Scene(rgb, srgb, coc, _LayerIndex(levels), highlights)
    pyramid = _cluster_pyramid(scene, (ph, pw), max_scale)

    def size_at(s: int) -> tuple[int, int]:
        return (pw // s, ph // s)

    def to_scale(img: np.ndarray, s: int) -> np.ndarray:
        return _planar_resize(img, size_at(s), cv2.INTER_LINEAR)

    def blurred_to_scale(img: np.ndarray, s: int) -> np.ndarray:
        """``to_scale`` for blurred units and stacks: bicubic.

        A blurred unit is smooth at its scale; bilinear interpolation blurs
        it again by a triangle as wide as the scale step, compounded as the
        stacks go from coarse to fine, and softens bokeh rims
        (benchmarks/bench_accuracy.py: bicubic +0.4 dB, +0.45 dB on the
        half-size scenes of tests/test_reference.py, at no measurable cost).
        """
        return _planar_resize(img, size_at(s), cv2.INTER_CUBIC)

    layered = [k == pivot or scales[k] < _SLAB_MIN_SCALE for k in range(len(levels))]
    units = _units(layered)
    centre = next(i for i, u in enumerate(units) if u.rungs == (pivot,))  # the sharpest rung's unit

    def unit_scale(u: _Unit) -> int:
        return min(scales[k] for k in u.rungs)

    # Behind nearer units, unit u is extended with coverage ``share_u``: its
    # own weight's fraction of the weight at or behind it (1 - nearer_u),
    # interpolated into the hidden area by push-pull. Composited back to
    # front, the extensions of all units behind a foreground edge then
    # divide the hidden area among them in the proportions seen around it,
    # instead of each claiming all of it (benchmarks/bench_accuracy.py, with
    # layers: the earlier limit, a box of 1.25x the kernel extent around the
    # layer's own pixels, scored 0.6 dB lower, 0.9 dB lower on the half-size
    # scenes of tests/test_reference.py; the product of both 0.1 dB lower).
    def extension(parts: list[np.ndarray], nearer: np.ndarray) -> list[np.ndarray]:
        """A unit's extension behind nearer units, at the scale of its inputs.

        Args:
            parts, nearer: ``_unit_inputs`` of all of the unit's rungs.

        Returns:
            (4, h, w) per rung: the rung's part of the fill colour times the
            share in [:3], of the share in [3]. A slab's extension is split
            between its rungs by the fill's position between them
            (interpolated like the colour).
        """
        total = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        weight = total[3]
        # Colour, and for a slab the upper rung's weight (the position).
        filled = _push_pull_planar(total[:3] if len(parts) == 1 else np.concatenate([total[:3], parts[1][3:]]), weight)
        ext = np.empty((4,) + weight.shape, np.float32)
        np.clip(_push_pull_planar(weight[None], np.subtract(np.float32(1.0), nearer))[0], 0.0, 1.0, out=ext[3])
        np.multiply(filled[:3], ext[3], out=ext[:3])
        if len(parts) == 1:
            return [ext]
        upper = ext * np.clip(filled[3], 0.0, 1.0)
        return [np.subtract(ext, upper, out=ext), upper]

    def render_unit(u: _Unit) -> np.ndarray | None:
        """Unit u extended, blurred on its rungs and summed: (4, h, w) at its scale, or None if empty."""
        s_unit = unit_scale(u)
        fs = max(s_unit, fill_scale)
        fs_parts, fs_nearer = _unit_inputs(pyramid[fs], u, u.rungs)
        if max(float(p[3].max()) for p in fs_parts) <= 1e-6:
            return None  # nothing at this depth (its extension has nothing to extend)
        exts = extension(fs_parts, fs_nearer) if fs_nearer.max() > 1e-6 else None
        total = None
        for i, k in enumerate(u.rungs):
            s = scales[k]
            if s == fs:
                part, nearer = fs_parts[i], fs_nearer
            else:
                (part,), nearer = _unit_inputs(pyramid[s], u, (k,))
            if exts is not None:
                # Extend the unit behind nearer ones with its own colours.
                ext = to_scale(exts[i], s)
                ext *= nearer
                part += ext
            blurred = blurred_to_scale(_planar_convolve(part, abs(float(levels[k])) / s, kernel, aperture), s_unit)
            total = blurred if total is None else np.add(total, blurred, out=total)
        return total

    # Units are rendered a few at a time on the thread pool, in the order
    # they are composited (one at a time on very large images: memory).
    order = units[:centre] + units[:centre:-1] + ([units[centre]] if scales[pivot] > 1 else [])
    in_flight = _STRIP_THREADS if h * w <= _PARALLEL_UNITS_MAX_PIXELS else 1
    rendered = _in_order(render_unit, order, in_flight)
    # Behind the sharpest rung's unit: back to front, coarse to fine.
    behind = None
    for u in units[:centre]:
        layer = next(rendered)
        if layer is None:
            continue
        if behind is None:
            behind = layer[:3]  # over black
        else:
            behind = blurred_to_scale(behind, unit_scale(u))
            behind *= 1.0 - layer[3]
            behind += layer[:3]
    # In front of it: front to back (over is associative), coarse to fine.
    front = None
    for u in units[:centre:-1]:
        layer = next(rendered)
        if layer is None:
            continue
        if front is None:
            front = layer
        else:
            front = blurred_to_scale(front, unit_scale(u))
            layer *= 1.0 - front[3]
            front += layer
    # The sharpest rung's unit, at its own scale (full resolution when sharp).
    s = scales[pivot]
    if s > 1:
        layer = next(rendered)
        if layer is None:
            layer = np.zeros((4,) + size_at(s)[::-1], np.float32)
        if behind is not None:
            layer[:3] += (1.0 - layer[3]) * blurred_to_scale(behind, s)
        pivot_colour, behind, fill = layer[:3], None, None
    else:
        pivot_colour, fill = None, None
        if front is not None:
            parts, nearer = _unit_inputs(pyramid[fill_scale], units[centre], (pivot,))
            if parts[0][3].max() > 1e-6:
                fill = extension(parts, nearer)[0]
    pyramid.clear()  # peak memory: the reductions are no longer needed
    layer = None
    if out is None:
        out = np.empty(rgb.shape, np.float32)
    return _compose_full(scene, pivot, s, pivot_colour, behind, fill, front, fill_scale, pw, out)


def _compose_full(scene, k, s, pivot_colour, behind, fill, front, fill_scale, padded_width, out) -> np.ndarray:
    """Full-resolution composite, strip by strip: front over (sharp layer over behind).

    When the sharpest layer ``k`` is sharp (``s == 1``):
    ``out = rgb * w + fill * nearer + (1 - cum) * behind`` with ``cum = w + nearer``;
    otherwise ``pivot_colour`` (3, h/s, w/s) already holds it over what is behind.
    Reduced inputs are planar and upsampled bilinearly one strip at a time.
    """
    h, w = scene.coc.shape

    def scale_of(planes: np.ndarray) -> int:
        return padded_width // planes.shape[2]

    def compose_strip(y0: int, y1: int) -> None:
        if s == 1:
            colour, ts = scene.rows(slice(y0, y1))
            weight = _tent_into(ts, k, np.empty(ts.shape, np.float32))
            strip = np.multiply(weight, colour.transpose(2, 0, 1))
            cum = weight.copy()
            if fill is not None:
                nearer = _ramp_into(ts, k, np.empty(ts.shape, np.float32))
                nearer -= weight
                ext = _upsample_rows(fill, fill_scale, y0, y1, w)
                strip += nearer * ext[:3]
                cum += nearer * ext[3]
            if behind is not None:
                np.subtract(np.float32(1.0), cum, out=cum)
                strip += cum * _upsample_rows(behind, scale_of(behind), y0, y1, w)
        else:
            strip = np.array(_upsample_rows(pivot_colour, s, y0, y1, w))
        if front is not None:
            f = _upsample_rows(front, scale_of(front), y0, y1, w)
            strip *= 1.0 - f[3]
            strip += f[:3]
        out[y0:y1] = strip.transpose(1, 2, 0)

    _for_each_strip(compose_strip, h)
    return out
