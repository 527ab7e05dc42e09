"""Issue 26, item 7: steering the subject offline (a box, a mask of one's own); a warning when the matte looks wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES, cli, read_gray, read_rgb, small_copy
from PIL import Image

import depthblur_cli
from depthblur_cli.estimation.subject import matte_warnings


def test_a_mask_of_ones_own_replaces_the_models_matte_by_pattern_and_is_never_overwritten(tmp_path):
    photo = small_copy("chelsea.png", tmp_path / "in" / "cat.png", (160, 106))
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((53, 80), np.uint8)  # half the photo's size: resized to it
    mask[10:40, 20:60] = 255
    Image.fromarray(mask).save(masks / "cat.png")
    before = (masks / "cat.png").read_bytes()
    cli("gaussian", photo, "--mask", f"{masks}/{{stem}}.png", "-o", tmp_path / "out.png", "--save-mask",
        "--offline")  # fmt: skip
    saved = read_gray(tmp_path / "out.mask.png")
    assert saved[30:70, 50:110].min() > 0.95 and saved[:10].max() < 0.05  # the rectangle, not the cat
    out, src = read_rgb(tmp_path / "out.png"), read_rgb(photo)
    assert np.abs(out[30:70, 50:110] - src[30:70, 50:110]).max() < 2 / 255  # the masked part sharp
    cli("gaussian", photo, "--mask", masks / "cat.png", "-o", masks / "cat.png", "--offline", code=1)
    assert (masks / "cat.png").read_bytes() == before


def test_a_subject_box_keeps_the_subject_inside_it(tmp_path):
    photo = small_copy("astronaut.png", tmp_path / "a.png", (256, 256))
    box = (0.3, 0.1, 0.8, 0.6)
    result = cli("bokeh", photo, "--subject-box", ",".join(map(str, box)), "-o", tmp_path / "o.png",
                 "--save-mask", "--json", "--offline")  # fmt: skip
    assert json.loads(result.stdout)["status"] == "ok"
    matte = read_gray(tmp_path / "o.mask.png")
    outside = np.ones_like(matte, bool)
    outside[int(0.1 * 256) : int(0.6 * 256) + 1, int(0.3 * 256) : int(0.8 * 256) + 1] = False  # (its edge pixels)
    assert matte[outside].max() == 0.0  # nothing outside the box
    assert matte[40:80, 95:135].mean() > 0.9  # her face, inside it, is the subject
    with pytest.raises(depthblur_cli.UsageError, match="subject_box"):
        depthblur_cli.bokeh(np.zeros((32, 32, 3), np.uint8), subject_box=(0.5, 0.5, 0.2, 0.9), offline=True)
    result = cli("bokeh", photo, "--subject-box", "0.9,0.1,0.2,0.5", code=2)
    assert "--subject-box" in result.stderr


def test_the_library_takes_a_mask_array():
    photo = np.asarray(Image.open(EXAMPLES / "chelsea.png").convert("RGB"))
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[100:200, 150:300] = 1.0
    out = depthblur_cli.gaussian(photo, mask=mask, offline=True)
    assert np.abs(out[110:190, 160:290].astype(int) - photo[110:190, 160:290]).max() <= 1
    assert np.abs(out[:60].astype(int) - photo[:60]).mean() > 1.0  # the rest blurred


def test_a_matte_that_looks_wrong_is_said():
    empty = np.zeros((100, 100), np.float32)
    assert "tiny" in matte_warnings(empty)[0] and "--subject-box" in matte_warnings(empty)[0]
    frame = np.ones((100, 100), np.float32)
    assert "all four borders" in matte_warnings(frame)[0]
    dots = np.zeros((100, 100), np.float32)
    dots[5::10, 5::10] = 1.0
    dots = np.maximum(dots, np.roll(dots, 1, 0))
    assert "pieces" in matte_warnings(np.maximum(dots, np.roll(dots, 1, 1)))[0]
    portrait = np.zeros((100, 100), np.float32)
    portrait[30:100, 30:70] = 1.0
    assert matte_warnings(portrait) == []
