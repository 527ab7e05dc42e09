"""The ``depth`` controls, end to end on the real photos: focus (point,
subject, distance, range, strength) and the colour/atmosphere controls
(haze, grain, temp, tint, saturation, brightness).

Every test runs the CLI and measures the written images. The motorcycle is
rendered with its Middlebury ground-truth disparity, so "near" and "far"
are known; the colour controls run on a half-size copy (with the
ground-truth disparity subsampled to the same size) to stay fast. Helpers,
the empty model cache and the motorcycle fixture come from test_cli.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import (
    EXAMPLES,
    FACE,
    cli,
    copy_example,
    energy_ratio,
    hf_energy,
    luminance,
    read_gray,
    read_rgb,
    sharpness,
)
from PIL import Image
from scipy import ndimage as ndi

from depthblur_cli.colour import srgb_to_linear


def normalised_truth(disp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid mask, ground-truth disparity normalised 0..1 between its 1st and
    99th percentiles, as the pipeline does; 1 = nearest)."""
    finite = np.isfinite(disp)
    lo, hi = np.percentile(disp[finite], [1, 99])
    return finite, np.clip((np.where(finite, disp, lo) - lo) / (hi - lo), 0, 1)


def lin_lum(path) -> np.ndarray:
    """(H, W) linear-light luminance of an sRGB image file."""
    return luminance(srgb_to_linear(read_rgb(path).astype(np.float32)).astype(np.float64))


# ---------------------------------------------------------------------------
# Focus controls on the full-size motorcycle (ground-truth depth)
# ---------------------------------------------------------------------------


def _moto_depth(moto, name, *args) -> tuple[float, float]:
    out = moto["dir"] / f"{name}.png"
    cli("depth", moto["left"], "--depth-map", moto["disp_file"], *args, "-o", out, "--offline")
    return sharpness(moto, out)


def test_focal_distance_nearest_and_farthest(moto):
    """0 = nearest sharp, 100 = farthest sharp. Measured (gradient energy
    over the input's, near / far window): 0 -> 1.02 / 0.04; 100 -> 0.06 / 1.00."""
    near_at_0, far_at_0 = _moto_depth(moto, "dist0", "--focal-distance", "0", "--focal-range", "20")
    near_at_100, far_at_100 = _moto_depth(moto, "dist100", "--focal-distance", "100", "--focal-range", "20")
    assert near_at_0 > 0.9 and far_at_0 < 0.2, (near_at_0, far_at_0)
    assert far_at_100 > 0.9 and near_at_100 < 0.2, (near_at_100, far_at_100)


def test_blur_strength_scales_the_blur(moto):
    """Focus near; the far window loses more detail the stronger the blur
    (measured far ratio: strength 15 -> 0.115, 100 -> 0.017) while the focused
    near window stays sharp; the report's largest CoC is S/100 * 3% of 741 px."""
    point = moto["point"](moto["near"])
    ratios = {}
    for s in ("15", "100"):
        out = moto["dir"] / f"strength{s}.png"
        result = cli(
            "depth",
            moto["left"],
            "--depth-map",
            moto["disp_file"],
            "--focal-point",
            point,
            "--blur-strength",
            s,
            "-o",
            out,
            "--offline",
            "--json",
        )
        record = json.loads(result.stdout.strip().splitlines()[-1])
        assert abs(record["max_coc_px"] - float(s) / 100 * 0.03 * 741) < 1e-2
        ratios[s] = sharpness(moto, out)
    (near_weak, far_weak), (near_strong, far_strong) = ratios["15"], ratios["100"]
    assert near_weak > 0.9 and near_strong > 0.9, ratios
    assert far_strong < 0.05 and far_weak > 4 * far_strong, ratios


def test_focal_range_widens_the_sharp_band(moto):
    """Focus on the near point; pixels of middle depth (normalised ground-truth
    disparity 0.45..0.65) are blurred with --focal-range 0 and stay sharp with
    --focal-range 100 (band +-0.5). Measured gradient-energy ratios there:
    0.22 (range 0) and 0.99 (range 100)."""
    finite, norm = normalised_truth(moto["disp"])
    middle = ndi.binary_erosion(finite & (norm > 0.45) & (norm < 0.65), iterations=6)
    assert middle.sum() > 2000
    point = moto["point"](moto["near"])
    ratio = {}
    for r in ("0", "100"):
        out = moto["dir"] / f"range{r}.png"
        cli(
            "depth",
            moto["left"],
            "--depth-map",
            moto["disp_file"],
            "--focal-point",
            point,
            "--focal-range",
            r,
            "-o",
            out,
            "--offline",
        )
        ratio[r] = energy_ratio(luminance(read_rgb(out)), moto["lum"], middle)
        assert sharpness(moto, out)[0] > 0.9  # the focused point stays sharp
    assert ratio["0"] < 0.4 and ratio["100"] > 0.9, ratio


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    d = tmp_path_factory.mktemp("astronaut")
    return copy_example("astronaut.png", d)


def test_focus_subject_keeps_face_sharp_and_blurs_the_flag(astronaut):
    """Offline, the depth is the bundled FastDepth network's with the matte's
    subject in front. --focus-subject overrides --focal-distance (as
    Photoshop's focusSubject does): the face stays sharp, the flag (top left,
    background) is blurred. --focal-distance 100 alone focuses on the
    farthest: the face is blurred. Measured over the input's: face gradient
    energy, flag finest-detail (HF) energy: subject 1.00 / 0.18, far 0.07 /
    0.14 (FastDepth puts the far wall, not the flag, farthest). The flag's
    CoC is 2-4 px: a disc blur of each pixel by its own CoC leaves 0.18 of
    its finest detail, a 2-px disc 0.31, a 4-px one 0.12."""
    d = astronaut.parent
    inp = luminance(read_rgb(astronaut))
    face = np.zeros(inp.shape, bool)
    face[FACE] = True
    subject, far = d / "subject.png", d / "far.png"
    result = cli(
        "depth",
        astronaut,
        "--focus-subject",
        "--focal-distance",
        "100",
        "--blur-strength",
        "60",
        "-o",
        subject,
        "--offline",
        "--save-mask",
        "--json",
    )
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["focus"]["method"] == "subject"
    mask = read_gray(d / "subject.mask.png")
    flag = np.zeros(inp.shape, bool)
    flag[20:300, 0:70] = True
    flag &= ndi.binary_erosion(mask < 0.1, iterations=10)
    assert flag.sum() > 5000  # the flag is background in the matte
    cli("depth", astronaut, "--focal-distance", "100", "--blur-strength", "60", "-o", far, "--offline")
    res_subject, res_far = luminance(read_rgb(subject)), luminance(read_rgb(far))
    ratios = {
        name: (energy_ratio(res, inp, face), hf_energy(res, flag) / hf_energy(inp, flag))
        for name, res in (("subject", res_subject), ("far", res_far))
    }
    assert ratios["subject"][0] > 0.95 and ratios["subject"][1] < 0.25, ratios
    assert ratios["far"][0] < 0.15, ratios


# ---------------------------------------------------------------------------
# Colour and atmosphere on a half-size motorcycle
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_moto(tmp_path_factory):
    """Half-size motorcycle (371x250), its ground-truth disparity at the same
    size, and the plain depth render (focus on the nearest, default sliders)."""
    d = tmp_path_factory.mktemp("small_moto")
    disp = np.load(EXAMPLES / "motorcycle_disp.npz")["arr_0"][::2, ::2].astype(np.float32)
    h, w = disp.shape
    np.save(d / "disp.npy", disp)
    left = d / "left.png"
    with Image.open(EXAMPLES / "motorcycle_left.png") as im:
        im.convert("RGB").resize((w, h), Image.LANCZOS).save(left)
    base_args = ["depth", left, "--depth-map", d / "disp.npy", "--focal-distance", "0", "--offline", "--json"]

    def render(name, *extra):
        out = d / f"{name}.png"
        result = cli(*base_args, *extra, "-o", out)
        return out, json.loads(result.stdout.strip().splitlines()[-1])

    base, _ = render("base")
    finite, norm = normalised_truth(disp)
    return {
        "dir": d,
        "left": left,
        "render": render,
        "base": base,
        "base_rgb": read_rgb(base),
        # Ground-truth far and near pixels (with valid disparity).
        "far": finite & (norm < 0.15),
        "near": finite & (norm > 0.85),
    }


def test_haze_brightens_far_more_than_near(small_moto):
    """--haze 60 on the ground-truth depth: far pixels move toward the bright
    airlight, near ones much less (the nearest 15% of the depth range still
    lies up to 0.15 away from the nearest point). Measured linear-luminance
    gain: far +0.39, middle +0.25, near +0.05 (7.6x less than far); the
    airlight in the report is near-white, (0.82, 0.79, 0.81), with linear
    luminance 0.8."""
    out, record = small_moto["render"]("haze", "--haze", "60")
    assert record["effects"]["haze"] == 60
    airlight = np.array(record["effects"]["airlight"])
    assert abs(airlight @ [0.2126, 0.7152, 0.0722] - 0.8) < 0.01 and np.ptp(airlight) < 0.1
    gain = lin_lum(out) - lin_lum(small_moto["base"])
    far, near = gain[small_moto["far"]].mean(), gain[small_moto["near"]].mean()
    assert far > 0.3 and far > 5 * near, (far, near)
    # Thickening with distance, not flat: the middle depths get a middle amount.
    assert gain[small_moto["near"]].mean() < gain[~small_moto["near"] & ~small_moto["far"]].mean() < far


def test_grain_restores_fine_detail_in_blurred_areas_reproducibly(small_moto):
    """--grain 50 adds fine texture where the lens blur removed it (far,
    blurred background). Measured HF energy in the far region: the plain
    render keeps 0.9% of the photo's, with grain 30% (32x more); the same
    seed gives the same image, another seed another grain (mean |difference|
    9.6/255)."""
    a, _ = small_moto["render"]("grain_a", "--grain", "50")
    b, _ = small_moto["render"]("grain_b", "--grain", "50", "--seed", "0")
    c, record = small_moto["render"]("grain_c", "--grain", "50", "--seed", "1")
    assert record["effects"] == {"grain": 50, "seed": 1}
    ra, rb, rc = read_rgb(a), read_rgb(b), read_rgb(c)
    assert np.array_equal(ra, rb)
    assert np.abs(ra - rc).mean() > 2 / 255
    base = luminance(small_moto["base_rgb"])
    far = ndi.binary_erosion(small_moto["far"], iterations=3)
    src = luminance(read_rgb(small_moto["left"]))
    assert hf_energy(base, far) < 0.3 * hf_energy(src, far)  # the background really is blurred
    ratio = hf_energy(luminance(ra), far) / hf_energy(base, far)
    assert ratio > 10, ratio
    # The grain does not change the tone: mean luminance within 1/255.
    assert abs(luminance(ra).mean() - base.mean()) < 1 / 255


def test_colour_controls_at_zero_leave_the_image_unchanged(small_moto):
    out, record = small_moto["render"](
        "zeros",
        "--temp",
        "0",
        "--tint",
        "0",
        "--saturation",
        "0",
        "--brightness",
        "0",
        "--haze",
        "0",
        "--grain",
        "0",
        "--seed",
        "9",
    )
    assert "effects" not in record
    assert np.array_equal(read_rgb(out), small_moto["base_rgb"])


def _ratio(rgb, a, b):
    return float(rgb[..., a].mean() / rgb[..., b].mean())


@pytest.mark.parametrize(
    "option, value, check",
    [
        # Measured mean R/B ratio 1.36 -> 1.88 (+50) and 0.98 (-50).
        ("--temp", "50", lambda new, old: _ratio(new, 0, 2) > _ratio(old, 0, 2) + 0.1),
        ("--temp", "-50", lambda new, old: _ratio(new, 0, 2) < _ratio(old, 0, 2) - 0.1),
        # Magenta: green falls against red and blue (G/R 0.80 -> 0.63 at +50, 1.02 at -50).
        (
            "--tint",
            "50",
            lambda new, old: (
                _ratio(new, 1, 0) < _ratio(old, 1, 0) - 0.05 and _ratio(new, 1, 2) < _ratio(old, 1, 2) - 0.05
            ),
        ),
        ("--tint", "-50", lambda new, old: _ratio(new, 1, 0) > _ratio(old, 1, 0) + 0.05),
        # Greyscale: the three channels agree to 8-bit rounding.
        ("--saturation", "-50", lambda new, old: np.abs(new - new[..., 1:2]).max() <= 1.01 / 255),
        ("--saturation", "30", lambda new, old: np.ptp(new, axis=2).mean() > 1.3 * np.ptp(old, axis=2).mean()),
        # Saturation +30: mean channel spread 0.144 -> 0.236. Mean sRGB luminance
        # 0.441 -> 0.652 (brightness +50) and 0.222 (-50).
        ("--brightness", "50", lambda new, old: luminance(new).mean() > luminance(old).mean() + 0.05),
        ("--brightness", "-50", lambda new, old: luminance(new).mean() < luminance(old).mean() - 0.05),
    ],
)
def test_colour_control_moves_the_right_channel(small_moto, option, value, check):
    out, record = small_moto["render"](f"{option[2:]}{value}", option, value)
    assert record["effects"] == {option[2:]: float(value)}
    new, old = read_rgb(out), small_moto["base_rgb"]
    assert check(new, old), (_ratio(new, 0, 2), _ratio(old, 0, 2), luminance(new).mean(), luminance(old).mean())


@pytest.mark.parametrize(
    "option, value",
    [
        ("--haze", "101"),
        ("--grain", "-1"),
        ("--temp", "-51"),
        ("--saturation", "51"),
        ("--haze", "2.5"),
        ("--seed", "-3"),
    ],
)
def test_effect_out_of_range_is_a_usage_error(small_moto, option, value):
    out = small_moto["dir"] / "never.png"
    result = cli("depth", small_moto["left"], option, value, "-o", out, "--offline", code=2)
    assert option in result.stderr
    assert not out.exists()
