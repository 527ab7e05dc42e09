"""The rendering core: aperture kernels, layered lens blur, CoC mapping."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_8bit_close, assert_floats_close

from depthblur_cli.colour import linear_to_srgb, srgb_to_linear
from depthblur_cli.estimation.guided_filter import guided_filter
from depthblur_cli.pipeline.compose import blur_background
from depthblur_cli.render import coc
from depthblur_cli.render.fill import push_pull_fill
from depthblur_cli.render.highlights import Highlights
from depthblur_cli.render.kernels import Aperture, aperture_kernel
from depthblur_cli.render.lens import render_depth_of_field
from depthblur_cli.render.levels import radius_ladder, reduction_for_radius


def _point_scene(size=241, radius=15.0, levels=None):
    img = np.zeros((size, size, 3), np.float32)
    c = size // 2
    img[c, c] = 1.0
    signed = np.full((size, size), -radius, np.float32)
    return render_depth_of_field(img, signed, levels=levels)[..., 0], c


def _support(blurred, c, frac=0.5):
    """Largest distance from the light's centroid to a pixel above ``frac`` of the peak, and that pixel count."""
    ys, xs = np.nonzero(blurred > blurred.max() * frac)
    cy, cx = _centroid(blurred)
    return np.hypot(ys - cy, xs - cx).max(), len(ys)


def _centroid(blurred):
    yy, xx = np.mgrid[: blurred.shape[0], : blurred.shape[1]]
    return (yy * blurred).sum() / blurred.sum(), (xx * blurred).sum() / blurred.sum()


@pytest.mark.parametrize("radius", [6.0, 15.0, 30.0])
def test_point_light_becomes_flat_disc_of_the_requested_radius(radius):
    # Two layers at exactly the radius (as bokeh uses them): one disc, no mix.
    blurred, c = _point_scene(radius=radius, levels=[-radius, 0.0])
    extent, area = _support(blurred, c)
    assert abs(extent - radius) <= 1.0
    assert abs(area - np.pi * radius**2) / (np.pi * radius**2) < 0.08
    # The layer is rendered at a reduction s, which places a light at the
    # centre of its s x s block: at most s/2 (about r / 9) off per axis.
    s = reduction_for_radius(radius)
    cy, cx = _centroid(blurred)
    assert max(abs(cy - c), abs(cx - c)) <= s / 2 + 0.01
    yy, xx = np.mgrid[: blurred.shape[0], : blurred.shape[1]]
    inner = np.hypot(yy - cy, xx - cx) < 0.7 * radius
    values = blurred[inner]
    assert values.std() / values.mean() < 0.05  # flat, not a Gaussian bump
    assert blurred.sum() == pytest.approx(1.0, rel=0.01)  # energy conserved


def test_point_light_between_blur_levels_is_one_crisp_disc_of_its_own_radius():
    # 18.5 px lies between the 16 and 21 px levels. A light is splatted with
    # the aperture of its own CoC at full resolution, not blended from the
    # two levels' discs (rendered at a reduction of 8, whose rims were soft
    # over about 8 px): its 50 % and 10 % levels lie within a pixel of
    # 18.5 px, and of each other (the kernel's anti-aliased rim).
    levels = radius_ladder(18.5)
    assert 16.0 in levels and 21.0 in levels and 18.5 not in levels
    blurred, c = _point_scene(radius=18.5)
    inner, _ = _support(blurred, c, frac=0.5)
    outer, _ = _support(blurred, c, frac=0.1)
    assert 18.0 <= inner <= 19.5
    assert outer - inner <= 1.0


def test_hexagonal_aperture_gives_a_hexagon():
    k = aperture_kernel(30.0, Aperture(blades=6, rotation=0.0, curvature=0.0))
    c = k.shape[0] // 2
    on = k > 0.5 * k.max()
    # Rotation 0 puts a vertex straight up: the shape reaches the full
    # circumradius vertically and only cos(30 deg) of it horizontally.
    up = c - np.nonzero(on[:, c])[0].min()
    side = np.nonzero(on[c, :])[0].max() - c
    assert up == pytest.approx(30, abs=1)
    assert side == pytest.approx(30 * np.cos(np.pi / 6), abs=1)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)


def test_kernel_area_grows_smoothly_with_radius():
    radii = np.linspace(3.0, 4.0, 11)
    peaks = [1.0 / aperture_kernel(r).max() for r in radii]  # effective area
    steps = np.diff(peaks)
    assert np.all(steps > 0)  # anti-aliased rim: no jumps, no plateaus
    assert steps.max() < 3 * steps.min()


def test_in_focus_image_is_returned_unchanged():
    rng = np.random.default_rng(0)
    img = rng.random((60, 80, 3), dtype=np.float32)
    out = render_depth_of_field(img, np.zeros((60, 80), np.float32))
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_single_blurred_plane_conserves_energy():
    rng = np.random.default_rng(1)
    img = rng.random((90, 120, 3), dtype=np.float32)
    out = render_depth_of_field(img, np.full((90, 120), -9.0, np.float32))
    np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), rtol=2e-3)
    assert out.std() < 0.5 * img.std()


def _subject_scene(size=200):
    """Red square subject (in focus) in front of a green/blue striped background."""
    img = np.zeros((size, size, 3), np.float32)
    img[..., 1] = (np.arange(size) // 4 % 2)[None, :] * 0.8
    img[..., 2] = 0.3
    matte = np.zeros((size, size), np.float32)
    matte[60:140, 60:140] = 1.0
    img[matte > 0] = (1.0, 0.0, 0.0)
    return img, matte


def test_sharp_subject_keeps_its_edge_and_never_bleeds_into_the_background():
    img, matte = _subject_scene()
    for mode in ("bokeh", "gaussian"):
        out = blur_background(img, matte, 20.0, mode=mode)
        # The subject is untouched, right up to its edge.
        np.testing.assert_allclose(out[60:140, 60:140], img[60:140, 60:140], atol=1e-5)
        # Just outside, no red from the subject: no halo.
        ring = out[50:59, 60:140]
        assert ring[..., 0].max() < 0.02, mode
        # And the background there is blurred (the stripes average out).
        assert ring[..., 1].std() < 0.1 * img[50:59, 60:140, 1].std()


def test_blurred_foreground_spills_over_a_sharp_background():
    size = 200
    img = np.zeros((size, size, 3), np.float32)
    img[..., 1] = (np.arange(size) // 3 % 2)[None, :] * 0.8  # sharp stripes, in focus
    img[:, :100] = (1.0, 0.0, 0.0)  # near red object on the left half
    signed = np.zeros((size, size), np.float32)
    signed[:, :100] = 12.0  # nearer than focus, blurred
    out = render_depth_of_field(img, signed)
    # The red spills softly across the edge onto the background ...
    assert out[100, 103, 0] > 0.2
    assert out[100, 110, 0] > 0.02
    # ... fading out to zero beyond the CoC, where the stripes stay sharp.
    assert out[100, 130, 0] < 1e-3
    np.testing.assert_allclose(out[:, 130:, 1], img[:, 130:, 1], atol=1e-5)


def test_revealed_background_is_filled_from_the_background_not_the_foreground():
    size = 160
    img = np.full((size, size, 3), (0.0, 0.0, 1.0), np.float32)  # blue wall, far
    img[:, :80] = (1.0, 1.0, 0.0)  # yellow near object
    signed = np.full((size, size), -1.0, np.float32)
    signed[:, :80] = 15.0
    out = render_depth_of_field(img, signed)
    # Where the blurred near edge is half transparent, what shows through is
    # blue (the wall extended behind it), mixed only with yellow: no black.
    edge = out[80, 78:83]
    assert np.all(edge.sum(axis=1) > 0.9)


def test_highlights_boost_only_near_clipped_points():
    img = np.full((101, 101, 3), 0.05, np.float32)
    img[50, 50] = 1.0
    img[20, 20] = 0.3
    signed = np.full((101, 101), -10.0, np.float32)
    plain = render_depth_of_field(img, signed)
    boosted = render_depth_of_field(img, signed, highlights=Highlights(gain=5.0))
    assert boosted[50, 50, 0] > 4 * (plain[50, 50, 0] - 0.05)  # the light blooms
    assert boosted[20, 20, 0] == pytest.approx(plain[20, 20, 0], rel=1e-4)  # the dim one does not


def test_push_pull_fills_holes_from_their_surroundings():
    colour = np.zeros((64, 64, 3), np.float32)
    colour[:, :32] = (1, 0, 0)
    colour[:, 32:] = (0, 0, 1)
    weight = np.ones((64, 64), np.float32)
    weight[20:44, 20:44] = 0  # hole across the boundary
    filled = push_pull_fill(colour * weight[..., None], weight)
    assert filled[32, 22, 0] > 0.6 and filled[32, 42, 2] > 0.6
    np.testing.assert_allclose(filled[weight == 1], colour[weight == 1], atol=1e-5)


def test_srgb_linear_round_trip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)


def test_coc_controls():
    assert coc.max_coc_radius(100, 4000) == pytest.approx(120.0)
    assert coc.max_coc_radius(50, 1000) == pytest.approx(15.0)
    d = np.tile(np.linspace(0, 1, 101, dtype=np.float32), (5, 1))
    assert coc.focus_at_point(d, 0.3, 0.5) == pytest.approx(0.3, abs=0.02)
    signed = coc.signed_coc(d, 0.5, 10.0, band=0.1)
    np.testing.assert_allclose(signed[:, 40:61], 0, atol=1e-5)  # the band stays sharp
    assert signed[0, 100] == pytest.approx(4.0) and signed[0, 0] == pytest.approx(-4.0)
    k = coc.scale_for_max_radius(0.8, 0.05, 30.0)
    assert np.abs(coc.signed_coc(d, 0.8, k, band=0.05)).max() == pytest.approx(30.0, rel=1e-4)
    matte = np.zeros_like(d)
    matte[:, 70:90] = 1
    focus, extent = coc.focus_on_matte(d, matte)
    assert 0.75 < focus < 0.85 and 0 < extent < 0.1


def test_guided_filter_snaps_a_blurry_step_to_the_guide_edge():
    guide = np.zeros((40, 80, 3), np.float32)
    guide[:, 40:] = 1.0
    blurry = np.clip((np.arange(80, dtype=np.float32) - 30) / 20, 0, 1)[None].repeat(40, 0)
    out = guided_filter(guide, blurry, 4, 1e-4)
    assert out[20, 36] < 0.35 and out[20, 43] > 0.65
    # The step across the guide's edge is much steeper than the input's.
    assert out[20, 40] - out[20, 39] > 4 * (blurry[20, 40] - blurry[20, 39])


def test_nearly_sharp_layer_beside_the_sharp_one_renders():
    # A rung under a pixel next to the focal plane (regression: KeyError).
    rng = np.random.default_rng(4)
    img = rng.random((64, 80, 3), dtype=np.float32)
    coc = np.zeros((64, 80), np.float32)
    coc[:, :40] = -10.0
    coc[:, 60:] = 0.4
    out = render_depth_of_field(img, coc, levels=[-10.0, 0.0, 0.4])
    np.testing.assert_allclose(out[:, 50:55], img[:, 50:55], atol=1e-5)  # in focus, far from both
    assert out[:, :30].std() < 0.5 * img[:, :30].std()  # the far part is blurred


def test_render_is_the_same_on_one_thread_or_several_and_in_place(monkeypatch):
    # Strips and layers run on a thread pool; each writes only its own rows
    # or its own layer, so the image must not depend on the thread count,
    # and rendering into the input itself (out=input) must give the same.
    from depthblur_cli import threads

    rng = np.random.default_rng(3)
    h, w = 600, 520  # several strips of threads.STRIP_ROWS rows
    srgb = rng.random((h, w, 3), dtype=np.float32)
    yy, xx = np.mgrid[:h, :w]
    signed = (np.float32(24.0) * np.sin(xx / 60.0) * np.cos(yy / 45.0)).astype(np.float32)
    renders = []
    for count in (1, 2, 3):
        monkeypatch.setattr(threads, "THREADS", count)
        renders.append(render_depth_of_field(srgb, signed, srgb=True))
    linear = srgb_to_linear(srgb)
    in_place = render_depth_of_field(linear, signed, out=linear)
    assert in_place is linear
    for other in renders[1:] + [in_place]:  # strips cut elsewhere: a few float steps (helpers.FLOAT_STEPS)
        assert_floats_close(other, renders[0])
    assert np.abs(renders[0] - srgb_to_linear(srgb)).mean() > 0.02  # it did blur


def test_layers_share_every_pixel_out_once_in_depth_order():
    # Interval layers, whole levels and half hats: every index's weight sums
    # to 1 over the layers, and what each layer sees as nearer is the weight
    # of the later ones.
    from depthblur_cli.render.layers import split_into_layers

    x = np.linspace(0.0, 6.0, 601, dtype=np.float32)
    for whole in ([False] * 3 + [True] + [False] * 3, [True] * 2 + [False] * 5, [False, True], [True, False]):
        units = split_into_layers(whole)
        member = []
        for u in units:
            a = np.zeros_like(x)
            for k in u.levels:
                a += u.weight_into(x, k, np.empty_like(x))
            member.append(a)
        member = np.array(member)
        inside = x <= len(whole) - 1
        np.testing.assert_allclose(member.sum(axis=0)[inside], 1.0, atol=1e-6)
        for i, u in enumerate(units):
            nearer = u.nearer_into(x, np.empty_like(x))
            np.testing.assert_allclose(nearer[inside], member[i + 1 :].sum(axis=0)[inside], atol=1e-6)


def test_surface_between_two_rungs_is_counted_once():
    # A white square whose CoC lies between the 16 and 21 px rungs, in front
    # of a black far background: blurred on both rungs and the two summed
    # (one slab), its light is conserved; as two layers composited over each
    # other it came out 12 % brighter, counted twice near its edges.
    img = np.zeros((240, 240, 3), np.float32)
    coc = np.full((240, 240), -45.0, np.float32)
    img[90:150, 90:150] = 1.0
    coc[90:150, 90:150] = -18.5
    out = render_depth_of_field(img, coc)
    assert out[..., 0].sum() == pytest.approx(60 * 60, rel=0.01)


def test_an_8_bit_image_renders_as_its_floats():
    """uint8 sRGB is decoded by table lookup, strip by strip (no full-size float copy): the same render
    within a few float steps."""
    from depthblur_cli.imaging.pixels import to_float

    rng = np.random.default_rng(3)
    photo = (rng.random((160, 200, 3)) * 200).astype(np.uint8)
    photo[40:43, 50:53] = 255  # a clipped light in the blurred background
    photo[120, 150] = (255, 240, 200)
    coc = np.full((160, 200), -9.0, np.float32)
    coc[60:110, 80:140] = 0.0  # a sharp subject
    coc[:20] = 4.0  # a blurred foreground strip
    as_u8 = render_depth_of_field(photo, coc, srgb=True, highlights=Highlights())
    as_float = render_depth_of_field(to_float(photo), coc, srgb=True, highlights=Highlights())
    assert_floats_close(as_u8, as_float)  # a table lookup against the formula: a few float steps
    with pytest.raises(ValueError, match="uint8"):
        render_depth_of_field(photo, coc)


@pytest.mark.parametrize("shape", [(40, 50, 3), (40, 50, 4), (40, 50, 1), (40, 50), (7,)])
def test_8_bit_srgb_decodes_exactly_as_its_floats(shape):
    from depthblur_cli.colour import srgb8_to_linear
    from depthblur_cli.imaging.pixels import to_float

    values = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = srgb8_to_linear(values)
    assert decoded.shape == values.shape and decoded.dtype == np.float32
    # The table holds the formula's values, but NumPy's power rounds its SIMD body and its scalar
    # tail apart (a 7-value array is all tail): a few float steps, not bit for bit.
    assert_floats_close(decoded, srgb_to_linear(to_float(values)))


def test_a_lights_depth_is_read_at_its_pixel_nearest_its_centre():
    """Rounded centroids, with the blob searched where that pixel is not its own (a ring), ties to the first."""
    import cv2

    from depthblur_cli.render.lights import _value_nearest_centre

    mask = np.zeros((60, 80), np.uint8)
    mask[5, 5:7] = 1  # two pixels: a tie between them, the first wins
    mask[10:12, 20:22] = 1  # 2x2: a four-way tie
    cv2.circle(mask, (50, 30), 8, 1, 1)  # a ring: its centre is not its own
    mask[40:45, 10] = 1
    mask[44, 10:16] = 1  # an L
    values = np.random.default_rng(0).random((60, 80)).astype(np.float32)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    wanted = np.ones(n, bool)
    wanted[0] = False
    got = _value_nearest_centre(labels, wanted, stats, centroids, values)
    for k in range(1, n):
        ys, xs = np.nonzero(labels == k)  # row-major order
        nearest = np.argmin((ys - centroids[k, 1]) ** 2 + (xs - centroids[k, 0]) ** 2)
        assert got[k] == values[ys[nearest], xs[nearest]]
    assert got[0] == 0.0


def test_submitted_work_runs_beside_the_caller_and_hands_back_its_result_or_error():
    from depthblur_cli import threads

    assert threads.submit(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        threads.submit(lambda: 1 / 0).result()
    # From a pool thread it runs right there (a pool thread waiting on the pool could wait for ever).
    nested = threads.submit(lambda: threads.submit(threads.on_pool_thread).result()).result()
    assert nested is True


def test_a_mixed_pixels_split_depends_only_on_its_neighbourhood():
    # Two subjects side by side, far apart in the same rows: each one's edge split is found over
    # its own columns (the means reach RADIUS pixels), and is what it is with the other absent.
    from depthblur_cli.render.edges import RADIUS, find_edge_split

    rng = np.random.default_rng(7)
    n, w = 40, 300
    yy, xx = np.mgrid[:n, :w]
    soft = lambda cx: np.clip((20.0 - np.abs(xx - cx)) / 3.0, 0.0, 1.0)  # noqa: E731 (a soft-edged blob)
    hard = ((np.abs(xx - 230) < 15) & (np.abs(yy - 20) < 12)).astype(np.float32)  # a hard-edged one
    index = np.maximum(soft(60), hard).astype(np.float32)  # level 1 (sharp) on the subjects, 0 around
    # Red subjects on a blue background, lightly textured: edges with evidence that the sides differ.
    subject, behind = np.array([0.8, 0.2, 0.1], np.float32), np.array([0.1, 0.3, 0.8], np.float32)
    colour = index[..., None] * subject + (1.0 - index[..., None]) * behind
    colour += np.float32(0.03) * rng.random((n, w, 3), dtype=np.float32)
    core = slice(RADIUS, n - RADIUS)
    both = find_edge_split(colour, index, 1, core)
    assert both is not None and np.all(np.diff(both.flat) > 0)  # row-major, each pixel once
    halves = []
    for cols in (slice(0, 150), slice(150, w)):
        alone = np.zeros_like(index)
        alone[:, cols] = index[:, cols]
        halves.append(find_edge_split(colour, alone, 1, core))
    parts = [h for h in halves if h is not None]
    assert len(parts) == 2
    flat = np.concatenate([p.flat for p in parts])
    order = np.argsort(flat)
    np.testing.assert_array_equal(both.flat, flat[order])
    for name in ("alpha", "index", "background"):
        np.testing.assert_array_equal(getattr(both, name), np.concatenate([getattr(p, name) for p in parts])[order])


def test_an_8_bit_result_is_the_float_result_encoded_and_rounded():
    # render_depth_of_field into a uint8 ``out`` (and render_depth_blur of an 8-bit photo without
    # effects) encodes and rounds strip by strip: exactly what encoding and rounding the float result give.
    from depthblur_cli.colour import linear_to_srgb
    from depthblur_cli.imaging.pixels import quantize, to_float
    from depthblur_cli.pipeline.compose import render_depth_blur
    from depthblur_cli.pipeline.options import DepthOptions

    rng = np.random.default_rng(11)
    h, w = 300, 260  # several strips
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    photo[100:103, 50:53] = 255  # a light
    yy, xx = np.mgrid[:h, :w]
    signed = (np.float32(14.0) * np.sin(xx / 40.0) * np.cos(yy / 35.0)).astype(np.float32)
    as_float = render_depth_of_field(photo, signed, srgb=True, highlights=Highlights())
    eight = render_depth_of_field(
        photo, signed, srgb=True, highlights=Highlights(), out=np.empty(photo.shape, np.uint8)
    )
    # encoded strip by strip against the whole image at once: a value on a rounding boundary may go either way
    assert_8bit_close(eight, quantize(linear_to_srgb(as_float)))
    flat = np.full((h, w), -3.0, np.float32)  # one blur level: the other path
    one = render_depth_of_field(photo, flat, srgb=True, out=np.empty(photo.shape, np.uint8))
    assert_8bit_close(one, quantize(linear_to_srgb(render_depth_of_field(photo, flat, srgb=True))))
    blurred = render_depth_blur(photo, signed, DepthOptions())
    assert blurred.dtype == np.uint8
    assert_8bit_close(blurred, quantize(render_depth_blur(to_float(photo), signed, DepthOptions())))
    with pytest.raises(ValueError, match="uint8"):
        render_depth_of_field(photo, signed, srgb=True, out=np.empty(photo.shape, np.uint16))


def test_a_mixed_pixel_at_a_slight_depth_step_is_blurred_as_the_nearer_surface():
    """slight.nearer_at_depth_steps: beside a nearer surface within slight defocus (a 4-neighbour's
    signed CoC larger by more than 0.5 px) a pixel takes its CoC when that surface is the sharper
    one or blurred by at most 3 px; steps beyond slight defocus, more blurred surfaces in front
    and smooth slopes are left as they are."""
    from depthblur_cli.render.slight import nearer_at_depth_steps

    def row(*values: float) -> np.ndarray:
        return np.repeat(np.array([values], np.float32), 3, axis=0)

    # a 2 px foreground over a sharp background: the background's edge pixel joins the foreground
    np.testing.assert_array_equal(nearer_at_depth_steps(row(0, 0, 0, 2, 2))[1], [0, 0, 2, 2, 2])
    # a sharp subject before a background 5 px behind: the background's edge pixel stays sharp
    np.testing.assert_array_equal(nearer_at_depth_steps(row(-5, -5, 0, 0))[1], [-5, 0, 0, 0])
    for unchanged in (row(0, 0, 4, 4), row(0, 0, 20, 20), row(-9, -9, 0, 0), row(0, 0.3, 0.6, 0.9, 1.2)):
        np.testing.assert_array_equal(nearer_at_depth_steps(unchanged), unchanged)
    # vertical neighbours count too; diagonal ones do not
    grid = np.zeros((3, 3), np.float32)
    grid[0, 1] = 1.5
    got = nearer_at_depth_steps(grid)
    assert got[1, 1] == 1.5 and got[1, 0] == 0 and got[2, 2] == 0
    # one pixel, and strips one pixel wide (OpenCV's arithmetic would read up to 4 values as a scalar);
    # on images smaller than the slight band a flat grey stays flat (a blur level clamped to the
    # image's side inside the band took 14 % of a 3 px image's level)
    for shape in ((1, 1), (1, 3), (4, 1), (2, 2), (3, 3), (8, 4), (1, 8)):
        for values in (np.linspace(-2.0, 2.0, shape[0] * shape[1], dtype=np.float32).reshape(shape),
                       np.full(shape, 0.7, np.float32)):  # fmt: skip
            assert nearer_at_depth_steps(values).shape == shape
            image = np.full(shape + (3,), 0.5, np.float32)
            np.testing.assert_allclose(render_depth_of_field(image, values), image, atol=1e-5)
