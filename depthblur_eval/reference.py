"""Exact thin-lens reference for layered scenes, and the baselines it judges.

Used by the accuracy tests and ``benchmarks/bench_accuracy.py``; not by the
command line.

**Scene.** A stack of fronto-parallel planes at known disparities ``d``
(larger = nearer), each an RGBA texture in linear light, composited back to
front. The back plane is opaque and carries a few bright points (linear
values 5..20, far above the 1.0 a photo stores); nearer planes are opaque
only inside shapes (discs, rotated rectangles, blobs), so occlusion edges
exist. A thin lens focused at disparity ``d_f`` gives the plane a signed
circle of confusion (CoC) of radius ``c = K * (d - d_f)`` pixels (> 0
nearer than focus, < 0 farther; see ``depthblur_cli.render.coc``).

**Exact image.** Seen through the aperture point ``u`` (a point of the unit
disc), the scene is the pinhole view in which each plane is shifted by
``u * c``; the lens image is the average of these views over the aperture
(the accumulation-buffer method: Haeberli and Akeley, "The Accumulation
Buffer: Hardware Support for High-Quality Rendering", SIGGRAPH 1990). Each
view is composited back to front with premultiplied alpha, ``over``
(Porter and Duff, "Compositing Digital Images", SIGGRAPH 1984), so
occlusion is exact: a blurred foreground is partly transparent at its rim
and what shows through is the real background behind it, bright points
included. Planes are larger than the frame by more than the largest CoC, so
no shift ever reveals an undefined border. See ``exact_render`` for how the
aperture integral is evaluated to far below the errors measured.

**What a renderer under test gets** (``centre_view``): the pinhole view
(``u = 0``) and, per pixel, the signed CoC of the plane that is visible
there -- what an image and a perfect depth map give.

**Baselines** on that same input: ``plain_layered_blur`` (the layer split of
``render_depth_of_field`` without extension behind nearer layers or fill)
and ``gaussian_stack_pick`` (each pixel picks its blur from a stack of
Gaussian blurs). ``srgb_psnr`` scores an image against the exact one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depthblur_cli.colour import linear_to_srgb
from depthblur_cli.render.kernels import Aperture, aperture_kernel
from depthblur_cli.render.levels import radius_ladder, signed_levels

#: Golden angle (radians) of the Vogel spiral.
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


@dataclass(frozen=True)
class Plane:
    """One fronto-parallel plane of a reference scene.

    Attributes:
        rgba: (H + 2*pad, W + 2*pad, 4) float32, **premultiplied** linear
            RGB (0..1, up to ~20 at bright points) and alpha 0..1; pixel
            ``(pad, pad)`` is the frame's top-left pixel.
        disparity: the plane's disparity (arbitrary units, larger = nearer).
        coc: signed CoC radius in pixels, ``K * (disparity - focus)``.
    """

    rgba: np.ndarray
    disparity: float
    coc: float


@dataclass(frozen=True)
class Scene:
    """Planes back to front, the lens that images them and the frame.

    Attributes:
        planes: back (opaque) to front.
        height, width: the frame in pixels.
        pad: margin, pixels, by which every plane exceeds the frame on each side
            (> the largest |CoC|).
        focus: disparity of the focal plane.
        coc_scale: ``K``, pixels of CoC radius per unit of disparity.
        seed: the seed the scene was drawn with (``None`` if hand-made).
    """

    planes: tuple[Plane, ...]
    height: int
    width: int
    pad: int
    focus: float
    coc_scale: float
    seed: int | None = None

    @property
    def max_coc(self) -> float:
        """Largest |CoC| of any plane, pixels."""
        return max(abs(p.coc) for p in self.planes)


def aperture_samples(n: int) -> np.ndarray:
    """``n`` points spread evenly over the unit disc (Vogel's sunflower spiral).

    Point ``i`` lies at radius ``sqrt((i + 0.5) / n)`` and angle ``i`` times
    the golden angle, so every point stands for an equal area ``pi / n`` of
    the aperture (H. Vogel, "A better way to construct the sunflower head",
    Mathematical Biosciences 44, 1979).

    Args:
        n: number of points, >= 1.

    Returns:
        (n, 2) float64 array of (x, y), |point| < 1.
    """
    i = np.arange(n, dtype=np.float64)
    r = np.sqrt((i + 0.5) / n)
    a = i * _GOLDEN_ANGLE
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def shift_average_kernel(radius: float, step: float = 0.125) -> np.ndarray:
    """Kernel of averaging bilinearly shifted copies over a disc of shifts.

    An image shifted by a sub-pixel ``s`` with bilinear interpolation is the
    image convolved with a one-pixel tent centred on ``s``; averaging over
    every ``s`` in the disc of ``radius`` gives the convolution with this
    kernel (the disc convolved with the tent), which is therefore the limit
    of ``exact_render``'s per-view shifts. Computed by splatting a fine grid
    of shifts (spacing ``step`` pixels) with bilinear weights.

    Args:
        radius: disc radius in pixels, >= 0.
        step: spacing of the grid of shifts, pixels.

    Returns:
        (2k+1, 2k+1) float32 kernel, k = ceil(radius) + 1, summing to 1,
        indexed ``[k + dy, k + dx]`` by the offset it moves a pixel by.
    """
    k = int(math.ceil(radius)) + 1
    if radius < step:  # no grid point off the centre: a (sub-pixel) shift of nothing
        out = np.zeros((2 * k + 1, 2 * k + 1), np.float32)
        out[k, k] = 1.0
        return out
    g = np.arange(-radius + step / 2, radius, step)
    x, y = np.meshgrid(g, g)
    inside = x * x + y * y <= radius * radius
    x, y = x[inside] + k, y[inside] + k
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    size = 2 * k + 1
    acc = np.zeros(size * size, np.float64)
    for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        acc += np.bincount((y0 + dy) * size + x0 + dx, weights=wgt, minlength=size * size)
    out = (acc / acc.sum()).reshape(size, size)
    return out.astype(np.float32)


# --------------------------------------------------------------------------
# Random scenes


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered white noise, (H, W) float32."""
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return (n - n.mean()) / max(float(n.std()), 1e-8)


def _texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A structured linear-light colour texture, (H, W, 3) float32 in 0..1.

    Two colours mixed by a pattern (anti-aliased stripes of random period and
    angle, or a checker), modulated by smooth noise at two scales and a
    little fine grain.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(0.03, 0.75, size=(2, 3)).astype(np.float32)
    period = rng.uniform(5.0, 40.0)
    theta = rng.uniform(0, np.pi)
    sharp = period / 4.0  # edge about 1 px wide whatever the period
    if rng.random() < 0.6:
        phase = 2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period
        pattern = np.clip(0.5 + sharp * np.sin(phase) / np.pi, 0.0, 1.0)
    else:
        c, s = np.cos(theta), np.sin(theta)
        u, v = (xx * c + yy * s) / period, (-xx * s + yy * c) / period
        pattern = np.clip(0.5 + sharp * np.sin(np.pi * u) * np.sin(np.pi * v) / np.pi, 0.0, 1.0)
    contrast = rng.uniform(0.3, 1.0)
    mix = (contrast * pattern + (1 - contrast) * 0.5)[..., None]
    tex = a * (1 - mix) + b * mix
    modulation = 1.0 + 0.3 * _smooth_noise(rng, shape, rng.uniform(15, 40)) + 0.1 * _smooth_noise(rng, shape, 3.0)
    grain = 0.03 * _smooth_noise(rng, shape, 0.7)
    return np.clip(tex * modulation[..., None] + grain[..., None], 0.0, 1.0).astype(np.float32)


def _shape_alpha(rng: np.random.Generator, shape: tuple[int, int], frame: tuple[int, int, int]) -> np.ndarray:
    """Anti-aliased alpha (H, W) float32 of the union of 1..3 random shapes.

    Shapes (disc, rotated rectangle, blob with a wavy rim) are centred
    inside the frame (``frame`` = (pad, height, width)); alpha is
    ``clip(0.5 - signed_distance, 0, 1)``, a one-pixel anti-aliased edge.
    """
    pad, fh, fw = frame
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    alpha = np.zeros(shape, np.float32)
    for _ in range(rng.integers(1, 4)):
        cx = pad + rng.uniform(0.15, 0.85) * fw
        cy = pad + rng.uniform(0.15, 0.85) * fh
        size = rng.uniform(0.08, 0.25) * min(fh, fw) * 1.6
        dx, dy = xx - cx, yy - cy
        kind = rng.integers(0, 3)
        if kind == 0:  # disc
            sdf = np.hypot(dx, dy) - size
        elif kind == 1:  # rotated rectangle
            t = rng.uniform(0, np.pi)
            u = np.abs(dx * np.cos(t) + dy * np.sin(t)) - size * rng.uniform(0.5, 1.2)
            v = np.abs(-dx * np.sin(t) + dy * np.cos(t)) - size * rng.uniform(0.3, 0.9)
            sdf = np.hypot(np.maximum(u, 0), np.maximum(v, 0)) + np.minimum(np.maximum(u, v), 0)
        else:  # blob: radius modulated by a few angular harmonics
            ang = np.arctan2(dy, dx)
            rim = np.ones_like(ang)
            for m in range(2, 6):
                rim += rng.uniform(0.0, 0.25 / m * 2) * np.cos(m * ang + rng.uniform(0, 2 * np.pi))
            sdf = (np.hypot(dx, dy) - size * rim) * 0.9  # roughly a distance
        alpha = np.maximum(alpha, np.clip(0.5 - sdf, 0.0, 1.0))
    return alpha


def _add_bright_points(rng: np.random.Generator, rgb: np.ndarray, frame: tuple[int, int, int], count: int) -> None:
    """Add ``count`` small lights (discs of radius 3 px, linear value 5..20) in place.

    A light of about 28 px at value v spreads over a CoC disc of radius r at
    ``28 v / (pi r^2)``: 0.02..0.07 at r = 60 px, 0.1..0.4 at r = 25 px,
    a visible bokeh disc over the (dimmed) back plane.
    """
    pad, fh, fw = frame
    for _ in range(count):
        cx = pad + rng.uniform(0.05, 0.95) * fw
        cy = pad + rng.uniform(0.05, 0.95) * fh
        x0, y0 = int(cx) - 5, int(cy) - 5
        yy, xx = np.mgrid[y0 : y0 + 11, x0 : x0 + 11].astype(np.float32)
        dot = np.clip(3.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)
        tint = rng.uniform(0.7, 1.0, size=3).astype(np.float32)
        window = rgb[y0 : y0 + 11, x0 : x0 + 11]
        window[:] = np.maximum(window, dot[..., None] * tint * rng.uniform(5, 20))


def random_scene(
    seed: int,
    height: int = 384,
    width: int = 512,
    *,
    max_coc: float = 60.0,
    planes: int | None = None,
    bright_points: int | None = None,
) -> Scene:
    """A random layered scene, reproducible from ``seed``.

    2..4 planes (or ``planes``): the back one opaque with a structured
    texture and 3..8 bright points (or ``bright_points``), the others
    structured textures cut out by random shapes. Disparities: back plane 0,
    the others spread over 0.15..1. The focus is on one plane (subject
    sharp, the others blurred, in front and behind) or, in one scene of
    four, between planes; ``K`` is chosen so the largest |CoC| is between
    half of and ``max_coc``.

    Args:
        seed: random seed.
        height, width: frame size in pixels.
        max_coc: upper bound of the largest |CoC|, pixels.
        planes: number of planes (default: 2..4 at random).
        bright_points: number of bright points in the back plane.

    Returns:
        the Scene (planes padded by ``ceil(max |CoC|) + 2`` pixels).
    """
    rng = np.random.default_rng(seed)
    n = int(planes) if planes is not None else int(rng.integers(2, 5))
    disparity = np.concatenate([[0.0], np.sort(rng.uniform(0.15, 1.0, n - 1))])
    if rng.random() < 0.25:
        focus = float(rng.uniform(0.0, 1.0))
    else:
        focus = float(disparity[rng.integers(0, n)])
    reach = float(np.abs(disparity - focus).max())
    target = float(rng.uniform(0.5, 1.0) * max_coc)
    scale = target / reach if reach > 1e-6 else 0.0
    pad = int(math.ceil(target)) + 2
    shape = (height + 2 * pad, width + 2 * pad)
    frame = (pad, height, width)
    out = []
    for j in range(n):
        rgb = _texture(rng, shape)
        if j == 0:
            rgb *= np.float32(rng.uniform(0.3, 0.8))  # a dimmer background, so its lights show
            count = int(bright_points) if bright_points is not None else int(rng.integers(3, 9))
            _add_bright_points(rng, rgb, frame, count)
            alpha = np.ones(shape, np.float32)
        else:
            alpha = _shape_alpha(rng, shape, frame)
        rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2).astype(np.float32)
        out.append(Plane(rgba, float(disparity[j]), float(scale * (disparity[j] - focus))))
    return Scene(tuple(out), height, width, pad, focus, scale, seed)


#: Colours of city lights (linear RGB, largest channel 1): sodium, warm and
#: cool LED white, neon red, neon blue, traffic green, amber.
CITY_LIGHTS = (
    (1.0, 0.55, 0.1),
    (1.0, 0.8, 0.55),
    (0.9, 0.95, 1.0),
    (1.0, 0.15, 0.2),
    (0.2, 0.4, 1.0),
    (0.2, 1.0, 0.45),
    (1.0, 0.45, 0.0),
)


def _add_lights(rng: np.random.Generator, rgba: np.ndarray, frame: tuple[int, int, int], count: int) -> None:
    """Add ``count`` city lights in place: discs of radius 0.5..1.5 px (1..3 px across) with a
    Gaussian glow (sigma 0.6..1.2 px, a lens's glare), 1.5..6 times white, in :data:`CITY_LIGHTS` colours.

    Each light is opaque where it is brighter than the plane (alpha raised to the light's coverage).
    """
    pad, fh, fw = frame
    for _ in range(count):
        cx = pad + rng.uniform(0.03, 0.97) * fw
        cy = pad + rng.uniform(0.03, 0.97) * fh
        x0, y0 = int(cx) - 7, int(cy) - 7
        yy, xx = np.mgrid[y0 : y0 + 15, x0 : x0 + 15].astype(np.float32)
        r = np.hypot(xx - cx, yy - cy)
        radius, sigma = rng.uniform(0.5, 1.5), rng.uniform(0.6, 1.2)
        core = np.clip(radius + 0.5 - r, 0.0, 1.0)
        profile = np.maximum(core, np.exp(-(r**2) / (2 * sigma**2)) * 0.6)
        colour = np.float32(CITY_LIGHTS[rng.integers(len(CITY_LIGHTS))]) * np.float32(rng.uniform(1.5, 6.0))
        window = rgba[y0 : y0 + 15, x0 : x0 + 15]
        cover = np.clip(profile * 1.5, 0.0, 1.0)
        window[..., :3] = window[..., :3] * (1.0 - cover[..., None]) + profile[..., None] * colour
        window[..., 3] = np.maximum(window[..., 3], cover)


#: Range of a light's core radius (pixels), its core's peak (times white, drawn log-uniform) and
#: its glow's Gaussian sigma (pixels) in :func:`_add_glow_lights`.
GLOW_LIGHT_RADIUS = (0.4, 1.5)
GLOW_LIGHT_PEAK = (2.0, 40.0)
GLOW_LIGHT_SIGMA = (0.8, 2.2)


def _add_glow_lights(
    rng: np.random.Generator, rgba: np.ndarray, frame: tuple[int, int, int], count: int, glow: tuple[float, float]
) -> None:
    """Add ``count`` lights in place, each a core plus a glow, as scene radiance (premultiplied).

    The core is an opaque anti-aliased disc (:data:`GLOW_LIGHT_RADIUS`) at a
    peak of :data:`GLOW_LIGHT_PEAK` times white in a :data:`CITY_LIGHTS`
    colour; the glow, light scattered around it (emission, no coverage), a
    Gaussian (sigma :data:`GLOW_LIGHT_SIGMA`) carrying a share of the light's
    energy drawn from ``glow`` (``(0, 0)``: no glow, a hard-edged light).
    """
    pad, fh, fw = frame
    half = 10
    for _ in range(count):
        cx = pad + rng.uniform(0.03, 0.97) * fw
        cy = pad + rng.uniform(0.03, 0.97) * fh
        x0, y0 = int(cx) - half, int(cy) - half
        yy, xx = np.mgrid[y0 : y0 + 2 * half + 1, x0 : x0 + 2 * half + 1].astype(np.float32)
        yy += 0.5  # pixel centres: pixel (i, j) covers [j, j + 1) x [i, i + 1)
        xx += 0.5
        r = np.hypot(xx - cx, yy - cy)
        radius = rng.uniform(*GLOW_LIGHT_RADIUS)
        peak = float(np.exp(rng.uniform(*np.log(GLOW_LIGHT_PEAK))))
        sigma = rng.uniform(*GLOW_LIGHT_SIGMA)
        share = rng.uniform(*glow)
        core = np.clip(radius + 0.5 - r, 0.0, 1.0)
        if radius < 0.5:  # a core smaller than a pixel: its area spread over the pixels it touches
            core *= np.pi * radius**2 / max(float(core.sum()), 1e-6)
        core_energy = peak * float(core.sum())
        gauss = np.exp(-(r**2) / (2 * sigma**2))
        halo = gauss * np.float32(share / (1.0 - share) * core_energy / float(gauss.sum()))
        colour = np.float32(CITY_LIGHTS[rng.integers(len(CITY_LIGHTS))])
        window = rgba[y0 : y0 + 2 * half + 1, x0 : x0 + 2 * half + 1]
        cover = np.clip(core, 0.0, 1.0)
        window[..., :3] = window[..., :3] * (1.0 - cover[..., None]) + (core * peak + halo)[..., None] * colour
        window[..., 3] = np.maximum(window[..., 3], cover)


def night_scene(
    seed: int,
    height: int = 384,
    width: int = 512,
    *,
    max_coc: float = 40.0,
    glow: tuple[float, float] | None = None,
) -> Scene:
    """A random night scene, reproducible from ``seed``: city lights behind an in-focus subject.

    A dark textured back plane (linear 0.005..0.04) with 40..140 lights
    (:func:`_add_lights`); in half the scenes a plane of lamps between it and
    the subject (10..40 lights on transparency); the subject, in focus, a
    textured shape, in half the scenes carrying a near-white sign (sRGB
    0.94..0.98: bright, not a light); in half the scenes a blurred
    foreground strip across a bottom corner. The back plane's CoC is
    between half of and ``max_coc``.

    With ``glow`` the lights are :func:`_add_glow_lights`' instead: a core
    2..40 times white plus a glow carrying a share of the energy drawn from
    ``glow`` (``(0.2, 0.6)``; ``(0, 0)``: none), the scenes of the
    ``night-glow`` and ``night-core`` families.

    Args:
        seed: random seed.
        height, width: frame size in pixels.
        max_coc: upper bound of the back plane's |CoC|, pixels.
        glow: range of the lights' glow share (None: the city lights above).

    Returns:
        the Scene, focused on the subject.
    """
    rng = np.random.default_rng(10_000 + seed)

    def add_lights(rgba: np.ndarray, count: int) -> None:
        if glow is None:
            _add_lights(rng, rgba, frame, count)
        else:
            _add_glow_lights(rng, rgba, frame, count, glow)

    target = float(rng.uniform(0.5, 1.0) * max_coc)
    pad = int(math.ceil(target * 1.3)) + 4
    shape = (height + 2 * pad, width + 2 * pad)
    frame = (pad, height, width)
    planes: list[tuple[np.ndarray, float]] = []
    back = np.concatenate(
        [_texture(rng, shape) * np.float32(rng.uniform(0.005, 0.04)), np.ones(shape + (1,), np.float32)], axis=2
    )
    add_lights(back, int(rng.integers(40, 141)))
    planes.append((back, 0.0))
    if rng.random() < 0.5:  # lamps between
        lamps = np.zeros(shape + (4,), np.float32)
        add_lights(lamps, int(rng.integers(10, 41)))
        planes.append((lamps, float(rng.uniform(0.3, 0.6))))
    subject_rgb = _texture(rng, shape) * np.float32(rng.uniform(0.3, 0.8))
    alpha = _shape_alpha(rng, shape, frame)
    if rng.random() < 0.5:  # a near-white sign on the subject
        ys, xs = np.nonzero(alpha > 0.99)
        if len(ys):
            i = int(rng.integers(len(ys)))
            sh, sw = int(rng.integers(8, 24)), int(rng.integers(16, 48))
            subject_rgb[ys[i] : ys[i] + sh, xs[i] : xs[i] + sw] = np.float32(rng.uniform(0.87, 0.955))
    planes.append((np.concatenate([subject_rgb * alpha[..., None], alpha[..., None]], axis=2), 0.8))
    focus = 0.8
    if rng.random() < 0.5:  # a blurred foreground strip
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        band = (xx - pad) / width + (pad + height - yy) / height  # small at the bottom-left corner
        fg_alpha = np.clip((rng.uniform(0.25, 0.45) - band) * 200.0, 0.0, 1.0)
        fg = _texture(rng, shape) * np.float32(rng.uniform(0.05, 0.3))
        planes.append((np.concatenate([fg * fg_alpha[..., None], fg_alpha[..., None]], axis=2), 1.0))
    scale = target / focus
    out = tuple(Plane(rgba.astype(np.float32), d, float(scale * (d - focus))) for rgba, d in planes)
    return Scene(out, height, width, pad, focus, scale, seed)


# --------------------------------------------------------------------------
# The exact image and the renderer's input


def _view(plane: Plane, scene: Scene, sx: float, sy: float) -> np.ndarray:
    """The frame's window of ``plane`` shifted by (sx, sy) pixels, bilinear: (H, W, 4)."""
    p = scene.pad
    if sx == 0 and sy == 0:
        return plane.rgba[p : p + scene.height, p : p + scene.width]
    m = np.array([[1.0, 0.0, p - sx], [0.0, 1.0, p - sy]])
    return cv2.warpAffine(
        plane.rgba,
        m,
        (scene.width, scene.height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def centre_view(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """The pinhole view and its per-pixel signed CoC: the input of a renderer.

    The CoC of a pixel is that of the plane contributing most to it
    (``alpha_j`` times the transmittance of the planes in front), as a
    depth map would give it: hard steps at the shapes' edges.

    Args:
        scene: the scene.

    Returns:
        (linear_rgb, signed_coc): (H, W, 3) float32 linear light (0..1,
        bright points up to ~20) and (H, W) float32 pixels.
    """
    h, w = scene.height, scene.width
    rgb = np.zeros((h, w, 3), np.float32)
    best = np.full((h, w), -1.0, np.float32)
    coc = np.zeros((h, w), np.float32)
    transmit = np.ones((h, w), np.float32)
    for plane in reversed(scene.planes):  # front to back
        view = _view(plane, scene, 0.0, 0.0)
        contrib = view[..., 3] * transmit
        rgb += view[..., :3] * transmit[..., None]
        take = contrib > best
        coc[take] = plane.coc
        best = np.maximum(best, contrib)
        transmit = transmit * (1.0 - view[..., 3])
    return rgb, coc


def exact_render(scene: Scene, samples: int = 512, *, control_variate: bool = True) -> np.ndarray:
    """The thin-lens image of the scene: pinhole views averaged over the aperture.

    For each of ``samples`` aperture points ``u`` (``aperture_samples``)
    every plane is shifted by ``u * coc`` (``cv2.warpAffine``, bilinear,
    sub-pixel) and the planes are composited back to front with
    premultiplied alpha; the image is the mean over ``u``.

    A plain mean of point samples is noisy where it matters most: a plane
    blurred by ``c`` pixels is sampled at shifts about ``c * sqrt(pi/n)``
    apart, so a bright point becomes a pattern of dots, not a flat disc,
    unless ``n`` is about the disc's area. With ``control_variate`` (the
    default) the image is written per plane ``j`` as
    ``E[C_j T_j] = E[C_j] E[T_j] + Cov(C_j, T_j)``, where ``C_j`` is the
    plane's shifted premultiplied colour and ``T_j`` the transmittance of
    the planes in front of it in the same view. ``E[C_j]`` is computed
    exactly, as a convolution with ``shift_average_kernel(|c_j|)``; only
    ``E[T_j]`` and the covariance are sampled. The covariance is zero
    wherever nothing in front moves across the pixel, so the estimate is
    exact there (flat bokeh discs, any ``n``), and the sampling noise is
    confined to occlusion edges. It converges to the same image as the
    plain mean (consistent estimator; see ``tests/render/test_reference.py`` for
    the convergence check).

    Args:
        scene: the scene.
        samples: number of aperture points (256..1024 is plenty with the
            control variate).
        control_variate: False gives the plain mean of the views.

    Returns:
        (H, W, 3) float32 linear light (bright points bloom above 1).
    """
    h, w = scene.height, scene.width
    n = len(scene.planes)
    sum_ct = np.zeros((n, h, w, 3), np.float32)
    sum_c = np.zeros((n, h, w, 3), np.float32)
    sum_t = np.zeros((n, h, w), np.float32)
    for ux, uy in aperture_samples(samples):
        transmit = np.ones((h, w), np.float32)
        for j in range(n - 1, -1, -1):  # front to back
            plane = scene.planes[j]
            view = _view(plane, scene, ux * plane.coc, uy * plane.coc)
            colour = view[..., :3]
            sum_ct[j] += colour * transmit[..., None]
            if control_variate:
                sum_c[j] += colour
                sum_t[j] += transmit
            if j > 0:
                transmit *= 1.0 - view[..., 3]
    if not control_variate:
        return (sum_ct.sum(axis=0) / samples).astype(np.float32)
    out = np.zeros((h, w, 3), np.float64)
    p = scene.pad
    for j, plane in enumerate(scene.planes):
        mean_t = (sum_t[j] / samples)[..., None]
        kernel = shift_average_kernel(abs(plane.coc))[::-1, ::-1]  # convolution = correlation with the flipped kernel
        exact_c = cv2.filter2D(plane.rgba[..., :3], -1, np.ascontiguousarray(kernel), borderType=cv2.BORDER_REPLICATE)
        exact_c = exact_c[p : p + h, p : p + w]
        out += sum_ct[j] / samples - mean_t * (sum_c[j] / samples) + exact_c * mean_t
    return out.astype(np.float32)


# --------------------------------------------------------------------------
# Baselines


def _layer_index(signed_coc: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Fractional layer index of every pixel, as ``render_depth_of_field`` computes it."""
    t = np.interp(signed_coc.ravel(), levels, np.arange(len(levels), dtype=np.float32))
    return t.astype(np.float32).reshape(signed_coc.shape)


def _disc_blur(image: np.ndarray, radius: float, aperture: Aperture = Aperture()) -> np.ndarray:
    if radius < 0.25:
        return image
    return cv2.filter2D(image, -1, aperture_kernel(radius, aperture), borderType=cv2.BORDER_REFLECT)


def plain_layered_blur(
    linear_rgb: np.ndarray,
    signed_coc: np.ndarray,
    *,
    levels: np.ndarray | None = None,
    normalise: bool = True,
    aperture: Aperture = Aperture(),
) -> np.ndarray:
    """Layered disc blur without occlusion handling: the baseline to beat.

    The layer split of ``render_depth_of_field`` (``signed_levels`` and its
    tent weights ``w_k``), but each layer is only its own pixels: its
    premultiplied colour ``rgb * w_k`` and its weight ``w_k`` are blurred
    with the disc of its radius (full resolution) and composited back to
    front with the blurred weight as alpha. Nothing is extended behind
    nearer layers, nothing is filled: behind a blurred foreground edge the
    background layer has a hole.

    With ``normalise`` (default) the result is divided by the accumulated
    alpha, ``1 - prod(1 - A_k)``. Without it, a pixel split between two
    rungs by the tent weights (``f`` and ``1 - f``) composites to
    ``1 - f + f^2`` of its colour (0.75 midway), darkening every plane whose
    CoC lies between rungs -- a strawman, so the normalised form is the
    baseline reported.

    Args:
        linear_rgb: (H, W, 3) float32 linear light.
        signed_coc: (H, W) float32 signed CoC radius, pixels.
        levels: layer radii (default ``signed_levels(signed_coc)``).
        normalise: divide by the accumulated alpha.
        aperture: iris shape.

    Returns:
        (H, W, 3) float32 linear light.
    """
    rgb = np.asarray(linear_rgb, np.float32)
    coc = np.asarray(signed_coc, np.float32)
    levels = signed_levels(coc) if levels is None else np.asarray(levels, np.float32)
    t = _layer_index(coc, levels)
    out = np.zeros_like(rgb)
    acc = np.zeros(coc.shape, np.float32)
    for k, level in enumerate(levels):
        weight = np.clip(t - k + 1.0, 0.0, 1.0) - np.clip(t - k, 0.0, 1.0)
        if not weight.any():
            continue
        colour = _disc_blur(rgb * weight[..., None], abs(float(level)), aperture)
        alpha = np.clip(_disc_blur(weight, abs(float(level)), aperture), 0.0, 1.0)
        out = colour + (1.0 - alpha)[..., None] * out
        acc = alpha + (1.0 - alpha) * acc
    if normalise:
        out = out / np.maximum(acc, 1e-6)[..., None]
    return out.astype(np.float32)


def gaussian_stack_pick(linear_rgb: np.ndarray, signed_coc: np.ndarray) -> np.ndarray:
    """Per-pixel pick from a stack of Gaussian blurs: the naive baseline.

    The whole image is blurred with Gaussians at the unsigned ladder radii
    ``radius_ladder(max |CoC|)``, with ``sigma = radius / 2`` (a uniform
    disc of radius ``r`` has a per-axis standard deviation of ``r / 2``, so
    the Gaussian spreads light as far as the disc on average); each pixel
    interpolates linearly between the two blur levels around its own
    ``|CoC|``. No layers, no occlusion: a sharp subject bleeds into the
    blurred background around it and vice versa.

    Args:
        linear_rgb: (H, W, 3) float32 linear light.
        signed_coc: (H, W) float32 signed CoC radius, pixels.

    Returns:
        (H, W, 3) float32 linear light.
    """
    rgb = np.asarray(linear_rgb, np.float32)
    mag = np.abs(np.asarray(signed_coc, np.float32))
    radii = radius_ladder(float(mag.max()))
    t = np.interp(mag.ravel(), radii, np.arange(len(radii), dtype=np.float32)).astype(np.float32).reshape(mag.shape)
    out = np.zeros_like(rgb)
    for k, r in enumerate(radii):
        weight = np.clip(1.0 - np.abs(t - k), 0.0, 1.0)
        if not weight.any():
            continue
        blurred = (
            rgb if r < 0.25 else cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(r) / 2.0, borderType=cv2.BORDER_REFLECT)
        )
        out += blurred * weight[..., None]
    return out


# --------------------------------------------------------------------------
# Scores


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio, ``10 log10(peak^2 / MSE)``, in dB.

    Args:
        a, b: arrays of the same shape.
        peak: the largest possible value (1.0 for images in 0..1).

    Returns:
        dB (inf for identical arrays).
    """
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def srgb_psnr(reference: np.ndarray, test: np.ndarray, margin: int = 0) -> float:
    """PSNR of two linear-light images as a viewer sees them.

    Both are clipped to 0..1 and sRGB-encoded (``linear_to_srgb``), which
    weighs errors in the shadows as the eye does, and compared with peak 1.

    Args:
        reference, test: (H, W, 3) linear light.
        margin: pixels left out on every side (e.g. the largest CoC: there
            the exact image depends on scene content outside the frame,
            which no renderer given the frame can know).

    Returns:
        dB.
    """
    if margin > 0:
        reference = reference[margin:-margin, margin:-margin]
        test = test[margin:-margin, margin:-margin]
    return psnr(linear_to_srgb(reference), linear_to_srgb(test))


def oracle_layered_blur(scene: Scene, aperture: Aperture = Aperture()) -> np.ndarray:
    """The scene's true planes, each blurred whole, composited back to front.

    A diagnostic, not a baseline: it knows everything hidden in the centre
    view (the full texture and alpha of every plane). Each plane's
    premultiplied RGBA is convolved with the disc of its |CoC| and the
    planes are composited with ``over`` -- the layered approximation with
    perfect layers (Barsky and Kosloff, "Algorithms for Rendering Depth of
    Field Effects in Computer Graphics", WSEAS 2008): about what a layered
    renderer could do with perfect hidden content; the gap from a renderer
    fed the centre view to it is what the missing content and the
    renderer's own layer handling cost. It is not a strict upper bound: where blurred planes overlap
    within one aperture, ``over`` with a blurred alpha treats the occluded
    rays as a random share of the disc, whereas the lens blocks those on
    the occluder's side, so the background seen past the edge is mostly the
    visible side's -- which a fill copied from the visible side can match
    better than the true hidden texture does.

    Args:
        scene: the scene.
        aperture: iris shape.

    Returns:
        (H, W, 3) float32 linear light.
    """
    h, w, p = scene.height, scene.width, scene.pad
    out = np.zeros((h, w, 3), np.float32)
    for plane in scene.planes:
        rgba = _disc_blur(plane.rgba, abs(plane.coc), aperture)[p : p + h, p : p + w]
        out = rgba[..., :3] + (1.0 - rgba[..., 3:4]) * out
    return out
