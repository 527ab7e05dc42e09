"""The exact thin-lens reference, and the renderer measured against it.

``depthblur_eval.reference`` renders layered scenes exactly (pinhole
views averaged over the aperture); these tests check the reference itself
(in-focus planes untouched, a point becomes a flat disc of the CoC radius
with its energy, occlusion by in-focus and blurred planes, convergence) and
then ``render_depth_of_field`` against it and against two baselines.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthblur_cli.render.kernels import Aperture
from depthblur_cli.render.lens import render_depth_of_field
from depthblur_cli.render.levels import reduction_for_radius
from depthblur_eval import reference as ref


def _scene(planes, height, width, pad):
    """A hand-made Scene from [(rgb (H+2p, W+2p, 3), alpha (H+2p, W+2p), coc)], back to front."""
    out = []
    for rgb, alpha, coc in planes:
        rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2).astype(np.float32)
        out.append(ref.Plane(rgba, coc, coc))
    return ref.Scene(tuple(out), height, width, pad, 0.0, 1.0)


def _point_plane(size, pad, coc):
    """One opaque black plane with a unit point light at the frame's centre."""
    rgb = np.zeros((size + 2 * pad, size + 2 * pad, 3), np.float32)
    rgb[pad + size // 2, pad + size // 2] = 1.0
    return _scene([(rgb, np.ones(rgb.shape[:2], np.float32), coc)], size, size, pad)


def _disc_alpha(shape, cy, cx, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    return np.clip(radius + 0.5 - np.hypot(yy - cy, xx - cx), 0.0, 1.0)


def _support(image, c, frac=0.5):
    """Largest distance from pixel (c, c) at which ``image`` exceeds ``frac`` of its peak, and that area."""
    ys, xs = np.nonzero(image > image.max() * frac)
    return np.hypot(ys - c, xs - c).max(), len(ys)


# --------------------------------------------------------------------------
# The reference itself


def test_aperture_samples_cover_the_unit_disc_evenly():
    u = ref.aperture_samples(512)
    r2 = (u**2).sum(axis=1)
    assert u.shape == (512, 2) and r2.max() < 1.0
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=0.01)
    assert r2.mean() == pytest.approx(0.5, abs=0.01)  # E|u|^2 of the uniform disc
    assert np.mean(r2 < 0.25) == pytest.approx(0.25, abs=0.01)  # equal area, equal share


def test_in_focus_scene_renders_to_its_centre_view_and_the_renderer_keeps_it():
    scene = ref.random_scene(3, 64, 80, max_coc=8.0, planes=3)
    focused = ref.Scene(tuple(ref.Plane(p.rgba, p.disparity, 0.0) for p in scene.planes), 64, 80, scene.pad, 0.0, 0.0)
    rgb, coc = ref.centre_view(focused)
    assert not coc.any()
    np.testing.assert_allclose(ref.exact_render(focused, 16), rgb, atol=1e-5)
    np.testing.assert_allclose(render_depth_of_field(rgb, coc), rgb, atol=1e-6)


@pytest.mark.parametrize("coc", [-12.0, 7.5])
def test_exact_point_light_becomes_a_flat_disc_of_the_coc_radius_with_its_energy(coc):
    size, pad = 61, 16
    exact = ref.exact_render(_point_plane(size, pad, coc), 64)[..., 0]
    c, r = size // 2, abs(coc)
    extent, area = _support(exact, c)
    assert abs(extent - r) <= 1.0
    assert abs(area - np.pi * r * r) / (np.pi * r * r) < 0.1
    yy, xx = np.mgrid[:size, :size]
    inner = exact[np.hypot(yy - c, xx - c) < 0.7 * r]
    assert inner.std() / inner.mean() < 0.02  # flat, not a bump
    assert exact.sum() == pytest.approx(1.0, abs=1e-4)  # energy conserved


def test_control_variate_converges_to_the_plain_mean_of_views():
    scene = ref.random_scene(5, 72, 96, max_coc=10.0, planes=3)
    m = int(np.ceil(scene.max_coc))
    best = ref.exact_render(scene, 512)
    # Few samples with the control variate are already close ...
    assert ref.srgb_psnr(best, ref.exact_render(scene, 64), m) > 45.0
    # ... and the plain accumulation buffer converges to the same image.
    plain = ref.exact_render(scene, 1024, control_variate=False)
    assert ref.srgb_psnr(best, plain, m) > 50.0


def test_in_focus_occluder_hides_nothing_beside_it():
    # Rays to a pixel just outside an in-focus subject all pass beside it,
    # so there the background is blurred over the whole disc -- including
    # the part hidden behind the subject in the centre view.
    size, pad, coc = 64, 14, -10.0
    rng = np.random.default_rng(0)
    shape = (size + 2 * pad, size + 2 * pad)
    back = rng.random(shape + (3,), dtype=np.float32)
    front = np.broadcast_to(np.float32([1.0, 0.2, 0.1]), shape + (3,)).copy()
    alpha = _disc_alpha(shape, pad + 32, pad + 32, 14.0)
    scene = _scene([(back, np.ones(shape, np.float32), coc), (front, alpha, 0.0)], size, size, pad)
    exact = ref.exact_render(scene, 64)
    kernel = ref.shift_average_kernel(abs(coc))
    k = kernel.shape[0] // 2
    blurred = np.zeros((size, size, 3), np.float64)
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            window = back[pad - dy : pad - dy + size, pad - dx : pad - dx + size]
            blurred += kernel[k + dy, k + dx] * window
    centre_alpha = alpha[pad : pad + size, pad : pad + size]
    outside = centre_alpha == 0
    np.testing.assert_allclose(exact[outside], blurred[outside], atol=2e-5)
    inside = centre_alpha == 1
    np.testing.assert_allclose(exact[inside], front[pad : pad + size, pad : pad + size][inside], atol=1e-5)


def test_blurred_occluder_leaves_the_background_beyond_its_coc_sharp():
    size, pad, coc = 64, 14, 8.0
    rng = np.random.default_rng(1)
    shape = (size + 2 * pad, size + 2 * pad)
    back = rng.random(shape + (3,), dtype=np.float32)
    alpha = _disc_alpha(shape, pad + 32, pad + 32, 16.0)
    front = np.broadcast_to(np.float32([0.9, 0.8, 0.1]), shape + (3,)).copy()
    scene = _scene([(back, np.ones(shape, np.float32), 0.0), (front, alpha, coc)], size, size, pad)
    exact = ref.exact_render(scene, 128)
    yy, xx = np.mgrid[:size, :size]
    dist = np.hypot(yy - 32, xx - 32)
    far_out = dist > 16.0 + coc + 1.5
    np.testing.assert_allclose(exact[far_out], back[pad : pad + size, pad : pad + size][far_out], atol=1e-5)
    deep_in = dist < 16.0 - coc - 1.5
    np.testing.assert_allclose(exact[deep_in], np.broadcast_to(front[0, 0], exact[deep_in].shape), atol=1e-5)
    # Between, the blurred rim lets the sharp background through: partial occlusion.
    rim = exact[32, 32 + 16 + 2]
    assert 0.05 < np.abs(rim - back[pad + 32, pad + 50]).max() < 0.9


def test_psnr():
    a = np.zeros((4, 4))
    assert ref.psnr(a, a) == float("inf")
    assert ref.psnr(a, a + 0.1) == pytest.approx(20.0)
    assert ref.psnr(a, a + 1.0, peak=10.0) == pytest.approx(20.0)


# --------------------------------------------------------------------------
# The renderer's unit checks from issue 3 that tests/render/test_render.py lacks


def test_renderer_point_light_matches_the_exact_disc():
    size, pad, r = 81, 26, 22.0
    exact = ref.exact_render(_point_plane(size, pad, -r), 64)[..., 0]
    rgb, coc = ref.centre_view(_point_plane(size, pad, -r))
    out = render_depth_of_field(rgb, coc, levels=[-r, 0.0])[..., 0]
    c = size // 2
    (e_extent, e_area), (o_extent, o_area) = _support(exact, c), _support(out, c)
    assert abs(o_extent - e_extent) <= 1.0
    assert abs(o_area - e_area) / e_area < 0.08
    yy, xx = np.mgrid[:size, :size]
    inner = np.hypot(yy - c, xx - c) < 0.7 * r
    assert out[inner].mean() == pytest.approx(exact[inner].mean(), rel=0.05)  # same flat brightness
    assert out[inner].std() / out[inner].mean() < 0.05
    assert out.sum() == pytest.approx(1.0, rel=0.01)


def test_renderer_point_light_through_a_hexagonal_iris_is_a_flat_hexagon():
    size, r = 121, 24.0
    img = np.zeros((size, size, 3), np.float32)
    c = size // 2
    img[c, c] = 1.0
    hexagon = Aperture(blades=6, rotation=0.0, curvature=0.0)
    out = render_depth_of_field(img, np.full((size, size), -r, np.float32), aperture=hexagon, levels=[-r, 0.0])[..., 0]
    on = out > 0.5 * out.max()
    # Measured from the light's centroid: the renderer places a light at the
    # centre of its block at the reduced scale (at most s/2 px off).
    yy, xx = np.mgrid[:size, :size]
    cy, cx = (int(round((g * out).sum() / out.sum())) for g in (yy, xx))
    assert max(abs(cy - c), abs(cx - c)) <= reduction_for_radius(r, kernel_radius=6.0) / 2 + 0.5
    up = cy - np.nonzero(on[:, cx])[0].min()  # a vertex straight up
    side = np.nonzero(on[cy, :])[0].max() - cx  # a flat side to the right
    assert up == pytest.approx(r, abs=1.5)
    assert side == pytest.approx(r * np.cos(np.pi / 6), abs=1.5)
    area = 1.5 * np.sqrt(3) * r * r
    assert abs(on.sum() - area) / area < 0.08
    inner = out[c - 10 : c + 11, c - 10 : c + 11]
    assert inner.std() / inner.mean() < 0.05
    assert out.sum() == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize("coc", [-40.0, 25.0])
def test_renderer_conserves_a_single_planes_energy_at_large_radii(coc):
    rng = np.random.default_rng(2)
    img = rng.random((160, 200, 3), dtype=np.float32)
    out = render_depth_of_field(img, np.full((160, 200), coc, np.float32))
    np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), rtol=3e-3)
    assert out.std() < 0.2 * img.std()


def test_in_focus_subject_in_front_of_a_blurred_background_keeps_its_edge_within_a_pixel():
    size, pad, coc = 96, 22, -20.0
    rng = np.random.default_rng(3)
    shape = (size + 2 * pad, size + 2 * pad)
    back = np.clip(rng.random(shape + (3,), dtype=np.float32) * [0.1, 0.6, 0.8], 0, 1).astype(np.float32)
    red = np.broadcast_to(np.float32([0.9, 0.05, 0.05]), shape + (3,)).copy()
    alpha = np.zeros(shape, np.float32)
    edge = pad + 48  # the subject fills columns < 48 of the frame, rows 20..75
    alpha[pad + 20 : pad + 76, :edge] = 1.0
    scene = _scene([(back, np.ones(shape, np.float32), coc), (red, alpha, 0.0)], size, size, pad)
    exact = ref.exact_render(scene, 64)
    rgb, signed = ref.centre_view(scene)
    out = render_depth_of_field(rgb, signed)
    rows = slice(30, 66)
    for image in (exact, out):
        redness = image[rows, :, 0] - image[rows, :, 2]  # subject ~0.85, background < 0
        half = 0.5 * (0.85 + np.median(redness[:, 60:]))
        crossing = (redness > half).sum(axis=1)  # columns left of the 50 % crossing
        assert np.all(np.abs(crossing - 48) <= 1)
    # The subject itself is untouched up to its edge, as in the exact image.
    np.testing.assert_allclose(out[rows, :47], rgb[rows, :47], atol=1e-4)


# --------------------------------------------------------------------------
# Accuracy against the exact image, side by side with the baselines: the
# issue's goal on the scene family of benchmarks/bench_accuracy.py

#: The benchmark's scenes: 384x512, CoC up to 60 px, seeds 0..5 with 2, 3,
#: 4, 2, 3, 4 planes and bright points; 128 aperture samples here (the
#: benchmark takes 512), about 12 s in all.
SCENES = tuple((seed, 2 + seed % 3) for seed in range(6))


@pytest.fixture(scope="module")
def accuracy():
    """Mean sRGB PSNR (dB) of each method against the exact image over SCENES."""
    scores = {"depthblur": [], "plain_layered": [], "gaussian_pick": []}
    for seed, planes in SCENES:
        scene = ref.random_scene(seed, 384, 512, max_coc=60.0, planes=planes)
        exact = ref.exact_render(scene, 128)
        rgb, coc = ref.centre_view(scene)
        margin = int(np.ceil(scene.max_coc))
        scores["depthblur"].append(ref.srgb_psnr(exact, render_depth_of_field(rgb, coc), margin))
        scores["plain_layered"].append(ref.srgb_psnr(exact, ref.plain_layered_blur(rgb, coc), margin))
        scores["gaussian_pick"].append(ref.srgb_psnr(exact, ref.gaussian_stack_pick(rgb, coc), margin))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def test_renderer_is_at_least_2_db_above_the_plain_layered_blur(accuracy):
    # Issue 3's goal. Measured with 128 samples: depthblur 40.8 dB, plain
    # layered 37.1 dB (+3.7; the benchmark with 512 samples: +3.9). What
    # gains it: extensions limited to each unit's share of what is behind,
    # two-rung slabs counted once, bicubic resampling between scales.
    assert accuracy["depthblur"] - accuracy["plain_layered"] >= 2.0, accuracy


def test_renderer_is_far_above_the_gaussian_stack_pick(accuracy):
    # Issue 3: "far above" a per-pixel pick from a stack of Gaussian blurs
    # (measured: 40.8 against 32.4 dB, +8.4).
    assert accuracy["depthblur"] - accuracy["gaussian_pick"] >= 5.0, accuracy


@pytest.mark.parametrize(("seed", "max_coc", "above"), [(3, 8.0, 1.0), (7, 8.0, 1.0), (0, 2.0, 3.0), (5, 3.0, 5.0)])
def test_slight_defocus_with_depth_steps_is_above_the_plain_layered_blur(seed, max_coc, above):
    """Two or three planes all within 8 px of CoC (the benchmark's slight family, scenes 3, 7, 0 and 5:
    a plane at 6.3 px beside one at 4.6; one in focus before two 1.3 and 5.2 px behind it; one at
    1.0 px in front of one in focus; one in focus in front of one 2.1 px behind it): ``above`` dB
    above a plain full-resolution layered blur. Measured with 128 samples: +1.45, +1.03, +4.4 and
    +7.9 dB; before a mixed pixel at a depth step was blurred as the nearer surface
    (slight.nearer_at_depth_steps): +1.3, +2.1, +0.2 and +0.0; before the focal layer held CoC up to
    8 px and kept a depth step within one side of the focus apart: -1.7, -1.1, +0.2, -0.1."""
    scene = ref.random_scene(seed, 384, 512, planes=2 + seed % 3, max_coc=max_coc)
    exact = ref.exact_render(scene, 128)
    rgb, coc = ref.centre_view(scene)
    margin = int(np.ceil(scene.max_coc))
    ours = ref.srgb_psnr(exact, render_depth_of_field(rgb, coc), margin)
    plain = ref.srgb_psnr(exact, ref.plain_layered_blur(rgb, coc), margin)
    assert ours - plain >= above, (ours, plain)
