"""Defaults and bounds shared by the command line and the library.

The command's options, the option dataclasses of
:mod:`depthblur_cli.pipeline.options` and the one-call functions of
:mod:`depthblur_cli.api` all read their defaults here, so a library call
with no options gives exactly the image the command gives. Plain constants:
this module imports nothing of the package.
"""

from __future__ import annotations

from typing import Literal

#: A PNG compression level's name.
PngCompression = Literal["fast", "default", "small"]

#: Matting model used when none is named: ``"auto"`` picks the bundled
#: ``u2netp-int8`` on a CPU with fast int8 instructions and ``u2netp`` elsewhere
#: (:func:`depthblur_cli.models.sessions.matte_model_for`).
MATTE_MODEL = "auto"
#: Monocular depth model used when none is named (downloaded on first use).
DEPTH_MODEL = "depth-anything-v2-small"
#: Depth network used when that one is not in the cache (bundled, runs offline).
OFFLINE_DEPTH_MODEL = "fastdepth"

#: ``bokeh`` / ``gaussian`` blur radius, fraction of the longer image side
#: (Photoroom ``background.blur.radius``: default 0.01, range (0, 0.05]).
BLUR_RADIUS = 0.01
#: Largest ``bokeh`` / ``gaussian`` blur radius, fraction of the longer side.
MAX_BLUR_RADIUS = 0.05
#: Largest blur radius given in pixels (``--radius-px``): past what any photo
#: shows (the longer side of a 24 MP image is 5657 px), so memory stays bounded.
MAX_RADIUS_PX = 2000.0
#: ``rembg-blur`` blur radius, pixels (fapihub ``radius``: integer, max 50).
REMBG_RADIUS_PX = 10
#: Largest ``rembg-blur`` radius, pixels.
MAX_REMBG_RADIUS_PX = 50

#: Highlight boost 0..100 (``--highlights``): how much clipped lights are
#: brightened before the lens blur.
HIGHLIGHTS = 25.0
#: ``--highlights 100`` lets a clipped pixel of a light be given up to this many times the clip
#: level beyond what it recorded (the cap on its estimated missing light; 25 allows a quarter).
HIGHLIGHT_GAIN_AT_100 = 48.0
#: sRGB brightness 0..1 above which highlights are boosted.
HIGHLIGHT_THRESHOLD = 0.92

#: ``depth`` (Photoshop's ``focalDistance``): 0 nearest .. 100 farthest.
FOCAL_DISTANCE = 0
#: ``depth`` (``focalRange``): width of the sharp band around the focus, 0..100.
FOCAL_RANGE = 0
#: ``depth`` (``blurStrength``): 0..100 (100 = largest CoC 3 % of the longer side).
BLUR_STRENGTH = 50

#: ``--device`` values: where the networks run (see ``models/sessions.py``).
DEVICES = ("auto", "cpu", "cuda", "tensorrt", "rocm", "coreml", "directml", "openvino")

#: JPEG / WebP quality 1..100.
QUALITY = 95
#: PNG compression: "fast" (zlib level 1: about 12 % larger than "default",
#: several times faster to write), "default" (6) or "small" (9).
PNG_COMPRESSION: PngCompression = "fast"

#: Largest photo read from standard input, bytes (a file has no such limit, only the pixel limit).
STDIN_MAX_BYTES = 512_000_000

#: ``depthblur serve``: port, largest upload (MB), requests queued or running
#: per process, requests processed at once per process, time limit (s).
SERVE_PORT = 7860
SERVE_MAX_UPLOAD_MB = 50.0
SERVE_MAX_PENDING = 16
SERVE_CONCURRENCY = 1
SERVE_TIMEOUT_S = 120.0


def highlight_gain(amount: float) -> float:
    """The cap on a light's boost for a ``--highlights`` amount 0..100 (linear, 100 -> 48 times the clip level)."""
    return amount / 100.0 * HIGHLIGHT_GAIN_AT_100
