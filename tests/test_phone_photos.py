"""Issue 23: phone photos as they come: HEIC in and out, the phone's own depth map and stereo pair.

The real files are the iPhone portrait and the Apple spatial photo in ``../shared/fixtures``
(see its README); the tests that need them are skipped where that folder is absent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES, ROOT, cli, gradient_energy, luminance, read_rgb
from PIL import Image
from scipy import stats

from depthblur_cli.imaging import codec

FIXTURES = ROOT.parent / "shared" / "fixtures"
PUG = FIXTURES / "pug_portrait.heic"
SPATIAL = FIXTURES / "spatial_photo.heic"
needs_fixtures = pytest.mark.skipif(not PUG.exists(), reason="../shared/fixtures is not here")


def _heic(path, size=(96, 64)):
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").resize(size).save(path, "HEIF", quality=90)
    return path


def test_heic_in_and_out_and_in_folders(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _heic(folder / "cat.heic")
    cli("gaussian", folder, "-o", f"{tmp_path / 'out'}/", "--offline")  # a folder takes .heic
    (out,) = (tmp_path / "out").iterdir()
    with Image.open(out) as im:
        assert out.suffix == ".heic" and im.format == "HEIF" and im.size == (96, 64)
    cli("bokeh", folder / "cat.heic", "-o", tmp_path / "b.avif", "--offline")
    cli("bokeh", folder / "cat.heic", "-o", tmp_path / "b.heic", "--offline", "--quality", "60")
    for name, fmt in (("b.avif", "AVIF"), ("b.heic", "HEIF")):
        with Image.open(tmp_path / name) as im:
            assert im.format == fmt and im.size == (96, 64)
    assert np.abs(read_rgb(tmp_path / "b.heic") - read_rgb(folder / "cat.heic")).mean() > 0.005  # it blurred


@needs_fixtures
def test_an_iphone_portrait_is_blurred_by_its_own_depth_map(tmp_path):
    result = cli("depth", PUG, "--focal-selector", "0.55,0.62", "-o", tmp_path / "pug.jpg", "--save-depth",
                 "--json", "--offline")  # fmt: skip
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:apple-heif" and not record["warnings"], record
    # The depth used follows the phone's (Spearman at its own size).
    with Image.open(PUG) as im:
        phone = np.asarray(im.info["depth_images"][0]).astype(np.float64)
    with Image.open(tmp_path / "pug.depth.png") as im:
        used = np.asarray(im.resize(phone.shape[::-1], Image.BILINEAR)).astype(np.float64)
    assert stats.spearmanr(used.ravel(), phone.ravel()).statistic >= 0.95
    # The wall behind is blurred; the face at the focal point stays (nearly) sharp. With Photoshop's
    # focal range 0 only the focal disparity is exact: the face around it kept 0.62 of its detail.
    with Image.open(PUG) as im:
        photo = luminance(np.asarray(im.convert("RGB"), np.float64) / 255.0)
    out = luminance(read_rgb(tmp_path / "pug.jpg"))
    face, head, wall = (
        _box(photo, 0.55, 0.68, 0.49, 0.61),
        _box(photo, 0.48, 0.62, 0.47, 0.62),
        _box(photo, 0.1, 0.3, 0.35, 0.75),
    )
    assert gradient_energy(out, wall) <= 0.5 * gradient_energy(photo, wall)
    assert gradient_energy(out, face) >= 0.55 * gradient_energy(photo, face)
    # The subject in focus (the matte's band of the phone's depth): the whole head sharp (measured 1.05).
    cli("depth", PUG, "--focus-subject", "-o", tmp_path / "subject.jpg", "--offline")
    out = luminance(read_rgb(tmp_path / "subject.jpg"))
    assert gradient_energy(out, head) >= 0.8 * gradient_energy(photo, head)
    assert gradient_energy(out, wall) <= 0.5 * gradient_energy(photo, wall)


def _box(image: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """(H, W) bool: the box of fractions ``y0..y1``, ``x0..x1`` of ``image``."""
    h, w = image.shape[:2]
    box = np.zeros((h, w), bool)
    box[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = True
    return box


@needs_fixtures
def test_a_spatial_photo_carries_its_right_view_and_a_portrait_its_depth(tmp_path):
    spatial = codec.load_image(SPATIAL)
    assert spatial.stereo_right is not None and spatial.stereo_right.shape == spatial.pixels.shape
    assert spatial.embedded_depth is None
    pug = codec.load_image(PUG)
    assert pug.stereo_right is None and pug.embedded_depth is not None
    d = pug.embedded_depth.disparity
    assert d.shape == (576, 768) and d.dtype == np.float32
    # representation 1 (uniform disparity) from d_min 1.498 to d_max 4.383
    assert float(d.min()) >= 1.49 and float(d.max()) <= 4.39


@needs_fixtures
def test_a_damaged_embedded_depth_map_is_named_and_the_next_source_used(tmp_path, monkeypatch):
    from depthblur_cli.imaging.embedded import EmbeddedDepth

    def constant(im, limit):
        return EmbeddedDepth(np.ones((576, 768), np.float32), "embedded:apple-heif"), None

    monkeypatch.setattr(codec, "heif_depth", constant)
    small = tmp_path / "pug.heic"
    with Image.open(PUG) as im:  # re-encoded small: the depth image is not carried, the patch gives one
        im.convert("RGB").resize((200, 150)).save(small, "HEIF")
    result = cli("depth", small, "-o", tmp_path / "o.jpg", "--json", "--offline")
    record = json.loads(result.stdout)
    assert record["depth_source"].startswith("model:")
    assert any("own depth map is constant: not used" in w for w in record["warnings"]), record["warnings"]
