"""Lights: small clipped out-of-focus blobs, taken out of the layers and splatted with the aperture.

A photo stores a street lamp or a specular glint as a few clipped pixels,
far dimmer than the light really was, and a layered blur at a reduced size
turns it into a soft grey smudge. Real bokeh is a crisp disc (the aperture's
shape) holding all of the light's energy. So, before the layers are built:

1. **Finding lights.** Pixels whose largest channel reaches the highlight
   threshold (sRGB) form blobs (8-connected components). A blob is a light
   when it is out of focus (the |CoC| at its centre at least :data:`MIN_LIGHT_COC`
   pixels) and small against its blur: equivalent radius ``sqrt(area / pi)``
   at most half its CoC (but :data:`POINT_RADIUS` always counts) and at most
   :data:`MAX_LIGHT_RADIUS` pixels. Large bright surfaces (a white wall, a
   sign, a sky) are not lights: they are blurred with the layers.
2. **Their energy and colour**, estimated from the rings of pixels around
   each blob (:mod:`~depthblur_cli.render.light_energy`): the background
   (the outer rings), a glow's level and width in the first two rings, or,
   for a hard-edged light, how faint its first ring is; the hue is the first
   ring's colour above the background, which clipping whitened in the core
   (a sodium lamp clips to near-white). Each clipped pixel gets the missing
   energy spread over the blob, in that hue, at most ``gain`` times the clip
   level (``--highlights``, a cap; Photoshop's Lens Blur boosts "specular
   highlights" with one global gain instead).
3. **In the layers**, a light's pixels hold the background's colour instead
   (what it covers). A blob less than :data:`MIN_EXCESS` above that
   background (a clipped speck of sensor noise on a white shirt) is not
   splatted, nor are lights past the :data:`MAX_LIGHTS` most energetic:
   those stay in the layers as they are.
4. **Splatting**: each light's excess over that background is convolved at
   full resolution with the aperture kernel of its own CoC radius (not the
   nearest blur level's), so the disc is centred on the light, has the
   aperture's anti-aliased rim, and holds the light's energy; the splats
   are composited at the depth of their lights
   (:mod:`~depthblur_cli.render.compositing`): behind the focal layer they
   are occluded by it and by everything in front; in front of it, added.

Lights are sprite-based bokeh as in real-time renderers (e.g. McIntosh,
Riecke and DiPaola, "Efficiently Simulating the Bokeh of Polygonal
Apertures in a Post-Process Depth of Field Shader", Computer Graphics Forum
2012); the vectorised steps are OpenCV's connected components, dilation and
NumPy's ``bincount``; the loop is over lights, never over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.colour import srgb_to_linear
from depthblur_cli.render import light_energy
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture, aperture_kernel

#: A blob blurred less than this (CoC radius, pixels) is in focus: never a light.
MIN_LIGHT_COC = 1.0
#: Largest equivalent radius of a light, pixels; larger clipped blobs are surfaces.
MAX_LIGHT_RADIUS = 12.0
#: A blob up to this equivalent radius can be a light however little it is blurred (larger ones must be
#: at most half their CoC).
POINT_RADIUS = 2.0
#: A light is splatted only when its recorded value stands this far above the background around it
#: (linear, clip level 1).
MIN_EXCESS = 0.25
#: Most lights splatted in one image (the most energetic); the rest are blurred with the layers.
MAX_LIGHTS = 4096
#: Most aperture-kernel pixels the splats may cost in all, per image pixel (with a floor of
#: SPLAT_WORK_MIN): the most energetic lights within it are splatted, the rest blurred with the
#: layers, so the cost follows the image's size (a 12 MP photo at radius 40 allows 7,300 lights).
SPLAT_WORK = 4.0
SPLAT_WORK_MIN = 4_000_000


@dataclass
class Lights:
    """The lights of a scene: where they are, what the layers see there, and what is splatted.

    Attributes:
        flat: (n,) int64 sorted flat indices (``y * W + x``) of the lights' pixels.
        fill: (n, 3) float32 linear colour the layers see at those pixels
            (the background around the light).
        boxes: (m, 4) int64 ``(y0, x0, y1, x1)`` bounding box of each light.
        excess: per light, (y1 - y0, x1 - x0, 3) float32 linear light to
            splat (the light's value minus the fill; 0 outside the blob).
        coc: (m,) float32 signed CoC radius of each light, pixels.
        width: the image width (to read ``flat``).
    """

    flat: np.ndarray
    fill: np.ndarray
    boxes: np.ndarray
    excess: list[np.ndarray]
    coc: np.ndarray
    width: int

    @property
    def count(self) -> int:
        """Number of lights."""
        return len(self.excess)

    def fill_rows(self, colour: np.ndarray, y0: int) -> np.ndarray:
        """Put the fill colour at the lights' pixels of rows ``y0 .. y0 + n`` of (n, W, 3) ``colour`` (in place)."""
        n = colour.shape[0]
        lo, hi = np.searchsorted(self.flat, [y0 * self.width, (y0 + n) * self.width])
        if hi > lo:
            colour.reshape(-1, 3)[self.flat[lo:hi] - y0 * self.width] = self.fill[lo:hi]
        return colour

    def splat(self, shape: tuple[int, int], aperture: Aperture, chosen: np.ndarray) -> Splats:
        """The selected lights, each convolved with the aperture of its own CoC at full resolution.

        Args:
            shape: (H, W) of the image.
            aperture: the iris shape.
            chosen: (m,) bool, which lights.

        Returns:
            :class:`Splats`: one disc patch per light, light spilling past the
            frame reflected back into it (as the layers' blur reflects at the
            borders), so no energy is lost.
        """
        h, w = shape

        def splat_one(i: int) -> tuple[int, int, np.ndarray]:
            kernel = aperture_kernel(abs(float(self.coc[i])), aperture)
            k = kernel.shape[0] // 2
            padded = cv2.copyMakeBorder(self.excess[i], k, k, k, k, cv2.BORDER_CONSTANT, value=0)
            disc = cv2.filter2D(padded, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            return _fold_into_frame(disc, int(self.boxes[i][0]) - k, int(self.boxes[i][1]) - k, h, w)

        # One convolution per light, on its own small patch; the lights on the thread pool.
        return Splats(list(threads.in_order(splat_one, [int(i) for i in np.flatnonzero(chosen)], threads.THREADS)))


@dataclass
class Splats:
    """Bokeh discs of lights, as patches placed in the frame, added to the image a strip at a time.

    Attributes:
        patches: (top, left, (ph, pw, 3) float32 linear light) per light, inside the frame.
    """

    patches: list[tuple[int, int, np.ndarray]]

    def __post_init__(self) -> None:
        self.patches.sort(key=lambda p: p[0])
        self._tops = np.array([p[0] for p in self.patches], np.int64)
        self._reach = max((p[2].shape[0] for p in self.patches), default=0)

    def add_rows(self, strip: np.ndarray, y0: int, weight: np.ndarray | None = None) -> None:
        """Add the discs' light in rows ``y0 .. y0 + n`` to planar (3, n, W) ``strip``, times (n, W) ``weight``."""
        n = strip.shape[1]
        first = int(np.searchsorted(self._tops, y0 - self._reach, side="left"))
        last = int(np.searchsorted(self._tops, y0 + n, side="left"))
        for top, left, patch in self.patches[first:last]:  # the lights whose discs reach these rows
            r0, r1 = max(y0, top), min(y0 + n, top + patch.shape[0])
            if r1 <= r0:
                continue
            part = patch[r0 - top : r1 - top].transpose(2, 0, 1)
            cols = slice(left, left + patch.shape[1])
            if weight is not None:
                part = part * weight[r0 - y0 : r1 - y0, cols]
            strip[:, r0 - y0 : r1 - y0, cols] += part


def _fold_into_frame(disc: np.ndarray, top: int, left: int, h: int, w: int) -> tuple[int, int, np.ndarray]:
    """A patch at (top, left) cut to the (h, w) frame, what lies outside reflected back in
    (row -1 onto row 0, as OpenCV's BORDER_REFLECT; what lies further out than the frame is wide is dropped)."""
    ph, pw = disc.shape[:2]
    if top >= 0 and left >= 0 and top + ph <= h and left + pw <= w:
        return top, left, disc
    y0, y1 = max(0, top), min(h, top + ph)
    x0, x1 = max(0, left), min(w, left + pw)
    if y1 <= y0 or x1 <= x0:
        return 0, 0, np.zeros((0, 0, 3), np.float32)
    rows = np.arange(top, top + ph)
    cols = np.arange(left, left + pw)
    ry = np.where(rows < 0, -rows - 1, np.where(rows >= h, 2 * h - 1 - rows, rows))
    rx = np.where(cols < 0, -cols - 1, np.where(cols >= w, 2 * w - 1 - cols, cols))
    keep_y = (ry >= y0) & (ry < y1)
    keep_x = (rx >= x0) & (rx < x1)
    out = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    folded = np.zeros((y1 - y0, pw, 3), np.float32)
    np.add.at(folded, ry[keep_y] - y0, disc[keep_y])  # rows: a few reflected onto the frame
    np.add.at(out.transpose(1, 0, 2), rx[keep_x] - x0, folded.transpose(1, 0, 2)[keep_x])
    return y0, x0, out


def _clipped_mask(rgb: np.ndarray, srgb: bool, threshold: float) -> np.ndarray:
    """(H, W) uint8: 1 where the largest channel reaches ``threshold`` (sRGB), read in strips."""
    level = threshold if srgb else float(srgb_to_linear(np.array([threshold], np.float32))[0])
    if rgb.dtype == np.uint8:  # the same pixels as for to_float(rgb): value / 255 in float32 >= level
        values = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
        first = int(np.searchsorted(values, np.float32(level)))  # the first value >= level
        low, high = (0.0,) * 3, (float(first - 1),) * 3
    else:
        below = np.nextafter(np.float32(level), np.float32(-1.0))  # every channel < level: not clipped
        low, high = (-1e30, -1e30, -1e30), (float(below),) * 3
    mask = cv2.inRange(np.ascontiguousarray(rgb), low, high)  # 255 where all channels are below
    np.equal(mask, 0, out=mask, casting="unsafe")  # 1 where a channel reaches the level
    return mask


def find_lights(
    rgb: np.ndarray, srgb: bool, coc: np.ndarray, highlights: Highlights, *, max_coc: float | None = None
) -> Lights | None:
    """The lights of a scene (see the module docstring), or None when it has none.

    Args:
        rgb: (H, W, 3) float32 image, sRGB-encoded 0..1 (``srgb``) or
            linear; or uint8 sRGB 0..255 (``srgb`` True).
        srgb: how ``rgb`` is encoded.
        coc: (H, W) float32 signed CoC radius, pixels.
        highlights: the cap on each light's boost (``gain``, in clip levels
            per clipped pixel; 0 = the recorded value) and the sRGB
            ``threshold`` from which a channel counts as clipped.
        max_coc: CoC radius beyond which nothing is a light (default: none).

    Returns:
        :class:`Lights`, or None.
    """
    mask = _clipped_mask(rgb, srgb, highlights.threshold)
    if not mask.any():
        return None
    h, w = mask.shape
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    small = area <= np.pi * MAX_LIGHT_RADIUS**2  # only these can be lights: skip large surfaces' pixels
    small[0] = False
    if not small.any():
        return None
    # A light's depth is its core's: a depth map gives the clipped glow around a
    # small lamp the depth of what is behind it, and the glow can outnumber the core.
    blob_coc = _value_nearest_centre(labels, small, stats, centroids, coc)
    mean_coc = np.abs(blob_coc)
    radius = np.sqrt(area / np.pi)
    is_light = (mean_coc >= MIN_LIGHT_COC) & (radius <= np.clip(0.5 * mean_coc, POINT_RADIUS, MAX_LIGHT_RADIUS))
    if max_coc is not None:
        is_light &= mean_coc <= max_coc
    is_light[0] = False
    if not is_light.any():
        return None
    # Renumber the lights 1..m (0 elsewhere) and work in the box that holds them and their rings.
    m = int(is_light.sum())
    # uint16 while the numbers fit (OpenCV dilates it several times faster), else float32 (exact up to 2**24).
    new = np.zeros(n, np.uint16 if m < 65536 else np.float32)
    new[is_light] = np.arange(1, m + 1)
    old = np.flatnonzero(is_light)
    top, left = stats[old, cv2.CC_STAT_TOP], stats[old, cv2.CC_STAT_LEFT]
    bottom, right = top + stats[old, cv2.CC_STAT_HEIGHT], left + stats[old, cv2.CC_STAT_WIDTH]
    reach = light_energy.REACH
    r0, c0 = max(0, int(top.min()) - reach), max(0, int(left.min()) - reach)
    r1, c1 = min(h, int(bottom.max()) + reach), min(w, int(right.max()) + reach)
    fy, fx, light_at, ring, owner, unclipped_at, colour_at = light_energy.ring_pixels(
        labels, new, mask, rgb, srgb, (r0, r1, c0, c1)
    )
    del labels
    boost, fill = light_energy.boost_and_fill(fy, fx, ring, owner, unclipped_at, colour_at, m, highlights.gain)

    on = light_at > 0  # the lights' own pixels (inside their rings), still in row-major order
    ys, xs = fy[on], fx[on]
    which = light_at[on].astype(np.int64)
    value = colour_at[on] + boost[which]
    pixel_fill = fill[which]
    ys, xs = ys + r0, xs + c0
    diff = (value - pixel_fill).astype(np.float32)
    # Only lights that stand out are splatted: a clipped speck on a near-white surface (sensor
    # noise on a white shirt makes thousands) is no brighter than what is around it, and the
    # layers blur it as well as a disc would. At most MAX_LIGHTS, the most energetic.
    standout = np.zeros(m + 1, np.float32)  # as recorded, before the boost (noise can look like glow)
    np.maximum.at(standout, which, (diff - boost[which]).max(axis=1))
    keep = standout[1:] >= MIN_EXCESS
    kernel = (2.0 * np.abs(blob_coc[old]) + 1.0) ** 2  # each splat's cost, pixels of its aperture kernel
    budget = max(SPLAT_WORK_MIN, SPLAT_WORK * h * w)
    if keep.sum() > MAX_LIGHTS or kernel[keep].sum() > budget:
        energy = np.bincount(which, weights=np.maximum(diff, 0).sum(axis=1), minlength=m + 1)[1:]
        keep = _most_energetic(keep, energy, kernel, budget)
    if not keep.any():
        return None
    if not keep.all():
        on = keep[which - 1]  # pixels of the lights kept; the others stay in the layers as they are
        ys, xs, which, diff, pixel_fill = ys[on], xs[on], which[on], diff[on], pixel_fill[on]
        renumber = np.zeros(m + 1, np.int64)
        renumber[1:][keep] = np.arange(1, int(keep.sum()) + 1)
        which = renumber[which]
        top, left, bottom, right, old = top[keep], left[keep], bottom[keep], right[keep], old[keep]
        m = int(keep.sum())
    boxes = np.stack([top, left, bottom, right], axis=1).astype(np.int64)
    flat = ys.astype(np.int64) * w + xs
    order = np.argsort(flat)
    excess = _excess_patches(ys, xs, which, diff, boxes)
    return Lights(flat[order], pixel_fill[order].astype(np.float32), boxes, excess, blob_coc[old].astype(np.float32), w)


def _excess_patches(
    ys: np.ndarray, xs: np.ndarray, which: np.ndarray, diff: np.ndarray, boxes: np.ndarray
) -> list[np.ndarray]:
    """Each light's excess over its fill, a (h, w, 3) float32 patch of its box ((m, 4) top, left, bottom, right),
    from its pixels' positions ``ys``, ``xs``, light numbers ``which`` (1..m) and excess ``diff`` (k, 3)."""
    by_light = np.argsort(which, kind="stable")
    starts = np.searchsorted(which[by_light], np.arange(1, len(boxes) + 2))
    excess = []
    for j, (top, left, bottom, right) in enumerate(boxes):  # one small patch per light
        sel = by_light[starts[j] : starts[j + 1]]
        patch = np.zeros((int(bottom - top), int(right - left), 3), np.float32)
        patch[ys[sel] - top, xs[sel] - left] = diff[sel]
        excess.append(patch)
    return excess


def _most_energetic(keep: np.ndarray, energy: np.ndarray, kernel: np.ndarray, budget: float) -> np.ndarray:
    """(m,) bool: of the lights ``keep`` names, the most energetic, at most :data:`MAX_LIGHTS` and within
    ``budget`` pixels of splat kernels (``kernel``: each light's)."""
    ranked = np.argsort(np.where(keep, -energy, np.inf), kind="stable")[: int(keep.sum())]
    within = np.cumsum(kernel[ranked]) <= budget
    kept = np.zeros_like(keep)
    kept[ranked[:MAX_LIGHTS][within[:MAX_LIGHTS]]] = True
    return kept


def _value_nearest_centre(
    labels: np.ndarray, wanted: np.ndarray, stats: np.ndarray, centroids: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """The value at each wanted blob's pixel nearest its centroid.

    Args:
        labels: (H, W) int32 blob labels (``cv2.connectedComponentsWithStats``).
        wanted: (n,) bool, the labels to look up.
        stats, centroids: that function's (n, 5) stats and (n, 2) (x, y) centroids.
        values: (H, W) array to read.

    Returns:
        (n,) float64: for each wanted label, the value at its pixel nearest its
        centroid (of equally near ones, the first in row-major order); 0 for the others.

    The pixel nearest a point is the point rounded (halves down, the first in
    row-major order); where that pixel is the blob's own (most blobs; not a
    ring, a crescent or two diagonal neighbours), it is read directly, else
    the pixels in the blob's bounding box are searched (all such blobs in
    one vectorised pass). No full-image pass.
    """
    out = np.zeros(len(centroids), np.float64)
    lab = np.flatnonzero(wanted)
    h, w = labels.shape
    cy = np.clip(np.ceil(centroids[lab, 1] - 0.5).astype(np.int64), 0, h - 1)
    cx = np.clip(np.ceil(centroids[lab, 0] - 0.5).astype(np.int64), 0, w - 1)
    hit = labels[cy, cx] == lab
    out[lab[hit]] = values[cy[hit], cx[hit]]
    miss = lab[~hit]  # blobs whose centre is not their own pixel: search their bounding boxes, all at once
    if len(miss):
        x0, y0, bw, bh = (stats[miss, i].astype(np.int64) for i in range(4))
        size = bw * bh
        owner = np.repeat(miss, size)
        local = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)  # row-major in each box
        yy = np.repeat(y0, size) + local // np.repeat(bw, size)
        xx = np.repeat(x0, size) + local % np.repeat(bw, size)
        own = labels[yy, xx] == owner
        owner, yy, xx = owner[own], yy[own], xx[own]
        dist = (yy - centroids[owner, 1]) ** 2 + (xx - centroids[owner, 0]) ** 2
        order = np.lexsort((dist, owner))  # stable: equally near pixels stay in row-major order
        first = order[np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]]
        out[owner[first]] = values[yy[first], xx[first]]
    return out
