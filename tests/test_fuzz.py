"""Property-based fuzzing of every image subcommand (hypothesis): random images of every mode,
size and format, and random byte mutations of them. Whatever comes in: no internal error, an exit
code among the documented ones, a one-line error naming the file, one valid record per input.

The examples are few and small, so the suite stays fast; run with ``--hypothesis-seed`` or more
``max_examples`` (``HYPOTHESIS_PROFILE=long``) for a longer search.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
from helpers import RUNNER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from depthblur_cli.cli import app

#: Exit codes the README documents for a batch.
DOCUMENTED = {0, 1, 2, 3}
COMMANDS = (["bokeh"], ["gaussian"], ["rembg-blur"], ["rembg-blur", "--cutout"], ["depth"])
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")

settings.register_profile("suite", max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@st.composite
def image_bytes(draw) -> bytes:
    """An encoded image of a random mode, size (1..300 px) and format, perhaps mutated."""
    w, h = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    seed = draw(st.integers(0, 2**32 - 1))
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(rgb).convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode in ("I;16", "I", "F"):
        im = im.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(im).astype(np.uint16) * 257)
    buf = io.BytesIO()
    try:
        im.save(buf, fmt)
    except (OSError, ValueError, KeyError):  # a mode the format cannot hold
        im.convert("RGB").save(buf, fmt if fmt != "GIF" else "PNG")
    data = bytearray(buf.getvalue())
    edits = draw(st.lists(st.tuples(st.integers(0, max(0, len(data) - 1)), st.integers(0, 255)), max_size=4))
    for pos, value in edits:  # byte mutations: most make a corrupt file, some an odd but valid one
        data[pos] = value
    if draw(st.booleans()) and len(data) > 8:
        data = data[: draw(st.integers(1, len(data)))]  # truncation
    return bytes(data)


@given(data=image_bytes(), command=st.sampled_from(COMMANDS), suffix=st.sampled_from([".png", ".jpg", ".dat"]))
def test_no_input_makes_an_internal_error(tmp_path_factory, data, command, suffix):
    folder = tmp_path_factory.mktemp("fuzz")
    src = folder / f"in{suffix}"
    src.write_bytes(data)
    out = folder / "out.png"
    result = RUNNER.invoke(app, [*command, str(src), "-o", str(out), "--offline", "--json", "-q"])
    assert result.exit_code in DOCUMENTED, (result.exit_code, result.stderr)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert record["status"] in ("ok", "error")
    if record["status"] == "error":
        assert record["error"]["code"] != "internal" and str(src) in record["error"]["message"]
        assert not out.exists()
    else:
        with Image.open(out) as im:
            im.load()
