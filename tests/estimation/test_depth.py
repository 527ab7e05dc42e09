"""Tests of depthblur_cli.estimation (disparity, stereo, upsample, monocular) on real stereo data and tiny ONNX models.

Stereo data: Middlebury 2014 "Motorcycle" (Scharstein et al., GCPR 2014),
downsampled x4, see examples/README.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import assert_floats_close
from onnx import TensorProto, helper
from PIL import Image
from scipy import ndimage

from depthblur_cli.errors import ModelError
from depthblur_cli.estimation import disparity, monocular, upsample
from depthblur_cli.estimation import stereo as stereo_matching
from depthblur_cli.estimation.guided_filter import ColourGuide, fast_guided_filter, guided_filter
from depthblur_cli.render.coc import signed_coc
from depthblur_eval import metrics

DATA = Path(__file__).resolve().parents[2] / "examples"  # real photos, licences in examples/README.md


def _load_rgb(name: str) -> np.ndarray:
    with Image.open(DATA / name) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def motorcycle():
    left = _load_rgb("motorcycle_left.png")
    right = _load_rgb("motorcycle_right.png")
    with np.load(DATA / "motorcycle_disp.npz") as z:
        truth = z["arr_0"].astype(np.float32)
    assert left.shape == right.shape == truth.shape + (3,) == (500, 741, 3)
    return left, right, truth


@pytest.fixture(scope="module")
def stereo(motorcycle):
    """Raw SGBM (NaN where invalid) and final disparity of the pair, computed once."""
    left, right, _ = motorcycle
    t0 = time.perf_counter()
    raw = stereo_matching.disparity_from_stereo(left, right, raw=True)
    t1 = time.perf_counter()
    final = stereo_matching.disparity_from_stereo(left, right)
    t2 = time.perf_counter()
    return {"raw": raw, "final": final, "raw_s": t1 - t0, "final_s": t2 - t1}


# --------------------------------------------------------------------------- #
# fill_holes, disparity_from_values, normalize_disparity, bad_pixel_rate
# --------------------------------------------------------------------------- #


def test_fill_holes_takes_the_nearest_valid_pixel():
    d = np.zeros((5, 10), np.float32)
    d[:, :5] = 1.0
    d[:, 5:] = 7.0
    d[:, 3] = np.nan  # nearest valid: column 2 (1.0) or 4 (1.0)
    d[:, 6] = np.inf  # nearest valid: column 5 or 7 (7.0)
    d[2, 8] = -np.inf
    out = disparity.fill_holes(d)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 3], 1.0)
    np.testing.assert_array_equal(out[:, 6], 7.0)
    assert out[2, 8] == 7.0
    valid = np.isfinite(d)
    np.testing.assert_array_equal(out[valid], d[valid])


def test_fill_holes_single_valid_pixel_and_all_invalid():
    d = np.full((4, 6), np.nan, np.float32)
    d[1, 2] = 3.5
    np.testing.assert_array_equal(disparity.fill_holes(d), 3.5)
    with pytest.raises(ValueError):
        disparity.fill_holes(np.full((4, 6), np.nan, np.float32))


def test_disparity_from_values_depth_inverts_order_and_fills_holes():
    depth = np.full((6, 8), 4.0, np.float32)  # background at 4 m
    depth[2:4, 2:4] = 1.0  # near object at 1 m
    depth[0, 0] = 0.0  # invalid (non-positive) -> hole
    depth[5, 7] = np.nan
    disp, notes = disparity.disparity_from_values(depth, "depth", (6, 8))
    assert notes == []
    assert disp.dtype == np.float32 and disp.shape == (6, 8) and np.isfinite(disp).all()
    # larger = nearer: the 1 m object has disparity 1, the 4 m background 0.25
    np.testing.assert_allclose(disp[2:4, 2:4], 1.0)
    assert disp[0, 0] == pytest.approx(0.25) and disp[5, 7] == pytest.approx(0.25)
    assert disp[2, 2] > disp[0, 5]


def test_disparity_from_values_resizes_with_a_note_and_keeps_units():
    vals = np.tile(np.linspace(10.0, 50.0, 40, dtype=np.float32), (30, 1))  # 40x30
    vals[5, 5] = np.nan
    disp, notes = disparity.disparity_from_values(vals, "disparity", (60, 80))
    assert disp.shape == (60, 80)
    assert notes == ["depth map is 40x30, image is 80x60: resized"]
    # the file's own units survive the resize (no normalisation)
    assert 10.0 - 1e-3 <= disp.min() < 11.0 and 49.0 < disp.max() <= 50.0 + 1e-3
    assert np.all(np.diff(disp[30], axis=0) >= -1e-4)  # ramp still increasing
    with pytest.raises(ValueError):
        disparity.disparity_from_values(vals, "height", (30, 40))


def test_normalize_disparity_is_robust_and_handles_constant_maps():
    rng = np.random.default_rng(1)
    d = rng.uniform(2.0, 3.0, (100, 100)).astype(np.float32)
    d[0, :5] = 1000.0  # outliers (0.05 % of pixels) must not squash the range
    n = disparity.normalize_disparity(d)
    assert n.dtype == np.float32 and n.min() == 0.0 and n.max() == 1.0
    inner = n[1:]
    assert inner.std() > 0.25  # uniform 0..1 has std 0.29; squashed would be ~0
    assert np.corrcoef(inner.ravel(), d[1:].ravel())[0, 1] > 0.99
    np.testing.assert_array_equal(disparity.normalize_disparity(np.full((5, 5), 7.0)), 0.0)
    with pytest.raises(ValueError):
        disparity.normalize_disparity(d, 50.0, 10.0)


def test_bad_pixel_rate_counts_nan_estimates_and_ignores_unknown_truth():
    truth = np.array([[10.0, 10.0, np.inf, 10.0]], np.float32)
    est = np.array([[10.5, 13.0, 0.0, np.nan]], np.float32)
    # known: 3 pixels; bad: 13.0 (err 3) and NaN
    assert metrics.bad_pixel_rate(est, truth) == pytest.approx(2 / 3)
    assert metrics.bad_pixel_rate(est, truth, threshold=5.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        metrics.bad_pixel_rate(est, truth[:, :3])


# --------------------------------------------------------------------------- #
# Stereo on the Middlebury pair
# --------------------------------------------------------------------------- #


def test_stereo_bad_pixel_rates_on_middlebury_motorcycle(motorcycle, stereo):
    truth = motorcycle[2]
    raw, final = stereo["raw"], stereo["final"]
    assert final.shape == truth.shape and final.dtype == np.float32
    assert np.isfinite(final).all()

    valid = np.isfinite(raw)
    bad_raw = metrics.bad_pixel_rate(raw, truth)  # invalid raw pixels count as bad
    bad_final = metrics.bad_pixel_rate(final, truth)
    truth_on_valid = np.where(valid, truth, np.inf)
    bad_raw_valid = metrics.bad_pixel_rate(raw, truth_on_valid)
    bad_final_valid = metrics.bad_pixel_rate(final, truth_on_valid)
    print(
        f"\nSGBM motorcycle 741x500: raw valid {valid.mean():.1%}, bad>2px raw {bad_raw:.2%} "
        f"(on its valid pixels {bad_raw_valid:.2%}), final {bad_final:.2%} "
        f"(on raw-valid pixels {bad_final_valid:.2%}); raw {stereo['raw_s']:.2f}s, full {stereo['final_s']:.2f}s"
    )
    # Measured: valid 88.2 %, raw 15.45 % (4.98 % on valid), final 6.93 % (4.51 %).
    assert valid.mean() > 0.85
    assert bad_raw_valid < 0.06
    assert bad_final < 0.08
    assert bad_final < 0.5 * bad_raw  # holes filled: much better over all truth pixels
    assert bad_final_valid <= bad_raw_valid + 0.005  # and not worse where raw was valid
    # disparities are in pixels at the input resolution
    known = np.isfinite(truth)
    assert abs(np.median(final[known] - truth[known])) < 0.5


def test_stereo_left_right_check_invalidates_occlusions(motorcycle, stereo):
    truth = motorcycle[2]
    raw = stereo["raw"]
    # Occluded pixels of the left view: their match in the right view is hidden
    # by a nearer surface. Derived from the truth by z-buffering along scanlines.
    h, w = truth.shape
    known = np.isfinite(truth)
    xs = np.arange(w)[None, :].repeat(h, 0)
    xr = np.rint(xs - np.where(known, truth, 0)).astype(int)
    ok = known & (xr >= 0)
    zbuf = np.full((h, w), -np.inf, np.float32)
    rows = np.nonzero(ok)[0]
    np.maximum.at(zbuf, (rows, xr[ok]), truth[ok])
    occluded = ok.copy()
    occluded[ok] = truth[ok] < zbuf[rows, xr[ok]] - 1.5
    assert occluded.sum() > 2000
    # most occluded pixels are rejected, most visible ones kept
    assert np.isnan(raw[occluded]).mean() > 0.5
    assert np.isfinite(raw[ok & ~occluded]).mean() > 0.9


def test_stereo_rejects_mismatched_pair(motorcycle):
    left, right, _ = motorcycle
    with pytest.raises(ValueError):
        stereo_matching.disparity_from_stereo(left, right[:, :-1])


def test_stereo_large_pair_is_matched_downscaled_and_rescaled(motorcycle):
    left, right, truth = motorcycle
    # Force the reduced-resolution path: match at ~1/2 size, return full size in
    # full-resolution pixels.
    out = stereo_matching.disparity_from_stereo(left, right, max_pixels=100_000)
    assert out.shape == truth.shape and np.isfinite(out).all()
    known = np.isfinite(truth)
    assert abs(np.median(out[known] - truth[known])) < 1.0
    assert metrics.bad_pixel_rate(out, truth, threshold=3.0) < 0.2


# --------------------------------------------------------------------------- #
# Guided upsampling
# --------------------------------------------------------------------------- #


def _two_colour_image(h: int, w: int, edge: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:, :edge] = (0.80, 0.35, 0.25)
    img[:, edge:] = (0.20, 0.40, 0.70)
    img += rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def _blocky_step(h: int, w: int, factor: int, step_x: float, near=1.0, far=0.2) -> np.ndarray:
    low = np.full((h // factor, w // factor), far, np.float32)
    centres = (np.arange(w // factor) + 0.5) * factor - 0.5
    low[:, centres < step_x] = near
    return low


@pytest.mark.parametrize("factor,shift", [(8, 5), (8, -6), (16, 8), (4, 3)])
def test_upsampled_disparity_edge_follows_the_colour_edge(factor, shift):
    h, w, edge = 240, 320, 160
    img = _two_colour_image(h, w, edge)
    low = _blocky_step(h, w, factor, edge + shift)
    up = upsample.upsample_disparity(low, img)
    assert up.shape == (h, w) and up.dtype == np.float32
    crossing = np.argmax(up < 0.6, axis=1)  # first pixel past the mid-level
    assert np.abs(crossing - edge).max() <= 2
    # plain bilinear upsampling leaves the edge where the low-res step was
    bil = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    assert np.abs(np.argmax(bil < 0.6, axis=1) - edge).min() >= abs(shift) - 1
    # both plateaus keep their values right up to the edge (no halo band)
    assert np.abs(up[:, : edge - 2] - 1.0).max() < 0.1
    assert np.abs(up[:, edge + 2 :] - 0.2).max() < 0.1


def test_fast_path_edge_follows_full_resolution_colour_edge():
    # 800x600 with a 0.12 MP working resolution: the edge is snapped at half
    # resolution, then the upsampled guided-filter coefficients put it back
    # on the full-resolution colour edge (odd position, between work pixels).
    h, w, edge = 600, 800, 401
    img = _two_colour_image(h, w, edge, seed=3)
    low = _blocky_step(h, w, 16, edge + 9)
    up = upsample.upsample_disparity(low, img, work_pixels=120_000)
    assert up.shape == (h, w)
    crossing = np.argmax(up < 0.6, axis=1)
    assert np.abs(crossing - edge).max() <= 2


def test_upsampling_keeps_a_smooth_slope_on_texture():
    rng = np.random.default_rng(2)
    tex = cv2.GaussianBlur(rng.random((240, 320, 3)).astype(np.float32), (0, 0), 1.5)
    ramp = np.tile(np.linspace(0.0, 1.0, 40, dtype=np.float32), (30, 1))
    up = upsample.upsample_disparity(ramp, tex)
    ref = cv2.resize(ramp, (320, 240), interpolation=cv2.INTER_LINEAR)
    assert np.abs(up - ref)[10:-10, 10:-10].max() < 0.03  # no staircase, no texture copy


def test_upsampling_beats_bilinear_on_real_disparity(motorcycle):
    # A model-like input: the true disparity at 1/4 resolution, slightly
    # blurred (sigma 0.7 low-res px). Measured bad>2px: bilinear 11.6 %,
    # upsample_disparity 9.9 %.
    left, _, truth = motorcycle
    dense = disparity.fill_holes(truth)
    low = cv2.GaussianBlur(cv2.resize(dense, (741 // 4, 500 // 4), interpolation=cv2.INTER_AREA), (0, 0), 0.7)
    bil = cv2.resize(low, (741, 500), interpolation=cv2.INTER_LINEAR)
    up = upsample.upsample_disparity(low, left)
    bad_bil, bad_up = metrics.bad_pixel_rate(bil, truth), metrics.bad_pixel_rate(up, truth)
    print(f"\nupsampling x4 of blurred truth: bilinear {bad_bil:.2%}, guided {bad_up:.2%}")
    assert bad_up < bad_bil - 0.01


def _reference_colour_guided_filter(guide, src, radius, eps):
    """He et al. TPAMI 2013, Eq. 19-21, solved per pixel with np.linalg.solve."""

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src[..., None]) - mean_i * mean_p[..., None]
    h, w = src.shape
    var_i = box((guide[..., :, None] * guide[..., None, :]).reshape(h, w, 9)).reshape(h, w, 3, 3)
    var_i -= mean_i[..., :, None] * mean_i[..., None, :]
    var_i += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var_i, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return np.einsum("hwc,hwc->hw", box(a), guide) + box(b)


def test_colour_guide_matches_reference_guided_filter(motorcycle):
    left = motorcycle[0][:200, :300]
    src = cv2.GaussianBlur(left[..., 1], (0, 0), 3.0) * 40.0
    ours = ColourGuide(left, 4, 1e-3).filter(src)
    ref = _reference_colour_guided_filter(left, src, 4, 1e-3)
    np.testing.assert_allclose(ours, ref, atol=1e-2 * 40.0 / 100)
    np.testing.assert_allclose(guided_filter(left, src, 4, 1e-3), ours)


def test_fast_guided_filter_keeps_full_resolution_edges_close_to_the_exact_filter(motorcycle):
    left = motorcycle[0]
    # a blurry matte of a real photo: a soft step the filter must snap to the photo's edges
    src = np.clip(cv2.GaussianBlur((left[..., 0] > 0.5).astype(np.float32), (0, 0), 6.0), 0, 1)
    exact = guided_filter(left, src, 12, 1e-3)
    np.testing.assert_array_equal(fast_guided_filter(left, src, 12, 1e-3, subsample=1), exact)
    for s, bound in ((2.0, 0.01), (4.0, 0.02)):
        fast = fast_guided_filter(left, src, 12, 1e-3, subsample=s)
        assert fast.shape == src.shape and fast.dtype == np.float32
        assert np.abs(fast - exact).mean() < bound  # He and Sun 2015: close to the exact filter
        # and sharper than upsampling a reduced exact result: full-resolution edges survive
        h, w = src.shape
        size = (round(w / s), round(h / s))
        reduced = guided_filter(cv2.resize(left, size, interpolation=cv2.INTER_AREA),
                                cv2.resize(src, size, interpolation=cv2.INTER_AREA), round(12 / s), 1e-3)  # fmt: skip
        upsampled = cv2.resize(reduced, (w, h), interpolation=cv2.INTER_LINEAR)
        assert np.abs(fast - exact).mean() < np.abs(upsampled - exact).mean()
    for bad in (0.5, float("nan")):
        with pytest.raises(ValueError, match="subsample"):
            fast_guided_filter(left, src, 8, 1e-3, subsample=bad)


# --------------------------------------------------------------------------- #
# Monocular model with tiny ONNX graphs
# --------------------------------------------------------------------------- #


@dataclass
class Spec:
    input_size: int = 518
    resize: str = "shorter_side"
    multiple: int = 14
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"


class Recorder:
    """Wraps a session and records what it was fed."""

    def __init__(self, session):
        self.session = session
        self.fed: list[np.ndarray] = []

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, output_names, feeds):
        (x,) = feeds.values()
        self.fed.append(x)
        return self.session.run(output_names, feeds)


def _mean_model(in_name: str, in_shape: list, out_name: str, out_shape: list) -> ort.InferenceSession:
    """Output = mean over the 3 normalised channels (a stand-in for depth)."""
    nodes = [helper.make_node("ReduceMean", [in_name], ["m"], axes=[1], keepdims=1)]
    if len(out_shape) == 3:
        nodes.append(helper.make_node("Squeeze", ["m", "axes"], [out_name]))
        inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    else:
        nodes.append(helper.make_node("Identity", ["m"], [out_name]))
        inits = []
    graph = helper.make_graph(
        nodes,
        "tiny_depth",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_model_dynamic_input_depth_anything_like(motorcycle):
    left = motorcycle[0]
    sess = Recorder(_mean_model("pixel_values", [1, 3, "h", "w"], "predicted_depth", [1, "h", "w"]))
    out = monocular.disparity_from_model(left, sess, Spec())
    (x,) = sess.fed
    assert x.dtype == np.float32 and x.shape[:2] == (1, 3)
    _, _, h, w = x.shape
    assert h % 14 == 0 and w % 14 == 0 and min(h, w) == 518
    assert abs(w / h - 741 / 500) < 14 / 518  # aspect kept up to the rounding
    assert out.shape == (500, 741) and out.dtype == np.float32 and np.isfinite(out).all()
    # Normalised input: the mean channel of (x - mean) / std, compared with a
    # direct computation on the (differently resized) photo.
    mean, std = np.array(Spec.mean, np.float32), np.array(Spec.std, np.float32)
    expected = ((left - mean) / std).mean(axis=2)
    assert abs(float(out.mean()) - float(expected.mean())) < 0.01
    assert np.corrcoef(out.ravel(), expected.ravel())[0, 1] > 0.97


def test_model_constant_image_gives_the_normalised_constant():
    rgb = np.empty((300, 400, 3), np.float32)
    rgb[:] = (0.9, 0.5, 0.1)
    sess = _mean_model("image", [1, 3, None, None], "depth", [1, 1, None, None])
    out = monocular.disparity_from_model(rgb, sess, Spec(input_size=98))
    expected = np.mean((np.array([0.9, 0.5, 0.1]) - Spec.mean) / np.array(Spec.std))
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_model_static_input_midas_like_is_fed_its_size(motorcycle):
    left = motorcycle[0]
    sess = Recorder(_mean_model("input", [1, 3, 256, 256], "output", [1, 256, 256]))
    out = monocular.disparity_from_model(left, sess, Spec(resize="shorter_side", input_size=518))
    assert sess.fed[0].shape == (1, 3, 256, 256)
    assert out.shape == (500, 741) and np.isfinite(out).all()


def test_model_square_and_large_image_bounds():
    sess = Recorder(_mean_model("x", [1, 3, "h", "w"], "y", [1, "h", "w"]))
    big = np.random.default_rng(0).random((3000, 4500, 3), dtype=np.float32)
    monocular.disparity_from_model(big, sess, Spec(resize="square", input_size=384, multiple=32))
    assert sess.fed[-1].shape == (1, 3, 384, 384)
    pano = np.zeros((200, 2400, 3), np.float32)  # 12:1 panorama
    monocular.disparity_from_model(pano, sess, Spec())
    _, _, h, w = sess.fed[-1].shape
    assert w <= 3 * 518 + 14 and h % 14 == 0 and w % 14 == 0


def _depth_anything_size(height: int, width: int) -> tuple[int, int]:
    """Depth Anything V2's own rule (Resize(518, 518, keep_aspect_ratio=True,
    ensure_multiple_of=14, resize_method="lower_bound") in
    depth_anything_v2/util/transform.py): scale so that the shorter side is
    518, round each side to the nearest multiple of 14 (Python round), up if
    that is below 518."""
    scale = max(518 / height, 518 / width)

    def constrain(x: float) -> int:
        y = round(x / 14) * 14
        return y if y >= 518 else int(np.ceil(x / 14)) * 14

    return constrain(scale * height), constrain(scale * width)


@pytest.mark.parametrize(
    "hw",
    [
        (500, 741),
        (4000, 6000),
        (6000, 4000),
        (3024, 4032),
        (1080, 1920),
        (300, 400),
        (518, 518),
        (100, 150),
        (518, 763),
        (2000, 5900),
    ],
)
def test_depth_anything_input_size_is_its_own_preprocessing(hw):
    """Shorter side 518, both sides multiples of 14, aspect kept (up to the
    rounding), exactly as Depth Anything V2 resizes (518x763: a rounding tie)."""
    spec = Spec()  # the catalog's depth-anything-v2-small entry
    h, w = monocular._model_input_size([1, 3, "height", "width"], hw, spec)
    assert (h, w) == _depth_anything_size(*hw)
    assert h % 14 == 0 and w % 14 == 0 and min(h, w) == 518
    assert abs(np.log((w / h) / (hw[1] / hw[0]))) < np.log(1 + 7 / 518)


def test_model_input_of_a_24_megapixel_photo_is_bounded():
    """A 6000x4000 photo reaches the model as 784x518; the whole step (with
    the guided upsampling back to 24 MP) allocates at most about twice the
    photo's own float32 size."""
    import tracemalloc

    h, w = 4000, 6000
    rgb = np.full((h, w, 3), 0.4, np.float32)
    rgb[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = (0.9, 0.2, 0.1)  # an object
    sess = Recorder(_mean_model("pixel_values", [1, 3, "h", "w"], "predicted_depth", [1, "h", "w"]))
    tracemalloc.start()
    try:
        out = monocular.disparity_from_model(rgb, sess, Spec())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sess.fed[-1].shape == (1, 3, 518, 784)
    assert out.shape == (h, w) and np.isfinite(out).all()
    print(f"\n24 MP depth model step: peak {peak / 1e6:.0f} MB (photo {rgb.nbytes / 1e6:.0f} MB)")
    assert peak < 2.0 * rgb.nbytes  # measured 1.6x (the 96 MB output included)
    # the object's edge is still on the photo's edge at full resolution
    row = out[h // 2]
    inside, outside = row[w // 2], row[w // 6]
    crossing = np.argmax((row - outside) / (inside - outside) > 0.5)
    assert abs(crossing - w // 3) <= 3


class FakeSession:
    def __init__(self, output=None, error=None):
        self.output, self.error = output, error

    def get_inputs(self):
        return [type("I", (), {"name": "in", "shape": [1, 3, 64, 64]})()]

    def run(self, names, feeds):
        if self.error:
            raise self.error
        return [self.output]


def test_model_errors_are_model_errors():
    rgb = np.zeros((50, 60, 3), np.float32)
    with pytest.raises(ModelError, match="failed"):
        monocular.disparity_from_model(rgb, FakeSession(error=RuntimeError("bad node\nsecond line")), Spec())
    with pytest.raises(ModelError, match="shape"):
        monocular.disparity_from_model(rgb, FakeSession(output=np.zeros((1, 2, 64, 64), np.float32)), Spec())
    with pytest.raises(ModelError, match="finite"):
        monocular.disparity_from_model(rgb, FakeSession(output=np.full((1, 64, 64), np.nan, np.float32)), Spec())
    try:
        monocular.disparity_from_model(rgb, FakeSession(error=RuntimeError("bad node\nsecond line")), Spec())
    except ModelError as exc:
        assert "\n" not in str(exc)


def test_model_output_edges_follow_the_photo():
    # A model whose "depth" is the red channel at low resolution: the
    # full-resolution result must have its edge on the photo's edge.
    h, w, edge = 480, 640, 333
    img = _two_colour_image(h, w, edge, seed=5)
    nodes = [
        helper.make_node("Slice", ["x", "s", "e", "a"], ["r"]),
        helper.make_node("Squeeze", ["r", "a"], ["y"]),
    ]
    inits = [
        helper.make_tensor("s", TensorProto.INT64, [1], [0]),
        helper.make_tensor("e", TensorProto.INT64, [1], [1]),
        helper.make_tensor("a", TensorProto.INT64, [1], [1]),
    ]
    graph = helper.make_graph(
        nodes,
        "red",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 64])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = monocular.disparity_from_model(img, sess, Spec(mean=(0, 0, 0), std=(1, 1, 1)))
    mid = 0.5 * (0.8 + 0.2)
    crossing = np.argmax(out < mid, axis=1)
    assert np.abs(crossing - edge).max() <= 2


# --------------------------------------------------------------------------- #
# Matte fallback
# --------------------------------------------------------------------------- #


def test_disparity_from_matte_two_layers_continuous():
    alpha = np.zeros((200, 300), np.float32)
    alpha[50:150, 100:200] = 1.0
    d = disparity.disparity_from_matte(alpha)
    assert d.dtype == np.float32 and d.shape == alpha.shape
    assert d.min() >= 0.0 and d.max() <= 1.0
    np.testing.assert_allclose(d[80:120, 130:170], 1.0, atol=1e-4)  # subject plane
    np.testing.assert_allclose(d[:30], 0.0, atol=1e-4)  # background plane
    # smoothed: a binary mask's 1.0 jump becomes a ramp over a few pixels
    assert np.abs(np.diff(d, axis=1)).max() < 0.5
    assert np.abs(d - alpha).max() > 0.2  # it did change the hard edge


# --------------------------------------------------------------------------- #
# Where depth edges lie: discontinuities, blur boundaries, distances
# --------------------------------------------------------------------------- #


def test_depth_discontinuities_mark_the_near_side_and_skip_holes():
    d = np.full((6, 10), 1.0, np.float32)
    d[:, 6:] = 5.0  # a near surface from column 6
    d[0, 2] = np.nan  # a hole is not an edge
    d[4, 1] = 2.5  # a small step, below the threshold
    edges = metrics.depth_discontinuities(d, step=2.0)
    expected = np.zeros(d.shape, bool)
    expected[:, 6] = True  # the near pixel of each pair, one column
    np.testing.assert_array_equal(edges, expected)
    # vertical steps too, and symmetric in direction
    np.testing.assert_array_equal(metrics.depth_discontinuities(d.T, step=2.0), expected.T)
    np.testing.assert_array_equal(metrics.depth_discontinuities(d[:, ::-1], step=2.0), expected[:, ::-1])
    with pytest.raises(ValueError):
        metrics.depth_discontinuities(d, step=0.0)


def test_blur_boundary_is_the_outline_of_the_sharp_region():
    coc = np.full((20, 30), -8.0, np.float32)  # blurred background
    coc[5:15, 10:20] = 0.3  # sharp square
    coc[0, 0] = np.nan
    b = metrics.blur_boundary(coc)
    sharp = np.abs(coc) < 1.0
    inner = sharp & ~ndimage.binary_erosion(sharp)
    np.testing.assert_array_equal(b, inner)
    assert b.sum() == 36  # the 10x10 square's outline
    # NaN belongs to neither side: a sharp pixel next to NaN only is no boundary
    c2 = np.full((5, 5), np.nan, np.float32)
    c2[2, 2] = 0.0
    assert not metrics.blur_boundary(c2).any()
    with pytest.raises(ValueError):
        metrics.blur_boundary(coc, threshold=0.0)


def test_boundary_distance_of_a_shifted_and_a_partial_line():
    ref = np.zeros((50, 60), bool)
    ref[10:40, 20] = True
    est = np.zeros_like(ref)
    est[10:40, 23] = True  # the same edge, 3 px off
    r = metrics.boundary_distance(est, ref)
    assert (r.estimated_mean, r.estimated_median, r.estimated_p90) == (3.0, 3.0, 3.0)
    assert (r.reference_mean, r.reference_median, r.reference_p90) == (3.0, 3.0, 3.0)
    assert r.estimated_within == r.reference_within == 1.0 and r.chamfer == 3.0
    assert metrics.boundary_distance(est, ref, tolerance=2.0).estimated_within == 0.0
    assert r.estimated_count == r.reference_count == 30 and "3.00" in r.summary()
    # an estimate that finds only the top half: precise, but misses the rest
    half = np.zeros_like(ref)
    half[10:25, 20] = True
    r = metrics.boundary_distance(half, ref)
    assert r.estimated_mean == 0.0 and r.reference_median > 0.0 and r.reference_p90 >= 12.0
    assert r.reference_within == pytest.approx(18 / 30)  # 15 found + 3 within 3 px
    # region: only the measured pixels inside it count
    region = np.zeros_like(ref)
    region[:25] = True
    assert metrics.boundary_distance(half, ref, region=region).reference_mean == 0.0
    # empty maps
    empty = np.zeros_like(ref)
    r = metrics.boundary_distance(empty, ref)
    assert r.estimated_count == 0 and r.reference_mean == np.inf and r.reference_within == 0.0
    with pytest.raises(ValueError):
        metrics.boundary_distance(est, ref[:, :-1])


#: Focus on the motorcycle as --focus-subject does with the u2netp matte on
#: this photo (weighted median 49 px, half extent 7 px of the true disparity):
#: sharp from 41.5 to 56.5 px of disparity (about 2.2-2.6 m away); the CoC
#: grows 2 px per px of disparity outside.
MOTO_FOCUS, MOTO_BAND, MOTO_COC_SCALE = 49.0, 7.0, 2.0


def test_stereo_blur_boundary_follows_the_true_depth_edges(motorcycle, stereo):
    """Where the render turns from sharp to blurred, from the estimated vs the
    true disparity (CoC < 1 px = sharp), and the edges of the disparity maps.

    Measured (raw SGBM + left-right check, NaN holes | final), distances in px,
    mean / median / p90 (share within 3 px):
      blur boundary, estimated -> true:  1.40 / 1.00 / 3.61 (87 %), 1989 px | 1.93 / 1.00 / 5.10 (80 %), 4220 px
      blur boundary, true -> estimated:  16.9 / 10.0 / 44.1 (30 %) | 10.4 / 3.16 / 31.8 (50 %), of 6661 px
      ... its part on a depth discontinuity (4887 px) -> estimated:
                                         20.8 / 14.9 / 48.6 (14 %) | 12.4 / 6.08 / 35.7 (38 %)
      disparity edges (> 3 px steps), estimated -> true:
                                         2.02 / 2.00 / 4.00 (84 %), 1237 px | 1.94 / 1.00 / 5.00 (83 %), 4971 px
      disparity edges, true -> estimated: 17.3 / 13.0 / 39.0 (15 %) | 8.71 / 4.12 / 22.4 (45 %), of 12047 px
    The true -> estimated misses are thin see-through gaps (between the
    spokes, in the engine, around the handlebars) that 5x5 block matching
    does not resolve; the outline of the motorcycle is found.
    """
    truth = stereo_matching.fill_occlusions(motorcycle[2])  # occlusion holes belong to the background
    true_disc = metrics.depth_discontinuities(truth, 3.0)

    def boundary(d):
        return metrics.blur_boundary(signed_coc(d, MOTO_FOCUS, MOTO_COC_SCALE, band=MOTO_BAND))

    true_b = boundary(truth)
    on_disc = ndimage.binary_dilation(true_disc)  # the silhouette part of the true boundary
    res = {}
    for name in ("raw", "final"):
        est_b = boundary(stereo[name])
        res[name] = (
            metrics.boundary_distance(est_b, true_b),
            metrics.boundary_distance(est_b, true_b, region=on_disc),
            metrics.boundary_distance(metrics.depth_discontinuities(stereo[name], 3.0), true_disc),
        )
        print(
            f"\n{name}: blur boundary {res[name][0].summary()}"
            f"\n{name}: at discontinuities {res[name][1].summary()}"
            f"\n{name}: disparity edges {res[name][2].summary()}"
        )
    blur, at_disc, edges = res["final"]
    blur_raw, at_disc_raw, edges_raw = res["raw"]
    # Where the render turns from sharp to blurred lies within a few pixels
    # of where it should ...
    assert blur.estimated_median <= 1.5 and blur.estimated_mean < 2.5 and blur.estimated_p90 <= 6.5
    assert blur.estimated_within > 0.7
    # ... and much more of the true boundary is found than by raw SGBM,
    # whose holes swallow it next to the discontinuities.
    assert blur.estimated_count > 0.5 * blur.reference_count
    assert blur.estimated_count > 1.8 * blur_raw.estimated_count
    assert blur.reference_median <= 4.5 and blur.reference_mean < 13.0
    assert blur.reference_mean < 0.75 * blur_raw.reference_mean
    assert at_disc.reference_median <= 8.0 and at_disc.reference_mean < 0.75 * at_disc_raw.reference_mean
    # Disparity edges: as precise as raw SGBM's valid ones, about twice as complete.
    assert edges.estimated_median <= 1.5 and edges.estimated_mean < 2.5 and edges.estimated_p90 <= 6.5
    assert edges.estimated_mean <= edges_raw.estimated_mean + 0.5
    assert edges.reference_mean < 0.6 * edges_raw.reference_mean


# --------------------------------------------------------------------------- #
# Depth consistent with the matte
# --------------------------------------------------------------------------- #


def _subject_scene(h: int = 240, w: int = 320, seed: int = 0):
    """An elliptic subject (disparity ~0.8 with a gentle top-bottom relief) on
    a background ramp (0.1..0.3), a soft matte, noise, a patch of the subject
    that has the background's disparity (as a model gets thin parts wrong)
    and one spike."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = ((xx - w / 2) / (w / 4)) ** 2 + ((yy - h / 2) / (h / 3.5)) ** 2 <= 1.0
    matte = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 1.5)
    relief = 0.8 + 0.05 * (yy - h / 2) / (h / 3.5)
    disp = np.where(inside, relief, 0.1 + 0.2 * xx / w).astype(np.float32)
    disp += rng.normal(0.0, 0.01, disp.shape).astype(np.float32)
    leak = (slice(h // 2 - 10, h // 2 + 5), slice(w // 2 - 5, w // 2 + 10))
    disp[leak] = 0.15
    disp[h // 2 + 20, w // 2 - 30] = 5.0
    return disp, matte, relief, leak


def test_disparity_consistent_with_matte_repairs_the_subject_only():
    disp, matte, relief, leak = _subject_scene()
    out = disparity.disparity_consistent_with_matte(disp, matte)
    assert out.dtype == np.float32 and out.shape == disp.shape
    core = matte >= 0.9
    # the background patch and the spike inside the subject are gone
    assert out[leak].min() > 0.7 and out[core].max() < 0.9
    assert np.abs(out[core] - relief[core]).max() < 0.06
    # smoother than the input, not noisier
    assert np.std(out[core] - relief[core]) < 0.5 * np.std(disp[core & (disp < 1)] - relief[core & (disp < 1)])
    # outside the matte: untouched
    outside = matte == 0
    np.testing.assert_array_equal(out[outside], disp[outside])
    # the depth edge sits where the matte crosses 0.5
    row = out[disp.shape[0] // 2 - 40]
    mrow = matte[disp.shape[0] // 2 - 40]
    d_cross = np.argmax(row > 0.5 * (row.max() + row.min()))
    m_cross = np.argmax(mrow > 0.5)
    assert abs(int(d_cross) - int(m_cross)) <= 1


def test_disparity_consistent_with_matte_flatten_and_units():
    disp, matte, relief, _ = _subject_scene(seed=1)
    core = matte >= 0.9
    keep = disparity.disparity_consistent_with_matte(disp, matte, flatten=0.0)
    flat = disparity.disparity_consistent_with_matte(disp, matte, flatten=1.0)
    assert np.corrcoef(keep[core], relief[core])[0, 1] > 0.95  # relief kept
    full = matte > 0.9999
    assert np.ptp(flat[full]) < 1e-4  # one plane at the subject's median where alpha is 1
    assert flat[full][0] == pytest.approx(0.8, abs=0.01)
    # any units: affine in the disparity (metres of 1/depth, pixels, model units)
    half = disparity.disparity_consistent_with_matte(disp, matte)
    scaled = disparity.disparity_consistent_with_matte(37.0 * disp + 5.0, matte)
    np.testing.assert_allclose(scaled, 37.0 * half + 5.0, rtol=1e-4, atol=1e-3)


def test_disparity_consistent_with_matte_edge_cases():
    disp, matte, _, _ = _subject_scene(seed=2)
    # no subject: unchanged
    np.testing.assert_array_equal(disparity.disparity_consistent_with_matte(disp, np.zeros_like(matte)), disp)
    # holes: filled inside the subject, kept outside
    holes = disp.copy()
    holes[120, 160] = np.nan  # subject centre
    holes[5, 5] = np.inf  # background
    out = disparity.disparity_consistent_with_matte(holes, matte)
    assert 0.7 < out[120, 160] < 0.9 and out[5, 5] == np.inf
    # NaN in the matte is background
    m2 = matte.copy()
    m2[0, 0] = np.nan
    assert disparity.disparity_consistent_with_matte(disp, m2)[0, 0] == disp[0, 0]
    with pytest.raises(ValueError):
        disparity.disparity_consistent_with_matte(disp, matte[:, :-1])
    for bad in ({"confident": 0.0}, {"flatten": 1.5}, {"spread": 0.0}):
        with pytest.raises(ValueError):
            disparity.disparity_consistent_with_matte(disp, matte, **bad)


def test_consistent_depth_keeps_the_matted_subject_sharp(motorcycle, stereo):
    """Real photo, the bundled u2netp matte, focus on the subject as
    --focus-subject does (focal range 10, strength 50). Two disparities: a
    monocular-model stand-in (the true disparity at 1/8 resolution, slightly
    blurred, guided-upsampled, as a 518-px model output on a 4000-px photo)
    and the stereo estimate. Measured share of the sure subject pixels
    (alpha >= 0.9) left sharp (CoC < 1 px) and of the background
    (alpha < 0.1) left sharp, before -> after:
      model-like: subject 96.6 % -> 100 %, background 31.4 % -> 21.3 %
      stereo:     subject 100 % -> 100 %,  background 28.1 % -> 22.2 %
    (the subject's depth range shrinks to what the matte says, so the sharp
    band around it is narrower)."""
    from depthblur_cli.estimation.matte import estimate_matte
    from depthblur_cli.models.sessions import get_session
    from depthblur_cli.models.store import resolve_model
    from depthblur_cli.render import coc as C

    left, _, truth = motorcycle
    spec, path = resolve_model("u2netp", "matte", allow_download=False)
    matte = estimate_matte(left, get_session(path), spec)

    def sharp_shares(disp):
        d = disparity.normalize_disparity(disp)
        focus, extent = C.focus_on_matte(d, matte)
        band = max(0.05, min(extent, 0.25))  # as compose.choose_focus, focal range 10
        scale = C.scale_for_max_radius(focus, band, C.max_coc_radius(50, 741))
        sharp = np.abs(C.signed_coc(d, focus, scale, band=band)) < 1.0
        return float(sharp[matte >= 0.9].mean()), float(sharp[matte < 0.1].mean())

    low = cv2.resize(stereo_matching.fill_occlusions(truth), (741 // 8, 500 // 8), interpolation=cv2.INTER_AREA)
    model_like = upsample.upsample_disparity(cv2.GaussianBlur(low, (0, 0), 0.7), left)
    for name, disp in (("model-like", model_like), ("stereo", stereo["final"])):
        before = sharp_shares(disp)
        after = sharp_shares(disparity.disparity_consistent_with_matte(disp, matte))
        print(
            f"\n{name}: subject sharp {before[0]:.1%} -> {after[0]:.1%}, "
            f"background sharp {before[1]:.1%} -> {after[1]:.1%}"
        )
        assert after[0] > 0.995 and after[0] >= before[0]
        assert after[1] < before[1] - 0.03


def test_an_8_bit_photo_gives_the_depth_of_its_floats_without_a_full_float_copy_kept(motorcycle):
    # The depth network reads the photo's own 8-bit pixels (the render then keeps them 8-bit):
    # the same disparity as from value / 255 and the same upsampling, within a few float steps.
    from depthblur_cli.estimation.upsample import upsample_disparity
    from depthblur_cli.imaging.pixels import to_float

    photo = np.clip(np.round(motorcycle[0] * 255), 0, 255).astype(np.uint8)
    session = _mean_model("pixel_values", [1, 3, "h", "w"], "predicted_depth", [1, "h", "w"])
    from_bytes = monocular.disparity_from_model(photo, session, Spec())
    from_floats = monocular.disparity_from_model(to_float(photo), session, Spec())
    assert_floats_close(from_bytes, from_floats)  # a lookup table against value / 255: a few float steps
    low = np.linspace(0.0, 1.0, 60 * 80, dtype=np.float32).reshape(60, 80)
    for work_pixels in (100_000, 10_000_000):  # reduced, and at the photo's own size
        assert_floats_close(
            upsample_disparity(low, photo, work_pixels=work_pixels),
            upsample_disparity(low, to_float(photo), work_pixels=work_pixels),
        )
