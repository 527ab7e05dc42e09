"""Layered depth-of-field renderer (the core of ``depth``; ``bokeh``'s two layers have a short path in
:mod:`~depthblur_cli.render.bokeh`).

Given a linear-light image and a per-pixel *signed* circle-of-confusion
radius (pixels; > 0 nearer than the focal plane, < 0 farther, 0 in focus),
the scene is split at a ladder of blur levels
(:mod:`~depthblur_cli.render.levels`) into layers
(:mod:`~depthblur_cli.render.layers`), each blurred with the aperture and
composited with **premultiplied alpha** in depth order
(:mod:`~depthblur_cli.render.compositing`):

1. Layer *u* holds its pixels (weight ``w_u``) and is *extended behind
   everything nearer* with colours filled in from its own pixels by
   push-pull interpolation, covering there only its share of what lies at
   or behind its depth (:mod:`~depthblur_cli.render.fill`). Where a nearer
   blurred layer becomes partly transparent, the background revealed behind
   it is that fill, never the foreground's colour.
2. The premultiplied colour and the coverage are convolved with the
   aperture kernel of each level's radius and summed.
3. Layers are composited with *over*: behind the focal layer back to front,
   in front of it front to back, and the two stacks around the focal layer
   last.

So a sharp subject never smears into the blurred background (it is not in
the background layers at all: no halo), and a blurred foreground spills
softly over a sharp background (partial occlusion). The scheme follows the
layered gather approaches surveyed in Barsky and Kosloff, "Algorithms for
Rendering Depth of Field Effects in Computer Graphics", WSEAS 2008.

**Speed.** A level blurred by a CoC of ``r`` pixels has no detail finer
than about ``r``, so its layers are built, filled, blurred and composited
on a copy of the image reduced by a power of two ``s`` (``r / s`` between
:data:`~depthblur_cli.render.levels.KERNEL_RADIUS_AT_REDUCTION` and twice
that), taken from a depth-aware pyramid (:mod:`~depthblur_cli.render.pyramid`),
and only the focal layer touches full resolution (with the slight defocus
it holds, blurred by :mod:`~depthblur_cli.render.slight`). The work grows with the
pixel count, not with the blur radius squared. Full resolution is read and
written in strips of rows (the sRGB decode, highlight boost and level index
are done per strip), so no full-size temporary exists besides the output;
strips, and the layers of a render up to :data:`PARALLEL_LAYERS_MAX_PIXELS`,
run on a small thread pool (:mod:`~depthblur_cli.threads`), and the
result does not depend on the thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from depthblur_cli import threads
from depthblur_cli.colour import decode_srgb, linear_to_srgb8
from depthblur_cli.render.compositing import (
    FocalComposite,
    bicubic_resampler,
    compose_full_resolution,
    stack_back_to_front,
    stack_front_to_back,
)
from depthblur_cli.render.edges import RADIUS as EDGE_RADIUS
from depthblur_cli.render.edges import EdgeSplit, find_edge_split, split_parts
from depthblur_cli.render.fill import layer_extension
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture, aperture_kernel
from depthblur_cli.render.layers import INTERVAL_MIN_REDUCTION, Layer, layer_inputs, split_into_layers
from depthblur_cli.render.levels import (
    KERNEL_RADIUS_AT_REDUCTION,
    KERNEL_RADIUS_FEW_LEVELS,
    LevelIndex,
    hat_weight_into,
    reduction_for_radius,
    signed_levels,
)
from depthblur_cli.render.lights import Lights, Splats, find_lights
from depthblur_cli.render.planar import convolve_planes, resize_planes, upsample_rows
from depthblur_cli.render.pyramid import Clusters, Part, cluster_pyramid
from depthblur_cli.render.slight import MARGIN as SLIGHT_MARGIN
from depthblur_cli.render.slight import SLIGHT_MAX_COC, SlightDefocus

#: Lights blurred by more than this (CoC radius, pixels) stay in the layers:
#: their discs are so wide and dim that the layers' rim does, and their
#: full-resolution kernels would be large.
MAX_LIGHT_COC = 256.0
#: Reduction at which the fill behind nearer layers is computed at least.
FILL_REDUCTION = 4
#: Reduced images keep at least this many pixels on their shorter side.
MIN_REDUCED_SIDE = 24
#: Above this many pixels, layers are rendered one at a time, not one per
#: thread (OpenCV's filters and the strip work still use every core): each
#: layer in flight holds a few reduced planes (about 0.1 GB at 12 MP, 0.2 GB
#: at 24 MP). Measured end to end at 12 MP (fresh processes, 4 interleaved
#: rounds): with two in flight up to 16 MP, ``depth --depth-map`` took
#: 1.34 s and 625 MB against 1.38 s and 561 MB with one, but ``depth`` with
#: the depth model and the matte peaked at 694-733 MB against 616 MB, past
#: the 0.7 GB the command should stay within at 12 MP; at 24 MP two reach
#: 1.23-1.27 GB (one: 1.06 GB).
PARALLEL_LAYERS_MAX_PIXELS = 4_000_000


def convolve(image: np.ndarray, radius: float, *, kernel: str = "disc", aperture: Aperture = Aperture()) -> np.ndarray:
    """Convolve an image with the blur kernel of ``radius``, at its resolution.

    Args:
        image: (H, W) or (H, W, C) float32, C <= 4.
        radius: pixels; the aperture rim radius for ``kernel="disc"``, the
            standard deviation for ``kernel="gaussian"``.
        kernel: "disc" (the lens aperture, see ``aperture``) or "gaussian".
        aperture: iris shape for the disc kernel.

    Returns:
        float32, same shape, blurred; borders reflect. The input itself when
        ``radius`` < 0.25.
    """
    if radius < 0.25:
        return image
    if kernel == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=radius, borderType=cv2.BORDER_REFLECT)
    return cv2.filter2D(image, -1, aperture_kernel(radius, aperture), borderType=cv2.BORDER_REFLECT)


@dataclass
class _Scene:
    """The renderer's input, read a strip of rows at a time.

    Attributes:
        rgb: (H, W, 3) float32 colour, or uint8 sRGB, before the highlight boost.
        srgb: ``rgb`` is sRGB-encoded and is decoded as it is read.
        coc: (H, W) float32 signed CoC radius, pixels.
        index: CoC -> fractional level index.
        lights: the scene's lights (:mod:`~depthblur_cli.render.lights`),
            filled with their background as strips are read, or None.
        focal: the index of the sharp focal level, whose edge pixels are
            split, or None (no sharp level: nothing to split).
        splits: each strip's split, by its first row, once found.
    """

    rgb: np.ndarray
    srgb: bool
    coc: np.ndarray
    index: LevelIndex
    lights: Lights | None
    focal: int | None = None
    slight: SlightDefocus | None = None
    slight_lights: Splats | None = None
    sharp_index: LevelIndex | None = None
    splits: dict[int, EdgeSplit | None] = field(default_factory=dict)

    def pyramid_parts(self, rows: slice | np.ndarray) -> list[Part]:
        """The rows as the blurred layers see them: a split pixel wholly on its blurred side."""
        return self.parts(rows, blurred_only=True)

    def parts(self, rows: slice | np.ndarray, *, blurred_only: bool = False) -> list[Part]:
        """The parts of the pixels of the given rows: mixed pixels at the sharp focal layer's edges
        are split in two (:mod:`~depthblur_cli.render.edges`), others are one part.

        A strip's split is found the first time the strip is read (the
        pyramid's pass, with a margin of rows around it, while the input is
        intact) and kept, sparse, for the composite's pass, which may write
        its output over the input.
        """
        if self.focal is None or not isinstance(rows, slice):
            colour, index = self.rows(rows)
            return [(None, index, colour)]
        y0, y1 = rows.start or 0, rows.stop
        if y0 in self.splits:
            colour, index = self.rows(rows)
        else:  # read once with the margin the split needs, then keep the strip's own rows
            a, b = max(0, y0 - EDGE_RADIUS), min(self.coc.shape[0], y1 + EDGE_RADIUS)
            around, around_index = self.rows(slice(a, b))
            core = slice(y0 - a, y1 - a)
            # With slight defocus in the focal layer, only its in-focus pixels are a sharp side to split at.
            edge_index = around_index if self.sharp_index is None else self.sharp_index(self.coc[a:b])
            self.splits[y0] = find_edge_split(around, edge_index, self.focal, core, soft_edges=self.slight is None)
            colour, index = around[core], around_index[core]
        return split_parts(colour, index, self.focal, self.splits[y0], blurred_only=blurred_only)

    def slight_layer(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The focal layer of the rows with its slight defocus blurred at full resolution (``slight``).

        Returns:
            ((3, n, W) premultiplied linear colour, (n, W) coverage, (n, W)
            each pixel's own weight in it), or None when no pixel within
            reach of the rows is slightly defocused.
        """
        assert self.slight is not None and self.focal is not None
        a, b = max(0, y0 - SLIGHT_MARGIN), min(self.coc.shape[0], y1 + SLIGHT_MARGIN)
        coc = self.coc[a:b]
        weight = hat_weight_into(self.index(coc), self.focal, np.empty(coc.shape, np.float32))
        lights = self.slight_lights
        add = None if lights is None else (lambda planes: lights.add_rows(planes, y0))
        core = slice(y0 - a, y1 - a)
        layer = self.slight.layer(lambda: self.colour(slice(a, b)), coc, weight, core, add)
        return None if layer is None else (*layer, weight[core])

    def rows(self, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n, W, 3) linear colour, lights filled with their background; (n, W) level index) of the rows."""
        return self.colour(rows), self.index(self.coc[rows])

    def colour(self, rows: slice | np.ndarray) -> np.ndarray:
        """(n, W, 3) linear colour of the rows, lights filled with their background."""
        colour = decode_srgb(self.rgb[rows]) if self.srgb else self.rgb[rows]
        if self.lights is not None:
            if not self.srgb:
                colour = colour.copy()  # never write into the caller's image
            if isinstance(rows, slice):
                self.lights.fill_rows(colour, rows.start or 0)
            else:  # reflected rows past the bottom edge (a few)
                for i, r in enumerate(rows):
                    self.lights.fill_rows(colour[i : i + 1], int(r))
        return colour


def _add_extension(part: np.ndarray, ext: np.ndarray, factor: int, nearer: np.ndarray) -> None:
    """``part += bilinear enlargement of ext by factor * nearer``, in strips of rows on the pool.

    Args:
        part: (4, h, w) float32 layer part at its reduction, added to in place.
        ext: (4, h / factor, w / factor) float32 extension at the fill's reduction.
        factor: the power of two between the two reductions (1: the same), >= 1.
        nearer: (h, w) float32 weight of what is nearer.
    """

    def work(y0: int, y1: int) -> None:
        part[:, y0:y1] += upsample_rows(ext, factor, y0, y1, part.shape[2]) * nearer[y0:y1]

    threads.for_each_strip(work, part.shape[1], width=part.shape[2])


class _LayerRenderer:
    """Blurs each layer at its reduction, from the depth-aware pyramid.

    Args (constructor):
        levels: signed CoC radius of each blur level, pixels.
        reductions: reduction of each level.
        pyramid: the scene's two-cluster reductions.
        fill_reduction: the coarsest reduction the fill behind nearer layers uses.
        padded_shape: (PH, PW) of the padded image.
        kernel, aperture: the blur kernel.
    """

    def __init__(self, levels, reductions, pyramid, fill_reduction, padded_shape, kernel, aperture) -> None:
        self.levels = levels
        self.reductions = reductions
        self.pyramid: dict[int, Clusters] = pyramid
        self.fill_reduction = fill_reduction
        self.padded_shape = padded_shape
        self.kernel = kernel
        self.aperture = aperture

    def reduction(self, layer: Layer) -> int:
        """The reduction a layer is composited at: that of its sharpest level."""
        return min(self.reductions[k] for k in layer.levels)

    def render(self, layer: Layer) -> np.ndarray | None:
        """The layer extended, blurred on its levels and summed: (4, h, w) at its reduction, or None if empty."""
        s_layer = self.reduction(layer)
        fs = max(s_layer, self.fill_reduction)
        fs_parts, fs_nearer = layer_inputs(self.pyramid[fs], layer, layer.levels)
        if max(float(p[3].max()) for p in fs_parts) <= 1e-6:
            return None  # nothing at this depth (its extension has nothing to extend)
        exts = layer_extension(fs_parts, fs_nearer) if fs_nearer.max() > 1e-6 else None
        resample = bicubic_resampler(self.padded_shape)
        total = None
        for i, k in enumerate(layer.levels):
            s = self.reductions[k]
            if s == fs:
                part, nearer = fs_parts[i], fs_nearer
            else:
                (part,), nearer = layer_inputs(self.pyramid[s], layer, (k,))
            if exts is not None:  # extend the layer behind nearer ones with its own colours
                if s <= fs:
                    _add_extension(part, exts[i], fs // s, nearer)
                else:  # a level coarser than the fill: the extension reduced to it
                    ph, pw = self.padded_shape
                    ext = resize_planes(exts[i], (pw // s, ph // s), cv2.INTER_LINEAR)
                    ext *= nearer
                    part += ext
            blurred = resample(
                convolve_planes(part, abs(float(self.levels[k])) / s, self.kernel, self.aperture), s_layer
            )
            total = blurred if total is None else np.add(total, blurred, out=total)
        return total


def _scene(
    rgb: np.ndarray,
    srgb: bool,
    coc: np.ndarray,
    levels: np.ndarray,
    focal: int | None,
    kernel: str,
    highlights: Highlights | None,
    slight: SlightDefocus | None,
    out: np.ndarray | None,
) -> _Scene:
    """The renderer's input: its level index (flat over the slight defocus the sharp focal layer holds,
    when it does), its lights (splatted whenever the kernel is the aperture; the boost is optional)."""
    slight = slight if focal is not None else None
    index = LevelIndex(levels, SLIGHT_MAX_COC) if slight else LevelIndex(levels)
    lights = (
        find_lights(rgb, srgb, coc, highlights or Highlights(gain=0.0), max_coc=MAX_LIGHT_COC)
        if kernel == "disc"
        else None
    )
    if slight is not None and out is not None and np.shares_memory(out, rgb):
        rgb = rgb.copy()  # the slight blur reads rows around each strip: never rows already written
    scene = _Scene(rgb, srgb, coc, index, lights, focal, slight)
    if slight is not None:  # only its in-focus pixels are a sharp side to split edges at
        scene.sharp_index = LevelIndex(levels)
    return scene


def _splat_lights(
    lights: Lights | None, index: LevelIndex, focal: int, shape: tuple[int, int], aperture: Aperture
) -> tuple[Splats | None, Splats | None, Splats | None, Splats | None]:
    """Each light at full resolution with its own CoC's aperture: (those behind the focal layer; those in
    it (slight defocus, see :mod:`~depthblur_cli.render.slight`) behind the focus, and in front; those in
    front of it), each None when empty."""
    if lights is None:
        return None, None, None, None
    at = index(lights.coc[None])[0]
    groups = (at < focal, (at == focal) & (lights.coc < 0), (at == focal) & (lights.coc >= 0), at > focal)
    return tuple(lights.splat(shape, aperture, g) if g.any() else None for g in groups)  # type: ignore[return-value]


def _checked_inputs(
    image: np.ndarray,
    signed_coc: np.ndarray,
    levels: np.ndarray | None,
    srgb: bool,
    out: np.ndarray | None,
    above: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_depth_of_field`'s inputs checked: (image, CoC and levels clamped to the longer side).

    Raises:
        ValueError: as :func:`render_depth_of_field` says.
    """
    rgb = np.asarray(image)
    if rgb.dtype == np.uint8:
        if not srgb:
            raise ValueError("a uint8 image must be sRGB-encoded (srgb=True)")
    else:
        rgb = rgb.astype(np.float32, copy=False)
    coc = np.asarray(signed_coc, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or coc.shape != rgb.shape[:2]:
        raise ValueError(f"expected (H, W, 3) image and (H, W) CoC, got {rgb.shape} and {coc.shape}")
    if out is not None and (
        out.shape != rgb.shape or out.dtype not in (np.float32, np.uint8) or not out.flags.c_contiguous
    ):
        raise ValueError(f"out must be a C-contiguous float32 or uint8 array of shape {rgb.shape}")
    if not np.isfinite(coc).all():
        raise ValueError("the CoC map holds NaN or infinite values")
    # A blur wider than the image shows nothing more: radii are clamped to its longer side.
    limit = float(max(coc.shape))
    if float(coc.min()) < -limit or float(coc.max()) > limit:
        coc = np.clip(coc, -limit, limit)
    levels = signed_levels(coc, above) if levels is None else np.asarray(levels, dtype=np.float32)
    if levels.ndim != 1 or np.any(np.diff(levels) <= 0):
        raise ValueError("levels must be strictly increasing")
    if float(np.abs(levels).max()) > limit:
        # The first rung beyond the focal layer's band (``above``) stays beyond it: on an image
        # smaller than the band, a rung clamped into it would take a share of pixels that the
        # focal layer blurs whole (a flat grey 3 px wide lost 14 % of its level).
        beyond = np.abs(levels)[np.abs(levels) > above]
        bound = max(limit, float(beyond.min())) if above > 0 and beyond.size else limit
        levels = np.unique(np.clip(levels, -bound, bound))
    if coc.min() < levels[0] - 1e-3 or coc.max() > levels[-1] + 1e-3:
        raise ValueError(f"levels {levels[0]}..{levels[-1]} do not span the CoC {coc.min()}..{coc.max()}")
    return rgb, coc, levels


def render_depth_of_field(
    image: np.ndarray,
    signed_coc: np.ndarray,
    *,
    kernel: str = "disc",
    aperture: Aperture = Aperture(),
    highlights: Highlights | None = None,
    levels: np.ndarray | None = None,
    srgb: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render depth of field by layered, premultiplied, depth-ordered blur.

    Args:
        image: (H, W, 3) float32, **linear light** 0..1, or sRGB-encoded
            0..1 with ``srgb=True``, or uint8 sRGB 0..255 with ``srgb=True``
            (decoded by table lookup).
        signed_coc: (H, W) float32 signed circle-of-confusion radius in
            pixels: > 0 nearer than the focal plane, < 0 farther, 0 sharp.
            For ``kernel="gaussian"`` the magnitude is the Gaussian sigma.
            Radii beyond the image's longer side are clamped to it (a wider
            blur shows nothing more), which bounds time and memory.
        kernel: "disc" (lens aperture) or "gaussian".
        aperture: iris shape for the disc kernel.
        highlights: how much clipped lights are boosted and from which
            level a pixel counts as clipped; None (the default): lights
            (:mod:`~depthblur_cli.render.lights`) are found and splatted
            with the aperture at their recorded value, unboosted.
        levels: optional increasing signed CoC radii of the blur levels
            (must span the CoC range); by default a ladder of about 1.3x
            steps (:func:`~depthblur_cli.render.levels.signed_levels`).
            Passing exactly two levels, e.g. ``[-R, 0]``, with CoC
            ``-R * (1 - matte)`` gives a two-layer subject/background render
            where the matte is the subject's alpha.
        srgb: the image is sRGB-encoded; it is decoded to linear light
            strip by strip as it is read, which saves a full-size linear
            copy. The blur is in linear light and the result linear either
            way.
        out: optional (H, W, 3) float32 C-contiguous array for the result;
            it may be ``image`` itself (each strip of the input is read
            before the same strip is written), which saves a full-size image.
            A uint8 one gets the result sRGB-encoded and rounded, strip by
            strip (no full-size float result at all).

    Returns:
        (H, W, 3) float32 linear light (may exceed 1 where highlights were
        boosted; clip or tone-map when encoding); ``out`` when given (8-bit
        sRGB for a uint8 one).

    Raises:
        ValueError: on mismatched shapes, a bad ``out``, a uint8 image
            without ``srgb``, a CoC that is not finite, or levels that do not
            span the CoC.
    """
    # The default ladder leaves slight defocus to the focal layer, blurred there at full resolution.
    slight = SlightDefocus(aperture) if kernel == "disc" and levels is None else None
    rgb, coc, levels = _checked_inputs(image, signed_coc, levels, srgb, out, SLIGHT_MAX_COC if slight else 0.0)
    if len(levels) == 1:
        linear = decode_srgb(rgb) if srgb else rgb
        blurred = convolve(linear, abs(float(levels[0])), kernel=kernel, aperture=aperture)
        if out is None:
            return blurred
        if out.dtype == np.uint8:
            return linear_to_srgb8(np.array(blurred, np.float32), out)
        out[...] = blurred
        return out
    h, w = coc.shape
    # Reductions are powers of two that keep the reduced image usable.
    reduction_cap = 2 ** max(1, int(math.floor(math.log2(max(2, min(h, w) // MIN_REDUCED_SIDE)))))
    # With few levels, each can afford a larger kernel: crisper bokeh rims.
    cap = KERNEL_RADIUS_AT_REDUCTION if len(levels) > 2 else KERNEL_RADIUS_FEW_LEVELS
    reductions = [min(reduction_for_radius(abs(float(v)), kernel, cap), reduction_cap) for v in levels]
    focal = int(np.argmin(np.abs(levels)))  # the sharpest level
    # Only the focal level is ever rendered at full resolution (here and, with its slight defocus, in slight.py).
    reductions = [s if k == focal else max(s, 2) for k, s in enumerate(reductions)]
    fill_reduction = min(FILL_REDUCTION, reduction_cap)
    max_reduction = max(max(reductions), fill_reduction)
    padded = (h + (-h) % max_reduction, w + (-w) % max_reduction)
    sharp = reductions[focal] == 1 and float(levels[focal]) == 0.0
    scene = _scene(rgb, srgb, coc, levels, focal if sharp else None, kernel, highlights, slight, out)
    index, lights = scene.index, scene.lights
    pyramid = cluster_pyramid(scene.pyramid_parts, (h, w), padded, max_reduction)
    renderer = _LayerRenderer(levels, reductions, pyramid, fill_reduction, padded, kernel, aperture)
    resample = bicubic_resampler(padded)

    layers = split_into_layers([k == focal or reductions[k] < INTERVAL_MIN_REDUCTION for k in range(len(levels))])
    centre = next(i for i, u in enumerate(layers) if u.levels == (focal,))  # the focal level's layer
    behind_layers, front_layers = layers[:centre], layers[:centre:-1]
    s = reductions[focal]
    # Layers are rendered a few at a time on the thread pool, in the order
    # they are composited (one at a time on very large images: memory).
    order = behind_layers + front_layers + ([layers[centre]] if s > 1 else [])
    in_flight = threads.THREADS if h * w <= PARALLEL_LAYERS_MAX_PIXELS else 1
    rendered = threads.in_order(renderer.render, order, in_flight)
    behind = stack_back_to_front(((next(rendered), renderer.reduction(u)) for u in behind_layers), resample)
    front = stack_front_to_back(((next(rendered), renderer.reduction(u)) for u in front_layers), resample)
    focal_colour = fill = None
    if s > 1:  # the focal layer is blurred too: composite it over what is behind, at its reduction
        layer = next(rendered)
        if layer is None:
            layer = np.zeros((4, padded[0] // s, padded[1] // s), np.float32)
        if behind is not None:
            layer[:3] += (1.0 - layer[3]) * resample(behind[:3], s)
        focal_colour, behind = layer[:3], None
    elif front is not None:  # the sharp focal layer extends behind the blurred front
        parts, nearer = layer_inputs(pyramid[fill_reduction], layers[centre], (focal,))
        if parts[0][3].max() > 1e-6:
            fill = layer_extension(parts, nearer)[0]
    pyramid.clear()  # peak memory: the reductions are no longer needed
    if out is None:
        out = np.empty(rgb.shape, np.float32)
    light_behind, scene.slight_lights, light_focal, light_front = _splat_lights(lights, index, focal, (h, w), aperture)
    slight_layer = scene.slight_layer if scene.slight is not None else None
    composite = FocalComposite(focal, s, focal_colour, behind, fill, front, fill_reduction, padded[1],
                               light_behind, light_front, slight_layer, light_focal)  # fmt: skip
    return compose_full_resolution(scene.parts, (h, w), composite, out)
