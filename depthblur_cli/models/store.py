"""Where model files live, how they are downloaded and verified, and resolution
of a ``--model`` / ``--depth-model`` value to a file.

* The bundled model (u2netp) ships inside the package
  (:func:`bundled_dir`).
* Downloaded models go to :func:`cache_dir`: ``$DEPTHBLUR_HOME/models`` when
  the ``DEPTHBLUR_HOME`` environment variable is set, else the per-user cache
  directory of :mod:`platformdirs` (``~/.cache/depthblur/models`` on Linux).
* A download streams into ``<cache>/<filename>.part`` (resumed with an HTTP
  ``Range`` request when a ``.part`` exists), is checked against the catalog's
  SHA-256 (and size when known) once, then atomically renamed into place. Later
  runs only check that the file exists and has the catalog size.

Every failure raises :class:`~depthblur_cli.errors.ModelError` with a one-line
message. Nothing in this module imports onnxruntime.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from depthblur_cli.errors import ModelError
from depthblur_cli.models.catalog import TASKS, ModelSpec, get_spec, load_catalog
from depthblur_cli.models.paths import HOME_ENV, bundled_dir, cache_dir

#: Bytes read from the network (and from disk when hashing) per chunk.
CHUNK_SIZE = 1 << 20

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _user_agent() -> str:
    from depthblur_cli import __version__

    return f"depthblur/{__version__} (+python-urllib)"


def sha256_file(path: str | Path) -> str:
    """Return the lowercase hex SHA-256 of the file at ``path`` (read in 1 MiB chunks).

    Raises:
        ModelError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ModelError(f"cannot read model file ({exc.strerror or exc})", path=path) from None
    return digest.hexdigest()


def _present(path: Path, spec: ModelSpec) -> bool:
    """True when ``path`` is a file of the catalog size (any size if unknown)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not path.is_file() or st.st_size == 0:
        return False
    return spec.size is None or st.st_size == spec.size


def cached_path(spec: ModelSpec) -> Path:
    """Return where ``spec`` lives in the download cache (it may not exist)."""
    return cache_dir() / spec.filename


def find_model(spec: ModelSpec) -> Path | None:
    """Return the model file for ``spec`` if it is already on disk, else ``None``.

    Looks in :func:`bundled_dir` for bundled models, then in :func:`cache_dir`.
    A file counts as present when it exists and has the catalog size (in
    bytes; any non-empty file when the size is unknown). It is not hashed
    here: downloads are verified once, before they are moved into place.
    """
    candidates = []
    if spec.bundled:
        candidates.append(bundled_dir() / spec.filename)
    candidates.append(cached_path(spec))
    for path in candidates:
        if _present(path, spec):
            return path
    return None


def _manual_hint(spec: ModelSpec, url: str, dest: Path) -> str:
    return (
        f"download {url} elsewhere and pass it with --depth-model PATH / -m PATH (depth_model= / model= in Python),"
        f" or copy it to {dest}"
    )


def _progress_bar(spec: ModelSpec, total: int | None, done: int):
    """Return a started rich progress bar on stderr and its task id, or
    ``(None, None)`` when stderr is not a terminal (logs stay clean)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        return None, None
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(f"downloading {spec.name}", total=total, completed=done)
    bar.start()
    return bar, task


def _open(url: str, start: int, timeout: float):
    import urllib.request  # here, not at the top: 27 ms of every command's start-up, for downloads only

    headers = {"User-Agent": _user_agent()}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_offset(response, start: int) -> int:
    """Return where the response body starts in the file: ``start`` for a
    matching 206 partial response, 0 for anything else (a full 200 body)."""
    if start == 0 or response.status != 206:
        return 0
    match = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    if match and int(match.group(1)) == start:
        return start
    raise ModelError(f"server sent an unexpected range for {response.url!r}")


def download(
    spec: ModelSpec,
    *,
    url: str | None = None,
    progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Download ``spec`` into :func:`cache_dir`, verify it and return its path.

    Args:
        spec: the model; ``spec.sha256`` (and ``spec.size`` in bytes, when
            known) must match the downloaded bytes.
        url: download from here instead of ``spec.url`` (a mirror; tests).
        progress: show a transient rich progress bar on stderr (only when
            stderr is a terminal).
        timeout: seconds to wait for the connection and for each read.

    The body streams in 1 MiB chunks to ``<cache>/<filename>.part``. An
    existing ``.part`` is resumed with ``Range: bytes=N-`` (a 206 reply is
    appended, a 200 reply restarts the file). After the SHA-256 check the
    ``.part`` is renamed into place with :func:`os.replace`, so readers never
    see a partial model.

    Raises:
        ModelError: no URL (bundled model missing from the install), network
            or HTTP failure (the message names the URL and how to install the
            file by hand; the ``.part`` is kept for resuming), checksum or
            size mismatch (the file is deleted), or the cache is not writable.
    """
    url = url or spec.url
    dest = cached_path(spec)
    if not url:
        raise ModelError(
            f"model {spec.name} has no download URL and {spec.filename} is missing "
            f"from {bundled_dir()}; reinstall depthblur"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache ({exc.strerror or exc})", path=dest.parent) from None
    with _download_lock(dest):  # two processes never append to one .part; the second finds the file done
        if _present(dest, spec) and verify_cached(spec, dest):
            return dest
        return _download_locked(spec, url, dest, progress=progress, timeout=timeout)


def _download_locked(spec: ModelSpec, url: str, dest: Path, *, progress: bool, timeout: float) -> Path:
    """The body of :func:`download`, under its lock."""
    part = dest.with_name(dest.name + ".part")

    start = part.stat().st_size if part.is_file() else 0
    if spec.size is not None and start > spec.size:
        part.unlink()
        start = 0
    if spec.size is None or start < spec.size:
        _fetch(spec, url, part, start, progress=progress, timeout=timeout, dest=dest)

    got_size = part.stat().st_size
    if spec.size is not None and got_size < spec.size:
        raise ModelError(
            f"download of {spec.name} from {url} stopped at {got_size} of {spec.size} bytes; run again to resume"
        )
    if spec.size is not None and got_size != spec.size:
        part.unlink(missing_ok=True)
        raise ModelError(f"size mismatch for {spec.name}: expected {spec.size} bytes, got {got_size} (file deleted)")
    got = sha256_file(part)
    if got != spec.sha256.lower():
        part.unlink(missing_ok=True)
        raise ModelError(f"checksum mismatch for {spec.name}: expected {spec.sha256}, got {got} (file deleted)")
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise ModelError(f"cannot move the download into place ({exc.strerror or exc})", path=dest) from None
    _write_stamp(dest, got)
    return dest


@contextlib.contextmanager
def _download_lock(dest: Path) -> Iterator[None]:
    """An exclusive lock on the cache directory (``fcntl.flock`` on it: no lock file is left behind;
    none where there is no fcntl). Downloads are rare: one at a time per cache is enough."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(dest.parent, os.O_RDONLY)
    except OSError as exc:
        raise ModelError(f"cannot lock the model cache ({exc.strerror or exc})", path=dest.parent) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _stamp_path(path: Path) -> Path:
    """Where the stamp of ``path`` lives: in the user's cache (``<cache>/verified/``),
    named by a hash of the file's absolute path, never beside the model, so a
    run never writes into a checkout or a read-only install."""
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / "verified" / f"{path.name}.{key}"


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _write_stamp(path: Path, digest: str) -> None:
    """Record that ``path`` (at its current size and time) hashed to ``digest``."""
    stamp = _stamp_path(path)
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{digest} {_stat_key(path)}\n", encoding="ascii")
        os.replace(tmp, stamp)


def verify_cached(spec: ModelSpec, path: Path) -> bool:
    """Whether a cached model file is the catalog's, hashing it only when it changed since last checked.

    A file verified once is stamped (a small file in ``<cache>/verified/``:
    its SHA-256, size and modification time); while its size and time are the stamp's it is
    trusted, otherwise it is hashed again (a file replaced or damaged since).
    A user's own file (no catalog hash) is always accepted.
    """
    if not spec.sha256:
        return True
    try:
        stamp = _stamp_path(path).read_text(encoding="ascii").split()
        if len(stamp) == 3 and stamp[0] == spec.sha256 and " ".join(stamp[1:]) == _stat_key(path):
            return True
    except OSError:
        pass
    digest = sha256_file(path)
    if digest != spec.sha256:
        return False
    _write_stamp(path, digest)
    return True


def corrupt_message(spec: ModelSpec, path: Path) -> str:
    """The one line saying a cached model is corrupt, and the fix."""
    return (
        f"cached model {spec.name} does not match its checksum (damaged or replaced); "
        f"run 'depthblur models pull {spec.name} --force' or delete {path}"
    )


def _fetch(spec: ModelSpec, url: str, part: Path, start: int, *, progress: bool, timeout: float, dest: Path) -> None:
    """Stream ``url`` into ``part`` from byte ``start`` (see :func:`download`)."""
    import http.client
    import urllib.error

    hint = _manual_hint(spec, url, dest)
    bar = None
    try:
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start > 0:  # the .part is unusable: start over
                exc.close()
                part.unlink(missing_ok=True)
                start = 0
                response = _open(url, 0, timeout)
            else:
                raise
        with response:
            start = _resume_offset(response, start)
            length = response.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else spec.size
            if progress:
                bar, task = _progress_bar(spec, total, start)
            with open(part, "ab" if start else "wb") as out:
                while True:
                    chunk = response.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    out.write(chunk)
                    if bar is not None:
                        bar.advance(task, len(chunk))
    except urllib.error.HTTPError as exc:
        raise ModelError(f"cannot download {spec.name}: HTTP {exc.code} {exc.reason} from {url}; {hint}") from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise ModelError(f"cannot download {spec.name} from {url} ({reason}); {hint}") from None
    except TimeoutError:
        raise ModelError(f"cannot download {spec.name} from {url} (timed out after {timeout:g} s); {hint}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise ModelError(f"cannot download {spec.name} from {url} ({reason}); {hint}") from None
    finally:
        if bar is not None:
            bar.stop()


def ensure_model(spec: ModelSpec, *, allow_download: bool = True, progress: bool = True) -> Path:
    """Return the path of ``spec``'s file, downloading it first if needed.

    Args:
        spec: the model.
        allow_download: when False (offline mode) a missing model is an error.
        progress: show the download progress bar on stderr.

    Raises:
        ModelError: the model is missing and downloads are disabled, or the
            download fails (see :func:`download`).
    """
    found = find_model(spec)
    if found is not None:
        if not spec.bundled and not verify_cached(spec, found):
            raise ModelError(corrupt_message(spec, found))
        return found
    if spec.bundled or not spec.url:
        return download(spec, progress=progress)  # raises: reinstall
    if not allow_download:
        raise ModelError(
            f"model {spec.name} is not in the cache and downloading is disabled; "
            + _manual_hint(spec, spec.url, cached_path(spec))
        )
    return download(spec, progress=progress)


def _generic_spec(path: Path, task: str, size: int) -> ModelSpec:
    """Preprocessing guess for a user-supplied model that is not in the catalog."""
    matte = task == "matte"
    return ModelSpec(
        name=path.stem,
        task=task,
        filename=path.name,
        url=None,
        sha256="",
        size=size,
        license="unknown",
        bundled=False,
        input_size=320 if matte else 518,
        resize="square" if matte else "auto",
        multiple=1 if matte else 14,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        interpolation="bilinear" if matte else "bicubic",
        description=f"user-supplied {task} model {path}",
    )


def _spec_for_file(path: Path, task: str) -> ModelSpec:
    """Match a user file against the catalog (size, then SHA-256), else a generic spec."""
    size = path.stat().st_size
    candidates = [s for s in load_catalog().values() if s.size is None or s.size == size]
    if candidates:
        digest = sha256_file(path)
        for spec in candidates:
            if spec.sha256 == digest and (spec.size is None or spec.size == size):
                if spec.task != task:
                    raise ModelError(f"this is the {spec.task} model {spec.name}, not a {task} model", path=path)
                return replace(spec, filename=path.name)
    return _generic_spec(path, task, size)


def resolve_model(
    name_or_path: str,
    task: str,
    *,
    allow_download: bool = True,
    progress: bool = True,
) -> tuple[ModelSpec, Path]:
    """Turn a ``--model`` / ``--depth-model`` value into a spec and a file.

    Args:
        name_or_path: a catalog name (``"u2net"``) or a path to an ``.onnx``
            file. An existing file wins over a catalog name; a value ending in
            ``.onnx`` or containing a path separator is always a path.
        task: ``"matte"`` or ``"depth"``.
        allow_download: passed to :func:`ensure_model` for catalog names.
        progress: passed to :func:`ensure_model`.

    A user file whose size and SHA-256 equal a catalog entry's gets that
    entry's spec (with ``filename`` set to the file's name). Otherwise it gets
    a generic spec named after the file stem, with ``sha256=""``, ImageNet
    normalisation and: for ``matte``, a 320 x 320 square bilinear input; for
    ``depth``, ``resize="auto"`` (use the session's static input H, W when it
    has them, else shorter side 518 rounded to multiples of 14, bicubic).

    Raises:
        ModelError: unknown task; the path does not exist or is not a file
            ("model file not found"); unknown name (lists the known names); a
            catalog model (or a file identical to one) of the other task; or
            any :func:`ensure_model` failure.
    """
    if task not in TASKS:
        raise ModelError(f"unknown model task {task!r}; expected one of: {', '.join(TASKS)}")
    value = name_or_path.strip()
    path = Path(value).expanduser()
    looks_like_path = (
        value.lower().endswith(".onnx") or os.sep in value or (os.altsep is not None and os.altsep in value)
    )
    if path.is_file():
        return _spec_for_file(path.resolve(), task), path.resolve()
    if looks_like_path or (path.exists() and value not in load_catalog()):
        raise ModelError("model file not found", path=value)
    spec = get_spec(value)
    if spec.task != task:
        raise ModelError(f"{spec.name} is a {spec.task} model, not a {task} model")
    return spec, ensure_model(spec, allow_download=allow_download, progress=progress)


__all__ = [
    "CHUNK_SIZE",
    "HOME_ENV",
    "bundled_dir",
    "cache_dir",
    "cached_path",
    "download",
    "ensure_model",
    "find_model",
    "resolve_model",
    "sha256_file",
]
