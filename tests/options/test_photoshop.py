"""``depth`` is Photoshop's depthBlur to the letter, and real depth offline (the bundled FastDepth).

The table of ``DepthBlurDetails`` (Photoshop API, ``POST /pie/psdService/depthBlur``):
each option's flag takes exactly its type, range and default; ``--ps-options``
takes the API's options object and gives the image the flags give.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES, cli
from PIL import Image
from scipy import stats

from depthblur_cli.errors import UsageError
from depthblur_cli.estimation.disparity import disparity_with_subject_in_front
from depthblur_cli.estimation.monocular import disparity_from_model
from depthblur_cli.options import photoshop
from depthblur_cli.pipeline.options import DepthOptions
from depthblur_cli.pipeline.photo import ModelBox
from depthblur_cli.render.effects import Effects

#: The API document's table: name -> (type, low, high, default).
TABLE = {
    "focalDistance": ("integer", 0, 100, 0),
    "focalRange": ("integer", 0, 100, 0),
    "focalSelector": ("point", 0, 1, None),
    "focusSubject": ("boolean", 0, 1, False),
    "blurStrength": ("integer", 0, 100, 50),
    "haze": ("integer", 0, 100, 0),
    "temp": ("integer", -50, 50, 0),
    "tint": ("integer", -50, 50, 0),
    "saturation": ("integer", -50, 50, 0),
    "brightness": ("integer", -50, 50, 0),
    "grain": ("integer", 0, 100, 0),
}
SEED_REQUEST = {"haze": 25, "blurStrength": 30, "focalSelector": {"x": 0.22, "y": 0.33}}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A half-size motorcycle photo and its ground-truth disparity (fast renders)."""
    d = tmp_path_factory.mktemp("ps")
    disp = np.load(EXAMPLES / "motorcycle_disp.npz")["arr_0"][::2, ::2].astype(np.float32)
    np.save(d / "disp.npy", disp)
    with Image.open(EXAMPLES / "motorcycle_left.png") as im:
        im.convert("RGB").resize(disp.shape[::-1], Image.LANCZOS).save(d / "left.png")
    return d


def render(small, name: str, *args: str, code: int = 0):
    out = small / f"{name}.png"
    result = cli("depth", small / "left.png", "--depth-map", small / "disp.npy", *args, "-o", out, "--offline",
                 "--overwrite", "--json", code=code)  # fmt: skip
    return out, result


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_the_schema_is_the_api_documents():
    assert [o.api_name("photoshop") for o in photoshop.OPTIONS] == list(TABLE)
    for option in photoshop.OPTIONS:
        kind, low, high, default = TABLE[option.api_name("photoshop")]
        assert (option.kind, option.low, option.high, option.default) == (kind, low, high, default), option.name


def test_library_and_command_defaults_are_the_tables():
    options, effects = DepthOptions(), Effects()
    assert (options.focal_distance, options.focal_range, options.blur_strength) == (0, 0, 50)
    assert options.focal_point is None and options.focus_subject is False
    assert (effects.haze, effects.grain, effects.temp, effects.tint, effects.saturation, effects.brightness) == (
        (0,) * 6
    )


def test_no_flags_is_every_flag_at_the_tables_default(small):
    plain, _ = render(small, "plain")
    defaults = {"--focal-distance": 0, "--focal-range": 0, "--blur-strength": 50, "--haze": 0, "--temp": 0,
                "--tint": 0, "--saturation": 0, "--brightness": 0, "--grain": 0}  # fmt: skip
    explicit, _ = render(small, "explicit", *(str(x) for pair in defaults.items() for x in pair))
    np.testing.assert_array_equal(pixels(plain), pixels(explicit))
    # focalDistance 0 is the nearest: the front wheel (bottom right) stays sharp.
    record = json.loads(_.stdout.strip().splitlines()[-1])
    assert record["focus"]["method"] == "distance" and record["focus"]["disparity"] == 1.0


@pytest.mark.parametrize("name", [n for n, t in TABLE.items() if t[0] == "integer"])
def test_each_integer_flag_takes_its_range_and_refuses_the_rest(small, name):
    option = photoshop.BY_NAME[name]
    _, low, high, _ = TABLE[name]
    for bad in (str(low - 1), str(high + 1), "2.5", "nan"):
        _, result = render(small, f"bad-{name}", option.flag, bad, code=2)
        assert option.flag in result.stderr
    for good in (low, high):
        render(small, f"ok-{name}", option.flag, str(good))


def test_the_seed_request_gives_exactly_the_image_of_the_equivalent_flags(small, tmp_path):
    by_json, _ = render(small, "json", "--ps-options", json.dumps(SEED_REQUEST))
    by_flags, _ = render(small, "flags", "--haze", "25", "--blur-strength", "30", "--focal-selector", "0.22,0.33")
    np.testing.assert_array_equal(pixels(by_json), pixels(by_flags))
    request = tmp_path / "options.json"
    request.write_text(json.dumps(SEED_REQUEST))
    by_file, _ = render(small, "file", "--ps-options", f"@{request}")
    np.testing.assert_array_equal(pixels(by_file), pixels(by_flags))
    assert np.abs(pixels(by_flags).astype(int) - pixels(render(small, "plain2")[0]).astype(int)).mean() > 1


@pytest.mark.parametrize(
    "request_json, named",
    [
        ({"blurStrenght": 30}, "blurStrenght"),
        ({"haze": 101}, "haze"),
        ({"temp": -51}, "temp"),
        ({"grain": 2.5}, "grain"),
        ({"focusSubject": "yes"}, "focusSubject"),
        ({"focalSelector": {"x": 1.5, "y": 0.2}}, "focalSelector"),
        ({"focalSelector": [0.2, 0.3]}, "focalSelector"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_key_or_value_exits_2_naming_it(small, request_json, named):
    out, result = render(small, "never", "--ps-options", json.dumps(request_json), code=2)
    assert named in result.stderr and "--ps-options" in result.stderr
    assert not out.exists()


def test_a_flag_beside_ps_options_wins_and_says_so(small):
    both, result = render(small, "both", "--ps-options", json.dumps(SEED_REQUEST), "--haze", "60")
    assert "--haze given: it wins over haze from --ps-options" in result.stderr
    flags, _ = render(small, "flags60", "--haze", "60", "--blur-strength", "30", "--focal-selector", "0.22,0.33")
    np.testing.assert_array_equal(pixels(both), pixels(flags))


def test_ps_output_maps_type_quality_and_compression(small):
    out = small / "out"
    result = cli("depth", small / "left.png", "--depth-map", small / "disp.npy", "--ps-output",
                 '{"type": "image/jpeg", "quality": 3}', "-o", f"{out}/", "--offline")  # fmt: skip
    with Image.open(out / "left.jpg") as im:
        assert im.format == "JPEG"
    assert result.exit_code == 0
    assert photoshop.output_settings({"quality": 7}).quality == 95
    assert photoshop.output_settings({"quality": 12}).quality == 100  # the schema allows 1..12
    assert photoshop.output_settings({"compression": "small"}).png_compression == "small"
    assert photoshop.output_settings({"compression": "large"}).png_compression == "fast"
    for bad in ({"type": "image/gif"}, {"quality": 13}, {"compression": "tiny"}):
        with pytest.raises(UsageError):
            photoshop.output_settings(bad)


def test_png_compression_changes_the_bytes_not_the_pixels(tmp_path):
    outs = {}
    for level in ("fast", "small"):
        outs[level] = tmp_path / f"{level}.png"
        cli("gaussian", EXAMPLES / "chelsea.png", "--png-compression", level, "-o", outs[level], "--offline")
    np.testing.assert_array_equal(pixels(outs["fast"]), pixels(outs["small"]))
    assert outs["small"].stat().st_size < outs["fast"].stat().st_size


# ---------------------------------------------------------------------------
# Real depth offline: the bundled FastDepth
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def middlebury():
    rgb = np.asarray(Image.open(EXAMPLES / "motorcycle_left.png").convert("RGB"), np.float32) / 255
    truth = np.load(EXAMPLES / "motorcycle_disp.npz")["arr_0"].astype(np.float64)
    models = ModelBox(allow_download=False)
    spec, session = models.offline_depth_session()
    return rgb, truth, disparity_from_model(rgb, session, spec), models.matte(rgb)


def _spearman(estimate, truth) -> float:
    known = np.isfinite(truth)
    return float(stats.spearmanr(estimate[known], truth[known]).correlation)


def test_the_bundled_network_correlates_with_the_truth(middlebury):
    _, truth, disparity, matte = middlebury
    assert disparity.shape == truth.shape and np.isfinite(disparity).all()
    alone = _spearman(disparity, truth)
    combined = _spearman(disparity_with_subject_in_front(disparity, matte), truth)
    assert alone >= 0.7, alone  # measured 0.780
    assert combined >= alone + 0.03, (combined, alone)  # measured 0.851: the subject from the matte, in front


def test_offline_depth_uses_the_network_and_says_so(tmp_path):
    src = EXAMPLES / "astronaut.png"
    result = cli("depth", src, "--focus-subject", "-o", tmp_path / "o.png", "--offline", "--json", "--save-depth")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["depth_source"] == "model:fastdepth+matte"
    assert any("fastdepth" in w and "depth-anything-v2-small" in w for w in record["warnings"])
    with Image.open(tmp_path / "o.depth.png") as im:
        depth = np.asarray(im, np.float64)
    assert len(np.unique(depth)) > 1000  # a real depth map, not two layers
