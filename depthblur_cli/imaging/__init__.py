"""Image files: formats, safe writing, the photo codec, metadata and depth-map files.

* :mod:`~depthblur_cli.imaging.formats` -- output format names and suffixes (no heavy import);
* :mod:`~depthblur_cli.imaging.storage` -- URLs (object storage) through fsspec;
* :mod:`~depthblur_cli.imaging.files` -- inputs never overwritten, atomic writes;
* :mod:`~depthblur_cli.imaging.metadata` -- EXIF orientation, ICC colour spaces, PNG chunks;
* :mod:`~depthblur_cli.imaging.codec` -- photos decoded to upright sRGB floats, encoded and saved;
* :mod:`~depthblur_cli.imaging.depth_files` -- depth maps read in their own units, 16-bit and preview PNGs.

Import the submodule you need; this package itself imports nothing.
"""
