"""The subject's matte as the user steers it: a box around the subject, or a matte of their own; and a check.

The matting model picks the most salient object, which on a product photo
can be a detail (the chip, not the circuit board). Two ways to say what the
subject is, offline:

- a **subject box** ``(x0, y0, x1, y1)``, fractions of the width and height:
  the subject is what GrabCut separates from its surroundings in the box,
  seeded by the model's matte of the box (:func:`matte_in_box`); nothing
  outside the box is subject;
- a **mask**: the user's own matte (a grayscale image, 0 = background,
  white = subject, or its alpha channel; or an array 0..1), resized to the
  photo bilinearly.

:func:`matte_warnings` says when a matte looks wrong: a tiny subject, many
fragments, or one touching all four borders.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from depthblur_cli.errors import InputError
from depthblur_cli.imaging.arrays import one_channel

#: Margin around a subject box given to the model, fraction of the box's size (context at its edges).
BOX_MARGIN = 0.05
#: Longest side, pixels, of the copy GrabCut segments (its cost grows with the pixels and iterations).
GRABCUT_SIDE = 512
#: Longest side, pixels, of the copy :func:`matte_warnings` judges.
CHECK_SIDE = 512


def check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A subject box as four floats with ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1``.

    Raises:
        ValueError: not four finite numbers in that order.
    """
    if len(box) != 4 or not all(np.isfinite(v) for v in box):
        raise ValueError(f"a subject box is four numbers X0,Y0,X1,Y1 in 0..1, got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"a subject box needs 0 <= X0 < X1 <= 1 and 0 <= Y0 < Y1 <= 1, got {x0},{y0},{x1},{y1}")
    return x0, y0, x1, y1


def read_mask(source: str | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A user's matte at the photo's (H, W), float32 0..1.

    Args:
        source: an image file (grayscale, or the alpha channel of an RGBA
            one; 8 or 16 bits, read as a fraction of its top value) or an
            (h, w) array (uint8 0..255, uint16, or float 0..1).
        shape: the photo's (H, W).

    Raises:
        InputError: the file cannot be read as an image, or the array is not 2-D.
    """
    if isinstance(source, np.ndarray):
        values, name = source, "<mask>"
    else:
        from PIL import Image, UnidentifiedImageError

        from depthblur_cli.imaging.headers import image_size

        name = source
        try:
            with open(source, "rb") as fh:
                size = image_size(fh)
            from depthblur_cli.imaging.codec import MAX_PIXELS

            if size is not None and size[0] * size[1] > MAX_PIXELS:
                raise InputError(f"mask is too large ({size[0] * size[1]} pixels)", source)
            with Image.open(source) as im:
                band = (
                    im.getchannel("A")
                    if im.mode in ("RGBA", "LA", "PA")
                    else im.convert("I" if im.mode.startswith("I") else "L")
                )
                values = np.asarray(band)
        except (OSError, ValueError, UnidentifiedImageError) as exc:
            raise InputError(f"not a readable mask ({type(exc).__name__})", source) from None
    values = one_channel(values, "a mask", lambda message: InputError(message, name))
    if values.dtype == np.uint8:
        mask = values.astype(np.float32) / np.float32(255)
    elif np.issubdtype(values.dtype, np.integer):
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        mask = values.astype(np.float32) / np.float32(top)
    else:
        mask = np.nan_to_num(values.astype(np.float32), nan=0.0)
    mask = np.clip(mask, 0.0, 1.0)
    if mask.shape != tuple(shape):
        mask = np.clip(cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return mask


def matte_in_box(
    pixels: np.ndarray, box: tuple[float, float, float, float], matte_of: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The subject in a box: GrabCut seeded by the box and the model's matte of it, refined to the photo's edges.

    1. The matting model is run on the box's part of the photo (with a
       margin of :data:`BOX_MARGIN`): what it is sure of (alpha >= 0.5) is
       certainly subject.
    2. GrabCut (Rother, Kolmogorov and Blake, "GrabCut: interactive
       foreground extraction using iterated graph cuts", SIGGRAPH 2004;
       OpenCV's ``grabCut``) on a copy at most :data:`GRABCUT_SIDE` pixels
       on a side: outside the box is background, the rest of the box
       probably subject, as a rectangle would seed it.
    3. The result enlarged to the photo and refined to its edges with the
       fast guided filter, nothing outside the box.

    Args:
        pixels: (H, W, 3) sRGB photo (uint8 or float32 0..1).
        box: (x0, y0, x1, y1) fractions (:func:`check_box`).
        matte_of: the matting model: (h, w, 3) photo -> (h, w) float32 0..1.

    Returns:
        (H, W) float32 0..1.
    """
    from depthblur_cli.estimation.guided_filter import fast_guided_filter
    from depthblur_cli.imaging.pixels import quantize, to_float

    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = box
    inside = np.zeros((h, w), bool)
    inside[
        int(y0 * h) : max(int(y0 * h) + 1, int(np.ceil(y1 * h))),
        int(x0 * w) : max(int(x0 * w) + 1, int(np.ceil(x1 * w))),
    ] = True
    mx, my = BOX_MARGIN * (x1 - x0), BOX_MARGIN * (y1 - y0)
    c0, c1 = max(0, int(np.floor((x0 - mx) * w))), min(w, int(np.ceil((x1 + mx) * w)))
    r0, r1 = max(0, int(np.floor((y0 - my) * h))), min(h, int(np.ceil((y1 + my) * h)))
    model = np.zeros((h, w), np.float32)
    if c1 - c0 >= 2 and r1 - r0 >= 2:
        model[r0:r1, c0:c1] = matte_of(np.ascontiguousarray(pixels[r0:r1, c0:c1]))
    model[~inside] = 0.0
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(quantize(to_float(pixels), np.uint8) if pixels.dtype != np.uint8 else pixels, size,
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    seeds = np.full(size[::-1], cv2.GC_BGD, np.uint8)
    seeds[cv2.resize(inside.view(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0] = cv2.GC_PR_FGD
    seeds[cv2.resize(model, size, interpolation=cv2.INTER_AREA) >= 0.5] = cv2.GC_FGD
    if (seeds == cv2.GC_PR_FGD).any() or (seeds == cv2.GC_FGD).any():
        try:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(np.ascontiguousarray(small[..., ::-1]), seeds, (0, 0, 0, 0), bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
        except cv2.error:  # too few pixels of one side to model: the box and the model alone
            pass
    cut = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.float32)
    cut = cv2.resize(cut, (w, h), interpolation=cv2.INTER_LINEAR)
    radius = max(2, round(max(h, w) / 200))
    refined = fast_guided_filter(to_float(pixels), cut, radius, 1e-3, subsample=max(1.0, max(h, w) / 1024))
    out = np.clip(np.maximum(refined, model), 0.0, 1.0).astype(np.float32)
    out[~inside] = 0.0
    return out


def matte_warnings(matte: np.ndarray) -> list[str]:
    """Why a matte looks wrong, if it does: a tiny subject (under 0.5 % of the photo), many fragments
    (over 8 pieces of at least 1 % of the subject), or a subject touching all four borders.

    Judged on a copy at most :data:`CHECK_SIDE` pixels on a side (area average): the same verdicts
    at a small, fixed cost per photo."""
    h, w = matte.shape[:2]
    scale = min(1.0, CHECK_SIDE / max(h, w, 1))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        matte = cv2.resize(np.asarray(matte, np.float32), size, interpolation=cv2.INTER_AREA)
    solid = (matte >= 0.5).astype(np.uint8)
    share = float(solid.mean())
    found = []
    if share < 0.005:
        found.append(f"the subject is tiny ({share:.1%} of the photo)")
    else:
        _, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        pieces = int((stats[1:, cv2.CC_STAT_AREA] >= 0.01 * solid.sum()).sum())
        if pieces > 8:
            found.append(f"the subject is in {pieces} pieces")
        if solid[0].any() and solid[-1].any() and solid[:, 0].any() and solid[:, -1].any():
            found.append("the subject touches all four borders")
    if not found:
        return []
    return [
        f"the subject matte looks wrong ({', '.join(found)}): steer it with --subject-box X0,Y0,X1,Y1 or --mask FILE"
        " (subject_box=, mask= in Python)"
    ]


def subject_matte(
    image, options, matte_of: Callable[[np.ndarray], np.ndarray], warnings: list[str] | None = None
) -> np.ndarray:
    """The subject's matte of a decoded photo as its options steer it (see the module).

    Args:
        image: a :class:`~depthblur_cli.imaging.codec.LoadedImage`.
        options: anything with ``mask`` (a path, a per-input pattern like
            ``masks/{stem}.png``, or an array; wins) and ``subject_box``.
        matte_of: the matting model.
        warnings: receives :func:`matte_warnings` of a model's matte.

    Returns:
        (H, W) float32 0..1.

    Raises:
        InputError: the mask cannot be read.
    """
    h, w = image.pixels.shape[:2]
    mask = getattr(options, "mask", None)
    if mask is not None:
        if isinstance(mask, str):
            from depthblur_cli.imaging.patterns import companion_path

            mask = companion_path(mask, image.source, option="--mask")
        return read_mask(mask, (h, w))
    box = getattr(options, "subject_box", None)
    matte = matte_of(image.pixels) if box is None else matte_in_box(image.pixels, box, matte_of)
    if warnings is not None:
        warnings.extend(f"{image.source}: {w}" for w in matte_warnings(matte))
    return matte
