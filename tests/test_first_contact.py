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
