"""Mixed pixels at the focal layer's edges: split into a sharp and a blurred part, colours unmixed.

An anti-aliased edge pixel of an in-focus subject holds some of the subject
(``alpha``) and some of the background: ``I = alpha F + (1 - alpha) B``. Given
wholly to one layer, it goes wrong either way: given to the blurred
background, the subject's share is blurred away and its colour spreads into
the blur as a halo; split by weight alone (``alpha I`` sharp,
``(1 - alpha) I`` blurred), the blurred part still carries subject colour.
So each such pixel becomes two **parts**: the background's, of coverage
``1 - alpha`` and colour ``B`` (the local background colour, no subject in
it), on the blurred side; and the subject's, ``I - (1 - alpha) B``
premultiplied, exactly sharp. Sharp, the two add up to the pixel itself.

Which pixels, and ``alpha``: only those in a thin band at a real edge
(a wholly sharp and a wholly blurred pixel within :data:`BAND` pixels) with
evidence that the two sides differ; every other pixel, a textured interior
or a wide soft or noisy stretch of the matte, stays whole and is a smooth
mix of its levels (``alpha I`` sharp, ``(1 - alpha) I`` blurred), never a
sharp fragment:

- a pixel whose CoC lies between the focal level and a blurred one (a soft
  matte edge in ``bokeh``: CoC ``-R (1 - matte)``): ``alpha`` is its focal
  weight, the blurred part goes to the neighbouring level; split only where
  the subject colour it keeps out of the blur outweighs the background
  texture it leaves sharp (:data:`HALO_OVER_TEXTURE`);
- across a hard step of the CoC (a depth map's edge) from the focal level
  to a blurred level behind it, the pixels on either side that touch the
  other side: ``alpha`` is estimated from colour, the
  projection of ``I - B`` on ``F - B`` (``F``, ``B``: local means of the
  sharp and the blurred side's pixels away from the edge), as in
  sampling-based matting (Chuang et al., "A Bayesian Approach to Digital
  Matting", CVPR 2001); where the two sides' colours are too alike to tell,
  the pixel is left as it is, and short of clear evidence (the sides'
  difference against their texture, :func:`_evidence`) it moves only part
  of the way: an in-focus pixel on a textured subject stays as it is. The
  blurred part takes the blurred side's level index.

Local means are normalised box filters (Knutsson and Westin, "Normalized
and Differential Convolution", CVPR 1993) over :data:`RADIUS` pixels, so a
strip is read with that many rows of margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.render.levels import hat_weight_into

#: Half-size, pixels, of the window of the sharp and background means.
RADIUS = 6
#: Squared colour distance (linear) between the two sides below which colours are not unmixed.
MIN_CONTRAST = 1e-3
#: Half-width, pixels, of a real edge: a mixed pixel is unmixed only with a wholly sharp and a
#: wholly blurred pixel within this distance (a thin band), never inside a wide soft region.
BAND = 6
#: Contrast between the two sides' means, in units of their summed local colour variance, below
#: which the colours are not unmixed (texture, not an edge), and from which fully.
EVIDENCE_LOW = 1.0
EVIDENCE_HIGH = 4.0
#: A soft pixel is unmixed only where the subject colour that unmixing keeps out of the blur,
#: ``alpha |F - B|``, exceeds the background texture it would leave sharp, ``(1 - alpha) sigma_B``,
#: by this factor (in squares): on a faint, mostly background pixel unmixing shows as a sharp fragment.
HALO_OVER_TEXTURE = 4.0

#: One part of a pixel: (coverage or None for 1, level index, premultiplied colour (n, W, 3)).
Part = tuple[np.ndarray | None, np.ndarray, np.ndarray]

_CROSS = np.ones((3, 3), np.uint8)


def _box_sums(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box means of (n, W, C) or (n, W) ``values`` times ``mask``, and of the mask (its share, (n, W)).

    Their ratio, taken at the pixels that need it, is the normalised box mean
    of the values over the mask's pixels. OpenCV's box filter on the values'
    own channels (several times faster than one filter over the values and
    the mask stacked as 4 channels).
    """
    k = (2 * RADIUS + 1, 2 * RADIUS + 1)
    m = mask.astype(np.float32)
    share = cv2.blur(m, k, borderType=cv2.BORDER_REFLECT)
    weighted = cv2.multiply(values, cv2.merge([m, m, m])) if values.ndim == 3 else values * m
    return cv2.blur(weighted, k, borderType=cv2.BORDER_REFLECT), share


def _mean_at(sums: tuple[np.ndarray, np.ndarray], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The normalised box mean (see :func:`_box_sums`) at pixels ``(ys, xs)`` only."""
    total, share = sums
    safe = np.maximum(share[ys, xs], 1e-6)
    return total[ys, xs] / (safe[:, None] if total.ndim == 3 else safe)


@dataclass(frozen=True)
class EdgeSplit:
    """The mixed pixels of some rows and how each is split (sparse: only those pixels).

    Attributes:
        flat: (k,) int64 positions in the rows, row-major.
        alpha: (k,) float32 the sharp part's coverage.
        index: (k,) float32 level index of the blurred part.
        background: (k, 3) float32 linear colour of the blurred part.
    """

    flat: np.ndarray
    alpha: np.ndarray
    index: np.ndarray
    background: np.ndarray


def find_edge_split(
    colour: np.ndarray, index: np.ndarray, focal: int, core: slice, *, soft_edges: bool = True
) -> EdgeSplit | None:
    """The mixed pixels of the core rows at the focal layer's edges, and their split (see the module).

    Args:
        colour: (n, W, 3) float32 linear colour of the rows, with a margin of
            :data:`RADIUS` rows on each side where the image has them.
        index: (n, W) float32 level index of the same rows.
        focal: the focal (sharp) level's index.
        core: the rows wanted, within the n given.
        soft_edges: split pixels whose CoC lies between the focal level and a
            blurred one too (off where the focal layer holds slight defocus,
            :mod:`~depthblur_cli.render.slight`: there they are a surface
            between two blurs, not a soft edge of a sharp one).

    Returns:
        the split of the core rows' mixed pixels, or None when there is none.
    """
    weight = hat_weight_into(index, focal, np.empty(index.shape, np.float32))
    sharp = weight >= 1.0 - 1e-6
    blurred = weight <= 1e-6
    soft = ~sharp & ~blurred
    if not soft_edges:
        soft[...] = False
    behind = blurred & (index < focal)  # a sharp edge in front of a blurred background
    edge_blurred = behind & (cv2.dilate(sharp.view(np.uint8), _CROSS) > 0)
    edge_sharp = sharp & (cv2.dilate(behind.view(np.uint8), _CROSS) > 0)
    candidates = soft | edge_blurred | edge_sharp
    cols = np.flatnonzero(candidates[core].any(axis=0))
    if not len(cols):
        return None
    # Only the columns around the candidates need the local means: each run of candidate columns
    # (runs further apart than two box radii are separate) with a box radius of margin.
    width = index.shape[1]
    masks = (weight, sharp, blurred, soft, behind, edge_blurred, edge_sharp, candidates)
    found = []
    for run in np.split(cols, np.flatnonzero(np.diff(cols) > 2 * RADIUS + 1) + 1):
        c0, c1 = max(0, int(run[0]) - RADIUS), min(width, int(run[-1]) + RADIUS + 1)
        part = _split_window(colour, index, masks, focal, core, c0, c1)
        if part is not None:
            found.append(part)
    if not found:
        return None
    flat, alpha, other, bg = (np.concatenate([p[i] for p in found]) for i in range(4))
    order = np.argsort(flat, kind="stable")  # row-major, as one window gives them
    return EdgeSplit(flat[order], alpha[order], other[order], bg[order])


def _split_window(
    colour: np.ndarray,
    index: np.ndarray,
    masks: tuple[np.ndarray, ...],
    focal: int,
    core: slice,
    c0: int,
    c1: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`find_edge_split` in columns ``c0:c1`` (the candidates' and a box radius around them).

    Returns:
        (flat positions in the rows, alpha, blurred part's level index, its
        background colour) of the split pixels, or None.
    """
    width = index.shape[1]
    win = (slice(None), slice(c0, c1))
    colour, index = colour[win], index[win]
    weight, sharp, blurred, soft, behind, edge_blurred, edge_sharp, candidates = (m[win] for m in masks)
    background_mask = blurred & ~edge_blurred
    subject_mask = sharp & ~edge_sharp
    background = _box_sums(colour, background_mask)
    rows = core
    # A real edge is a thin band: both a wholly sharp and a wholly blurred pixel within BAND pixels.
    band = (2 * BAND + 1, 2 * BAND + 1)
    thin = (cv2.dilate(sharp.view(np.uint8), np.ones(band, np.uint8)) > 0) & (
        cv2.dilate(blurred.view(np.uint8), np.ones(band, np.uint8)) > 0
    )
    valid = np.zeros(candidates.shape, bool)
    valid[rows] = (candidates & thin & (background[1] > 1e-3))[rows]
    ys, xs = np.nonzero(valid)
    if not len(ys):
        return None
    subject = _box_sums(colour, subject_mask)
    has_subject = subject[1][ys, xs] > 1e-3
    bg = _mean_at(background, ys, xs)
    fg = _mean_at(subject, ys, xs)
    # alpha: the focal weight where the CoC is fractional (soft), else estimated from colour.
    is_soft = soft[ys, xs]
    alpha = weight[ys, xs]
    # Evidence that the sides differ. A soft pixel's alpha is the matte's, so its sides' means must
    # differ, and by more than the background texture unmixing would leave sharp
    # (HALO_OVER_TEXTURE); a hard one's alpha is measured from colour, so the difference must stand
    # out from the texture on both sides (_evidence).
    contrast = ((fg - bg) ** 2).sum(axis=1)
    texture = _local_variance(colour, background_mask, background, bg, ys, xs)
    halo, left_sharp = alpha * alpha * contrast, (1.0 - alpha) ** 2 * texture
    confidence = ((contrast > MIN_CONTRAST) & (halo > HALO_OVER_TEXTURE * left_sharp)).astype(np.float32)
    hard = np.flatnonzero(~is_soft)
    if len(hard):
        hy, hx = ys[hard], xs[hard]
        both_sides = texture[hard] + _local_variance(colour, subject_mask, subject, fg[hard], hy, hx)
        confidence[hard] = _evidence(contrast[hard], both_sides)
    confidence[~has_subject] = 0.0
    if len(hard):
        axis = fg[hard] - bg[hard]
        projected = ((colour[hy, hx] - bg[hard]) * axis).sum(axis=1) / np.maximum(contrast[hard], 1e-12)
        projected = np.clip(projected, 0.0, 1.0)
        # Short of full evidence a hard pixel moves only part of the way from what its side makes it:
        # an in-focus pixel towards its projected alpha from 1 (unchanged without evidence), a blurred
        # one from 0, its blurred part's colour from its own (then it is whole, as it was).
        sure = confidence[hard]
        in_focus = sharp[hy, hx]
        alpha[hard] = np.where(in_focus, 1.0 - sure * (1.0 - projected), sure * projected)
        own = colour[hy, hx]
        bg[hard] = np.where(in_focus[:, None], bg[hard], own + sure[:, None] * (bg[hard] - own))
    keep = confidence > 0.0
    if not keep.any():
        return None
    ys, xs, bg, alpha, is_soft = ys[keep], xs[keep], bg[keep], alpha[keep], is_soft[keep]
    idx = index[ys, xs]
    other = np.where(idx > focal, focal + 1.0, focal - 1.0)  # a soft pixel's blurred part: the next level
    on_edge = edge_blurred[ys, xs]
    other[~is_soft & on_edge] = idx[~is_soft & on_edge]  # a blurred pixel at a hard edge: its own
    beside = np.flatnonzero(~is_soft & ~on_edge)  # a sharp pixel at a hard edge: the blurred side's
    if len(beside):
        other[beside] = _mean_at(_box_sums(index, behind & ~edge_blurred), ys[beside], xs[beside])
    flat = (ys - (rows.start or 0)).astype(np.int64) * width + (xs + c0)
    return flat, alpha.astype(np.float32), other.astype(np.float32), bg.astype(np.float32)


def _local_variance(
    colour: np.ndarray,
    mask: np.ndarray,
    sums: tuple[np.ndarray, np.ndarray],
    mean: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
) -> np.ndarray:
    """(k,) float32: the colour variance (summed over channels) of ``mask``'s pixels in the box around ``(ys, xs)``.

    ``sums`` are :func:`_box_sums` of ``colour`` over ``mask``, ``mean`` their
    normalised mean at the pixels, (k, 3).
    """
    squares, _ = _box_sums(colour * colour, mask)
    safe = np.maximum(sums[1][ys, xs], 1e-6)[:, None]
    return np.maximum(squares[ys, xs] / safe - mean * mean, 0.0).sum(axis=1).astype(np.float32)


def _evidence(contrast: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """(k,) float32 0..1: how sure it is that the two sides' colours differ.

    ``contrast`` is the squared distance of the local subject and background
    means, ``texture`` the sum of the two sides' local colour variances, (k,)
    each: 0 up to :data:`EVIDENCE_LOW` times the texture, 1 from
    :data:`EVIDENCE_HIGH` times, linear between; 0 below :data:`MIN_CONTRAST`.
    """
    ratio = contrast / np.maximum(texture, 1e-6)
    sure = np.clip((ratio - EVIDENCE_LOW) / (EVIDENCE_HIGH - EVIDENCE_LOW), 0.0, 1.0)
    sure[contrast <= MIN_CONTRAST] = 0.0
    return sure.astype(np.float32)


def split_parts(
    colour: np.ndarray,
    index: np.ndarray,
    focal: int,
    split: EdgeSplit | None,
    *,
    blurred_only: bool = False,
    sharp_only: bool = False,
) -> list[Part]:
    """The parts of rows of pixels given their split.

    Args:
        colour: (n, W, 3) float32 linear colour of the rows.
        index: (n, W) float32 level index.
        focal: the focal level's index.
        split: from :func:`find_edge_split` for the same rows, or None.
        blurred_only: one part per pixel, a split pixel given wholly to its
            blurred side with the background colour ``B``: what the blurred
            layers need (they never hold the sharp part; the pixel's
            sharp share, under a pixel wide at the subject's edge, counts as
            background there), at half the cost of two parts.
        sharp_only: only the first part (all a composite over an already
            blurred background needs).

    Returns:
        one part ``(None, index, colour)`` when nothing is split, else two:
        the sharp part (coverage ``alpha``, the focal index,
        ``I - (1 - alpha) B``) and the blurred part (coverage ``1 - alpha``,
        the blurred side's index, ``(1 - alpha) B``); pixels not split have
        coverage 1 in the first part and 0 in the second.
    """
    if split is None:
        return [(None, index, colour)]
    f = split.flat
    if blurred_only:
        merged_colour, merged_index = colour.copy(), index.copy()
        merged_colour.reshape(-1, 3)[f] = split.background
        merged_index.reshape(-1)[f] = split.index
        return [(None, merged_index, merged_colour)]
    keep = (1.0 - split.alpha)[:, None]
    cover1 = np.ones(index.shape, np.float32)
    cover1.reshape(-1)[f] = split.alpha
    index1 = index.copy()
    index1.reshape(-1)[f] = focal
    colour1 = colour.copy()
    flat_colour = colour1.reshape(-1, 3)
    flat_colour[f] = np.maximum(flat_colour[f] - keep * split.background, 0.0)
    if sharp_only:
        return [(cover1, index1, colour1)]
    cover2 = np.zeros(index.shape, np.float32)
    cover2.reshape(-1)[f] = keep[:, 0]
    index2 = index.copy()
    index2.reshape(-1)[f] = split.index
    colour2 = np.zeros(colour.shape, np.float32)
    colour2.reshape(-1, 3)[f] = keep * split.background
    return [(cover1, index1, colour1), (cover2, index2, colour2)]
