"""Issue 26: what a new user trips over in the first ten minutes, one test each."""

from __future__ import annotations

from helpers import cli

from depthblur_cli.errors import EXIT_FAILED


def test_error_lines_are_never_read_as_markup(tmp_path):
    bad = tmp_path / "bad[x].jpg"
    bad.write_text("not a photo")
    result = cli("gaussian", bad, "--offline", code=EXIT_FAILED)
    assert f"error: {bad}: not an image" in result.stderr
    result = cli("gaussian", "gs://bucket/x.jpg", "-o", tmp_path / "o.png", "--offline", code=EXIT_FAILED)
    assert "pip install 'depthblur[gcs]'" in result.stderr


def test_an_option_of_another_subcommand_names_that_subcommand(tmp_path):
    from helpers import EXAMPLES

    photo = EXAMPLES / "chelsea.png"
    result = cli("bokeh", photo, "--focal-selector", "0.5,0.5", code=2)
    assert "it is an option of 'depthblur depth'" in result.stderr
    result = cli("gaussian", photo, "--cutout", code=2)
    assert "it is an option of 'depthblur rembg-blur'" in result.stderr and "--output" not in result.stderr
    result = cli("bokeh", photo, "--radius", "20", code=2)
    assert "0 < x <= 0.05" in result.stderr and "--radius-px" in result.stderr
    result = cli("bokeh", photo, "--radiuss", "20", code=2)  # a typo of its own option: click's suggestion
    assert "Possible options: --radius" in result.stderr


def test_the_offline_depth_warning_is_short_said_once_and_counted(tmp_path):
    from helpers import small_copy

    photos = [small_copy("chelsea.png", tmp_path / f"p{i}.png", (64, 48)) for i in range(3)]
    result = cli("depth", *photos, "-o", tmp_path / "out/", "--offline")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and len(warnings[0]) < 140, warnings
    assert "depthblur models pull" in warnings[0]  # the fix
    assert "(the warning above was for 3 inputs)" in result.stderr


def test_help_groups_the_options_and_rembg_blur_says_one_default_format():
    result = cli("depth", "--help")
    sections = [line for line in result.stdout.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    for title in ("Photoshop API options (depthBlur):", "Depth source:", "Subject:", "Lens and aperture:", "Output:",
                  "Batch, report and engine:"):  # fmt: skip
        assert title in sections, sections
    text = " ".join(cli("rembg-blur", "--help").stdout.split())
    assert "else PNG" in text and "else the input's" not in text


def test_out_of_range_errors_have_one_wording_with_the_real_bounds():
    from helpers import EXAMPLES

    photo = EXAMPLES / "chelsea.png"
    for args, bounds in (
        (("rembg-blur", photo, "--radius", "60"), "1 <= x <= 50"),
        (("depth", photo, "--haze", "101"), "0 <= x <= 100"),
        (("bokeh", photo, "--radius", "0.06"), "0 < x <= 0.05"),
        (("gaussian", photo, "-j", "999"), "1 <= x <= 256"),
    ):
        result = cli(*args, code=2)
        assert f"must be in the range {bounds}" in result.stderr, result.stderr
