"""Object storage and other URLs (``s3://``, ``gs://``, ``az://``, ``http://`` ...) through fsspec.

An input or output named by a URL (``scheme://...``, the scheme at least two
letters, so ``C:\\`` stays a path) is read and written with `fsspec
<https://filesystem-spec.readthedocs.io/>`_; the scheme's own package does the
talking (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``: the extras
``depthblur[s3]`` and ``depthblur[gcs]``). Credentials come from where that
package looks (environment, config files, instance roles); ``fsspec``'s
storage options can be set through its ``FSSPEC_*`` environment variables
(e.g. ``FSSPEC_S3_ENDPOINT_URL`` for an S3-compatible server).

A write is one whole-object upload (``pipe_file``): on S3 and GCS an object
appears complete or not at all, so nothing half-written is ever seen.
Without ``overwrite`` an object already there is refused; the check and the
upload are two requests, so two writers racing for one name can both pass
it (the batch never plans two inputs onto one output).

Nothing here is imported, and fsspec is never loaded, unless a URL is given.
"""

from __future__ import annotations

import re
from typing import Any

from depthblur_cli.errors import InputError, OutputError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(path: str) -> bool:
    """True for ``scheme://...`` (a scheme of two or more characters), False for local paths and ``-``."""
    return bool(_URL.match(path))


def _filesystem(url: str, error: type[InputError] | type[OutputError]) -> Any:
    """The fsspec file system of a URL, or a one-line error saying what to install."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise error("URLs need fsspec: pip install fsspec", url) from None
    try:
        fs, _ = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        scheme = url.split("://", 1)[0]
        hint = {"s3": " (pip install 'depthblur[s3]')", "gs": " (pip install 'depthblur[gcs]')"}.get(scheme, "")
        raise error(f"cannot use {scheme}:// URLs ({exc}){hint}".replace("\n", " "), url) from None
    return fs


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def read_bytes(url: str) -> bytes:
    """The whole object at ``url``.

    Raises:
        InputError: "no such object", or "cannot read (...)" (permissions,
            network, a missing scheme package).
    """
    fs = _filesystem(url, InputError)
    try:
        return fs.cat_file(url)
    except FileNotFoundError:
        raise InputError("no such object", url) from None
    except Exception as exc:  # the backends raise their own errors
        raise InputError(f"cannot read ({_reason(exc)})", url) from None


def exists(url: str) -> bool:
    """True when an object (or prefix) is at ``url``; False when it cannot be told.

    Raises:
        OutputError: the scheme cannot be used (a missing package).
    """
    fs = _filesystem(url, OutputError)
    try:
        return bool(fs.exists(url))
    except Exception:
        return False


def write_bytes(url: str, data: bytes, *, overwrite: bool) -> None:
    """Upload ``data`` as the object at ``url`` in one request.

    Raises:
        OutputError: it exists and ``overwrite`` is False, or the upload
            failed (permissions, network, a missing scheme package).
    """
    fs = _filesystem(url, OutputError)
    if not overwrite and exists(url):
        raise OutputError("already exists (use --overwrite to replace it)", url)
    try:
        fs.pipe_file(url, data)
    except Exception as exc:
        raise OutputError(f"cannot write ({_reason(exc)})", url) from None


def expand(spec: str, wanted) -> list[str] | None:
    """The object URLs a URL argument stands for, sorted.

    Args:
        spec: one object, a "directory" (a prefix holding objects), or a
            glob pattern (``s3://bucket/in/*.jpg``, ``**`` for any depth).
        wanted: ``wanted(url) -> bool`` choosing which objects of a
            directory or pattern are images to take.

    Returns:
        ``[spec]`` for an object, the wanted objects of a directory or
        pattern, or None when nothing is there.

    Raises:
        InputError: the listing failed (permissions, network, a missing
            scheme package).
    """
    fs = _filesystem(spec, InputError)
    try:
        if any(c in spec for c in "*?["):
            found = fs.glob(spec)
        elif fs.isdir(spec):
            found = fs.find(spec, maxdepth=1)
        elif fs.exists(spec):
            return [spec]
        else:
            return None
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise InputError(f"cannot list ({_reason(exc)})", spec) from None
    urls = [p if is_url(p) else fs.unstrip_protocol(p) for p in found]
    return sorted(u for u in urls if wanted(u))
