"""Where model files live: the bundled folder inside the package and the download cache.

The lowest module of :mod:`depthblur_cli.models`: it imports nothing else of
the package but the version, so the catalog and the store can both use it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that relocates the model cache to ``$DEPTHBLUR_HOME/models``.
HOME_ENV = "DEPTHBLUR_HOME"


def cache_dir() -> Path:
    """Return the directory downloaded models are stored in (not created here).

    Source: ``$DEPTHBLUR_HOME/models`` if ``DEPTHBLUR_HOME`` is set and not
    empty, else ``platformdirs.user_cache_dir("depthblur") / "models"``.
    """
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("depthblur")) / "models"


def bundled_dir() -> Path:
    """Return the directory holding the bundled model and ``catalog.json``.

    Source: the package ``depthblur_cli.model_files`` (the repository's
    ``models/`` folder as installed from the wheel), read with
    :mod:`importlib.resources`; in an editable install that package may not be
    importable, so fall back to ``<repo>/models``.
    """
    package = "depthblur_cli.model_files"
    try:
        import importlib
        from importlib.resources import files

        # model_files has no __init__.py: it is a namespace package, for which
        # files() returns a MultiplexedPath; joinpath() yields a real Path.
        catalog = files(package).joinpath("catalog.json")
        if isinstance(catalog, Path) and catalog.is_file():
            return catalog.parent
        for entry in getattr(importlib.import_module(package), "__path__", ()):
            if (Path(entry) / "catalog.json").is_file():
                return Path(entry)
    except (ImportError, TypeError, ValueError, OSError):
        pass
    import depthblur_cli

    return Path(depthblur_cli.__file__).resolve().parent.parent / "models"
