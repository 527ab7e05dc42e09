"""depthblur: put a photo's background out of focus the way a fast lens would.

Local, offline equivalents of Photoshop's Depth Blur, Photoroom's background
blur (bokeh / gaussian) and rembg-style background blur, as a command line
(``depthblur``) and as one call per job:

>>> import depthblur_cli
>>> sorted(depthblur_cli.__all__)  # doctest: +NORMALIZE_WHITESPACE
['DepthblurError', 'DepthblurWarning', 'InputError', 'ModelError', 'OutputError', 'Session', 'UsageError',
 '__version__', 'bokeh', 'depth_blur', 'estimate_depth', 'gaussian', 'matte', 'new_session', 'rembg_blur']

The functions (:mod:`depthblur_cli.api`) take a path, a PIL image or a
uint8 / uint16 / float array and give back the same kind, with the
command's defaults; ``new_session()`` keeps models loaded for many calls
(``session=``), as rembg's does. Importing this package loads no heavy library
(NumPy, OpenCV, onnxruntime load on the first call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from depthblur_cli.errors import DepthblurError, DepthblurWarning, InputError, ModelError, OutputError, UsageError

if TYPE_CHECKING:  # what a type checker sees; at run time they are imported on first use (__getattr__)
    from depthblur_cli.api import Session as Session
    from depthblur_cli.api import bokeh as bokeh
    from depthblur_cli.api import depth_blur as depth_blur
    from depthblur_cli.api import estimate_depth as estimate_depth
    from depthblur_cli.api import gaussian as gaussian
    from depthblur_cli.api import matte as matte
    from depthblur_cli.api import new_session as new_session
    from depthblur_cli.api import rembg_blur as rembg_blur

__version__ = "0.1.0"

_API = ("Session", "bokeh", "depth_blur", "estimate_depth", "gaussian", "matte", "new_session", "rembg_blur")

__all__ = [
    "DepthblurError",
    "DepthblurWarning",
    "InputError",
    "ModelError",
    "OutputError",
    "UsageError",
    "__version__",
    *_API,
]


def __getattr__(name: str) -> Any:
    """The one-call functions, imported on first use (PEP 562)."""
    if name in _API:
        from depthblur_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'depthblur_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
