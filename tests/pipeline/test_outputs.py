"""Tests for depthblur_cli.pipeline.outputs: input expansion and output planning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from depthblur_cli.errors import InputError, OutputError, UsageError
from depthblur_cli.pipeline.outputs import (
    IMAGE_SUFFIXES,
    OutputPlan,
    expand_inputs,
    format_for,
    input_suffixes,
    plan_outputs,
)


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------
# format_for
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, fmt",
    [
        (".jpg", "JPEG"),
        ("JPEG", "JPEG"),
        ("cat.JPeG", "JPEG"),
        ("x/y.png", "PNG"),
        ("webp", "WEBP"),
        (".tif", "TIFF"),
        ("a.tiff", "TIFF"),
    ],
)
def test_format_for(given, fmt):
    assert format_for(given) == fmt


@pytest.mark.parametrize("given", [".bmp", "gif", "x.txt", ""])
def test_format_for_unsupported(given):
    with pytest.raises(UsageError):
        format_for(given)


# --------------------------------------------------------------------------
# expand_inputs
# --------------------------------------------------------------------------


def test_expand_directory_sorted_images_only_non_recursive(cwd):
    _touch(
        cwd / "d" / "b.JPG",
        cwd / "d" / "a.png",
        cwd / "d" / "c.tiff",
        cwd / "d" / "notes.txt",
        cwd / "d" / ".hidden.png",
        cwd / "d" / "sub" / "deep.png",
    )
    inputs, errors = expand_inputs(["d"])
    assert errors == []
    assert inputs == [os.path.join("d", n) for n in ("a.png", "b.JPG", "c.tiff")]


def test_expand_glob_recursive_sorted(cwd):
    _touch(cwd / "p" / "z.jpg", cwd / "p" / "a.jpg", cwd / "p" / "x" / "m.jpg", cwd / "p" / "doc.txt")
    inputs, errors = expand_inputs(["p/**/*.jpg"])
    assert errors == []
    assert inputs == sorted(["p/a.jpg", "p/x/m.jpg", "p/z.jpg"])
    inputs, _ = expand_inputs(["p/*"])
    assert inputs == ["p/a.jpg", "p/z.jpg"]  # only image files, no dirs


def test_expand_missing_specs_reported_rest_kept(cwd):
    _touch(cwd / "a.png", cwd / "empty" / "readme.txt")
    inputs, errors = expand_inputs(["nope.jpg", "a.png", "*.webp", "empty"])
    assert inputs == ["a.png"]
    assert all(isinstance(e, InputError) for e in errors)
    assert [str(e) for e in errors] == [
        "nope.jpg: no such file",
        "*.webp: pattern matched no image files",
        "empty: directory contains no image files",
    ]


def test_expand_deduplicates_keeping_first_spelling_and_order(cwd):
    _touch(cwd / "d" / "a.png", cwd / "d" / "b.png")
    inputs, errors = expand_inputs(["d/b.png", "d", "./d/a.png", "d/*.png", "-", "-"])
    assert errors == []
    assert inputs == ["d/b.png", os.path.join("d", "a.png"), "-"]


def test_expand_explicit_file_any_suffix_and_literal_brackets(cwd):
    _touch(cwd / "raw.dat", cwd / "shot[1].png")
    inputs, errors = expand_inputs(["raw.dat", "shot[1].png"])
    assert errors == [] and inputs == ["raw.dat", "shot[1].png"]


def test_suffixes_written_and_read():
    # Written: what the encoder writes. Read from a folder: everything Pillow opens here.
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif"} == IMAGE_SUFFIXES
    assert {".jpg", ".png", ".webp", ".tif", ".bmp", ".gif", ".heic", ".heif", ".hif", ".avif"} <= input_suffixes()


def test_folder_expansion_takes_every_readable_format_but_never_this_tools_outputs(cwd):
    _touch(cwd / "d" / "a.gif", cwd / "d" / "b.bmp", cwd / "d" / "c.webp", cwd / "d" / "notes.txt")
    _touch(
        cwd / "d" / "a.bokeh.png",
        cwd / "d" / "a.mask.png",
        cwd / "d" / "a.depth.png",
        cwd / "d" / "a.depth-preview.png",
    )
    _touch(cwd / "d" / "x.rembg-blur.jpg", cwd / "d" / "y.gaussian.webp")
    inputs, errors = expand_inputs(["d"])
    assert errors == [] and [os.path.basename(p) for p in inputs] == ["a.gif", "b.bmp", "c.webp"]
    inputs, _ = expand_inputs(["d/*.png"])
    assert inputs == []  # only outputs matched
    inputs, _ = expand_inputs(["d/a.bokeh.png"])
    assert inputs == ["d/a.bokeh.png"]  # a file named on the command line is always taken


# --------------------------------------------------------------------------
# plan_outputs
# --------------------------------------------------------------------------


def _paths(plans):
    return [(p.path, p.fmt) for p in plans]


def test_default_next_to_input(cwd):
    plans = plan_outputs(["photos/cat.jpg", "dog.PNG", "scan.tif", "pic.bmp"], None, command="bokeh", fmt=None)
    assert _paths(plans) == [
        (os.path.join("photos", "cat.bokeh.jpg"), "JPEG"),
        ("dog.bokeh.png", "PNG"),
        ("scan.bokeh.tif", "TIFF"),  # TIFF stays TIFF (16 bits kept); BMP becomes PNG
        ("pic.bokeh.png", "PNG"),
    ]
    assert all(p.error is None and p.input for p in plans)


def test_default_stdin_goes_to_stdout(cwd):
    (plan,) = plan_outputs(["-"], None, command="bokeh", fmt=None)
    assert plan == OutputPlan(input="-", path="-", fmt=None, error=None)  # the input's format, once decoded
    (plan,) = plan_outputs(["-"], "out.webp", command="bokeh", fmt=None)
    assert plan.fmt == "WEBP"


def test_format_precedence(cwd):
    # --format wins over the input's format
    assert _paths(plan_outputs(["a.jpg"], None, command="blur", fmt="webp")) == [("a.blur.webp", "WEBP")]
    # output suffix next
    assert _paths(plan_outputs(["a.jpg"], "o.PNG", command="blur", fmt=None)) == [("o.PNG", "PNG")]
    # then the command default (rembg-blur wants PNG)
    assert _paths(plan_outputs(["a.jpg"], None, command="rembg-blur", fmt=None, default_fmt="png")) == [
        ("a.rembg-blur.png", "PNG")
    ]
    # then the input's format; no suffix names nothing
    assert _paths(plan_outputs(["a.webp"], "result", command="blur", fmt=None)) == [("result", "WEBP")]
    # --format agreeing with the suffix is fine; jpeg == jpg
    assert _paths(plan_outputs(["a.png"], "o.jpeg", command="blur", fmt="jpg")) == [("o.jpeg", "JPEG")]


def test_format_contradicting_suffix_or_unwritable(cwd):
    with pytest.raises(UsageError):
        plan_outputs(["a.jpg"], "o.png", command="blur", fmt="jpeg")
    for suffix in (".bmp", ".gif", ".txt", ".v2"):  # none of them written: never PNG bytes in them
        with pytest.raises(UsageError, match=suffix):
            plan_outputs(["a.jpg"], "o" + suffix, command="blur", fmt=None)
    with pytest.raises(UsageError):
        plan_outputs(["a.jpg"], None, command="blur", fmt="gif")


def test_single_file_and_stdout(cwd):
    assert _paths(plan_outputs(["a.jpg"], "out/b.webp", command="blur", fmt=None)) == [("out/b.webp", "WEBP")]
    assert _paths(plan_outputs(["a.jpg"], "-", command="blur", fmt=None)) == [("-", "JPEG")]
    assert _paths(plan_outputs(["-"], "-", command="blur", fmt="webp")) == [("-", "WEBP")]


def test_directory_rules(cwd):
    (cwd / "existing").mkdir()
    assert _paths(plan_outputs(["x/a.jpg"], "existing", command="blur", fmt=None)) == [
        (os.path.join("existing", "a.jpg"), "JPEG")
    ]
    assert _paths(plan_outputs(["a.png"], "new/", command="blur", fmt=None)) == [("new/a.png", "PNG")]
    # several inputs: a directory even if it does not exist yet
    plans = plan_outputs(["a.png", "b.jpg", "-"], "outdir", command="blur", fmt=None)
    assert _paths(plans) == [
        (os.path.join("outdir", "a.png"), "PNG"),
        (os.path.join("outdir", "b.jpg"), "JPEG"),
        (os.path.join("outdir", "stdin.png"), "PNG"),
    ]
    assert not (cwd / "outdir").exists()  # planning creates nothing


def test_several_inputs_with_file_like_output_refused(cwd):
    with pytest.raises(UsageError):
        plan_outputs(["a.png", "b.png"], "out.jpg", command="blur", fmt=None)
    with pytest.raises(UsageError):
        plan_outputs(["a.png", "b.png"], "-", command="blur", fmt=None)


def test_pattern_fields(cwd):
    plans = plan_outputs(
        ["shots/cat.jpeg", "dog.webp"],
        "out/{parent}/{stem}-{command}.{ext}|{name}",
        command="bokeh",
        fmt=None,
    )
    assert _paths(plans) == [
        ("out/shots/cat-bokeh.jpg|cat.jpeg", "JPEG"),
        ("out/./dog-bokeh.webp|dog.webp", "WEBP"),
    ]
    # A literal suffix in the pattern sets the format
    plans = plan_outputs(["a.jpg", "b.jpg"], "{stem}_small.png", command="blur", fmt=None)
    assert _paths(plans) == [("a_small.png", "PNG"), ("b_small.png", "PNG")]
    # Absolute patterns stay absolute
    plans = plan_outputs(["a.jpg"], str(cwd / "abs" / "{stem}.{ext}"), command="blur", fmt="tiff")
    assert _paths(plans) == [(str(cwd / "abs" / "a.tif"), "TIFF")]


@pytest.mark.parametrize("pattern", ["{size}.png", "{}.png", "{stem.upper}.jpg", "{stem.png", "{0}"])
def test_bad_pattern(cwd, pattern):
    with pytest.raises(UsageError):
        plan_outputs(["a.jpg"], pattern, command="blur", fmt=None)


def test_collisions_second_one_fails(cwd):
    plans = plan_outputs(["a/cat.jpg", "b/cat.jpg", "c/dog.jpg", "cat.png"], "out/", command="blur", fmt="jpg")
    assert [p.path for p in plans] == [os.path.join("out", n) for n in ("cat.jpg", "cat.jpg", "dog.jpg", "cat.jpg")]
    assert plans[0].error is None and plans[2].error is None
    for p in (plans[1], plans[3]):
        assert isinstance(p.error, OutputError)
        assert str(p.error) == f"{os.path.join('out', 'cat.jpg')}: would overwrite the output of a/cat.jpg"


def test_collision_across_spellings(cwd):
    plans = plan_outputs(["a.jpg", "b.jpg"], "{stem}/../same.png", command="blur", fmt=None)
    assert plans[0].error is None
    assert isinstance(plans[1].error, OutputError) and "a.jpg" in str(plans[1].error)


def test_output_equal_to_input_refused(cwd):
    _touch(cwd / "cat.jpg", cwd / "dog.png")
    (plan,) = plan_outputs(["cat.jpg"], "./cat.jpg", command="blur", fmt=None)
    assert isinstance(plan.error, OutputError)
    assert "its own input" in str(plan.error)
    plans = plan_outputs(["cat.jpg", "dog.png"], "{parent}/{name}", command="blur", fmt=None)
    assert all(isinstance(p.error, OutputError) for p in plans)
    # an output that would replace another input is refused too
    (plan,) = plan_outputs(["cat.jpg"], "dog.png", command="blur", fmt=None)
    assert plan.error is None  # dog.png is not an input here: existence is checked at write time
    plans = plan_outputs(["cat.jpg", "dog.png"], "{parent}/dog.png", command="blur", fmt=None)
    assert "the input dog.png" in str(plans[0].error)


def test_no_existence_checks(cwd):
    _touch(cwd / "cat.bokeh.jpg")
    (plan,) = plan_outputs(["cat.jpg"], None, command="bokeh", fmt=None)
    assert plan.error is None and plan.path == "cat.bokeh.jpg"
