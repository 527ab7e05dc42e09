"""``import depthblur``: the library of the ``depthblur`` command, under the command's name.

The same module contents as :mod:`depthblur_cli` (the package's own name),
nothing loaded until used:

>>> import depthblur, depthblur_cli
>>> depthblur.gaussian is depthblur_cli.gaussian and depthblur.__version__ == depthblur_cli.__version__
True
"""

from __future__ import annotations

from depthblur_cli import *  # noqa: F403
from depthblur_cli import __all__, __dir__, __getattr__, __version__  # noqa: F401
