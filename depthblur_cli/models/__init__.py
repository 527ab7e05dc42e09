"""Models: the catalog, the on-disk store and download, onnxruntime sessions.

* :mod:`depthblur_cli.models.catalog` -- :class:`~depthblur_cli.models.catalog.ModelSpec`
  records read from ``models/catalog.json`` (names, pinned URLs, SHA-256,
  sizes in bytes, licences, preprocessing), :func:`~depthblur_cli.models.catalog.get_spec`,
  ``DEFAULT_MATTE_MODEL`` (``"auto"``: the bundled ``u2netp-int8`` or ``u2netp``
  per machine, :func:`~depthblur_cli.models.sessions.matte_model_for`) and ``DEFAULT_DEPTH_MODEL``
  (``"depth-anything-v2-small"``, downloaded on first use).
* :mod:`depthblur_cli.models.store` -- the bundled and cache directories
  (``$DEPTHBLUR_HOME/models`` or the platformdirs user cache), resumable
  verified downloads, and :func:`~depthblur_cli.models.store.resolve_model`
  which turns a ``--model`` / ``--depth-model`` value (name or ``.onnx`` path)
  into a spec and a file.
* :mod:`depthblur_cli.models.sessions` -- one CPU onnxruntime session per model
  file per process and the input / output signatures read from it.

Everything model-related fails with :class:`~depthblur_cli.errors.ModelError`
(exit code 3). Provenance and licences: ``models/README.md``. This package
imports nothing heavy; import the submodules you need (only ``sessions``
imports onnxruntime).
"""
