"""Safe files: inputs never overwritten, outputs written atomically.

Outputs go to a hidden temporary file in the target directory, which is then
renamed over the target, so a crash or a full disk never leaves a
half-written file behind, and an existing file is replaced only when asked.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO

import depthblur_cli.imaging.storage as storage
from depthblur_cli.errors import InputError, OutputError
from depthblur_cli.imaging.storage import is_url


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file.

    Two existing paths are the same file when they have the same device and
    inode (hard links, symlinks, case differences on case-insensitive disks);
    any two are when their resolved, case-normalised paths are equal. URLs
    are compared as written. ``"-"`` (stdin/stdout) is never the same file.

    Raises:
        Nothing: unreadable paths are compared by name.
    """
    a, b = os.fspath(a), os.fspath(b)
    if a == "-" or b == "-":
        return False
    return not file_keys(a).isdisjoint(file_keys(b))


def file_keys(path: str | os.PathLike) -> frozenset[tuple]:
    """What identifies a file: its resolved, case-normalised path and, when it exists, its (device, inode).

    Two paths name the same file when their keys meet (see :func:`same_file`);
    a URL's only key is the URL.
    """
    text = os.fspath(path)
    if is_url(text):
        return frozenset({("url", text)})
    keys: set[tuple] = {("path", os.path.normcase(os.path.realpath(text)))}
    try:
        st = os.stat(text)
    except (OSError, ValueError):
        return frozenset(keys)
    keys.add(("inode", st.st_dev, st.st_ino))
    return frozenset(keys)


class ProtectedFiles:
    """Files never to overwrite (the inputs, model files), looked up in constant time.

    A batch of a million inputs checks every output against all of them: a
    set of :func:`file_keys` makes each check one ``stat``, where comparing
    with each input in turn took minutes per thousand inputs. Picklable (it
    travels with a job to worker processes).

    Args (constructor):
        paths: the files (``"-"`` and None are ignored).
        parent: another set whose files are protected too (a cheap union).
    """

    def __init__(self, paths: Iterable = (), parent: ProtectedFiles | None = None) -> None:
        self._keys: set[tuple] = set()
        self._parent = parent
        for path in paths:
            if path is not None and os.fspath(path) != "-":
                self._keys.update(file_keys(path))

    def __contains__(self, target: object) -> bool:
        if not isinstance(target, (str, os.PathLike)) or os.fspath(target) == "-":
            return False
        keys = file_keys(target)
        node: ProtectedFiles | None = self
        while node is not None:
            if not node._keys.isdisjoint(keys):
                return True
            node = node._parent
        return False


def as_protected(protected: ProtectedFiles | Iterable) -> ProtectedFiles:
    """``protected`` as a :class:`ProtectedFiles` (itself when it is one)."""
    return protected if isinstance(protected, ProtectedFiles) else ProtectedFiles(protected)


def _default_mode() -> int:
    """Permission bits of a newly created regular file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: Suffix of the temporary files outputs are written to before their rename;
#: their names are ``.PID-random.depthblur.tmp`` (the writer's process id).
TEMP_SUFFIX = ".depthblur.tmp"
#: A temporary file without a live writer older than this (seconds) is stale.
STALE_AFTER_S = 3600.0
_TEMP_NAME = re.compile(r"^\.(\d+)-.*" + re.escape(TEMP_SUFFIX) + r"$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temp_files(directory: str) -> list[str]:
    """Remove the temporary files that killed runs left in ``directory``.

    A temporary file is stale when the process named in it is gone (or, for
    a name without one, when it is older than :data:`STALE_AFTER_S`); a live
    run's files are left alone.

    Returns:
        the paths removed (errors are ignored: nothing here is the user's).
    """
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        match = _TEMP_NAME.match(name)
        try:
            stale = not _alive(int(match.group(1))) if match else time.time() - os.path.getmtime(path) > STALE_AFTER_S
            if stale and os.path.isfile(path):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


_EXISTS = "already exists (use --overwrite to replace it)"


def _refuse_protected(target: str, protected: ProtectedFiles | Iterable) -> None:
    if target in as_protected(protected):
        raise OutputError("refusing to overwrite an input file", target)


def check_target(target: str, *, overwrite: bool, protected: ProtectedFiles | Iterable) -> bool:
    """Refuse a target that is an input, a directory or anything but a regular file (a device,
    a FIFO, a socket: even with ``overwrite``), or exists without ``overwrite``; returns whether it exists.

    A URL is checked for being an input and for existing (see :mod:`depthblur_cli.imaging.storage`)."""
    _refuse_protected(target, protected)
    if is_url(target):
        exists = storage.exists(target)
        if exists and not overwrite:
            raise OutputError(_EXISTS, target)
        return exists
    if os.path.isdir(target):
        raise OutputError("is a directory", target)
    if os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode):
        raise OutputError("is not a regular file (a device, FIFO or socket): refusing to replace it", target)
    exists = os.path.lexists(target)
    if exists and not overwrite:
        raise OutputError(_EXISTS, target)
    return exists


def _write_all(stream, data: bytes) -> None:
    """Write all of ``data``: an unbuffered stream (``python -u``) may take only part of it per call.

    Raises:
        OSError: the stream was closed (``BrokenPipeError`` when the reader went away).
    """
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]
    stream.flush()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (POSIX, this thread) for a few statements; they arrive after it."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _put_in_place(tmp: str, target: str, overwrite: bool) -> None:
    """Rename a finished temporary file to ``target``; without ``overwrite``, never over one that exists.

    No-clobber: a hard link fails if the target appeared meanwhile (the
    caller then removes the temporary name); a file system without hard
    links gets a rename after a last check.

    Raises:
        OutputError: the target exists and ``overwrite`` is False.
        OSError: the rename or link failed otherwise.
    """
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(_EXISTS, target) from None
    except OSError:  # a file system without hard links
        if os.path.lexists(target):
            raise OutputError(_EXISTS, target) from None
        os.replace(tmp, target)


def write_atomic(
    path: str | os.PathLike, data: bytes, *, overwrite: bool, protected: ProtectedFiles | Iterable
) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename); "-" is stdout; a URL is one upload.

    Raises:
        OutputError: ``path`` is one of ``protected``, exists and
            ``overwrite`` is False, is a directory, or cannot be written.
    """
    target = os.fspath(path)
    if target == "-":
        try:
            _write_all(sys.stdout.buffer, data)
        except OSError as exc:
            raise OutputError(f"cannot write to standard output ({exc.strerror or exc})", "-") from None
        return
    if is_url(target):
        _refuse_protected(target, protected)
        storage.write_bytes(target, data, overwrite=overwrite)  # refuses an existing object itself
        return
    exists = check_target(target, overwrite=overwrite, protected=protected)

    parent = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create directory {parent} ({exc.strerror or exc})", target) from None

    mode = _default_mode()
    if exists:
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode & 0o777
    tmp_name = None
    try:
        with _signals_held():  # Ctrl-C between creating the file and knowing its name would leave it behind
            tmp = tempfile.NamedTemporaryFile(dir=parent, prefix=f".{os.getpid()}-", suffix=TEMP_SUFFIX, delete=False)  # noqa: SIM115
            tmp_name = tmp.name
        with tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        _put_in_place(tmp_name, target, overwrite)  # the temporary name is removed below
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", target) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def check_readable_file(path: str) -> None:
    if not os.path.lexists(path):
        raise InputError("file not found", path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a file", path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path) from None
    if size == 0:
        raise InputError("file is empty", path)


class StreamedFile:
    """A text file written line by line and put in place atomically when closed (``--json-file``).

    A regular file (new, or existing with ``overwrite``) is written to a
    temporary file beside it (:data:`TEMP_SUFFIX`) and renamed into place by
    :meth:`close`, so it is never seen half written and never replaces what
    is there without ``overwrite``. A character device or FIFO that already
    exists (``/dev/stdout``, a pipe) is written directly. A write that fails
    (a full disk, ``/dev/full``) stops the file, not its writer: the error is
    kept (:attr:`error`) and raised by :meth:`close`.

    Args (constructor):
        path: the file.
        overwrite: replace an existing regular file.
        protected: files never to replace (the inputs, depth maps, models,
            the batch's own outputs).

    Raises:
        OutputError: (constructor) ``path`` is protected, a directory, exists
            without ``overwrite``, or cannot be created; (:meth:`close`) a
            write failed or the file could not be put in place.
    """

    def __init__(self, path: str, *, overwrite: bool, protected: ProtectedFiles | Iterable) -> None:
        self.path, self.overwrite = path, overwrite
        self.error: OSError | None = None
        self._tmp: str | None = None
        self._fh: IO[str]
        _refuse_protected(path, protected)
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        try:
            if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
                self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
                return
            check_target(path, overwrite=overwrite, protected=())
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            self._fh = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by close())
                "w", encoding="utf-8", dir=parent, prefix=f".{os.getpid()}-", suffix=TEMP_SUFFIX, delete=False
            )
            self._tmp = self._fh.name
        except OSError as exc:
            raise OutputError(f"cannot write ({exc.strerror or exc})", path) from None

    def write(self, text: str) -> None:
        """Write ``text`` (nothing once a write has failed)."""
        if self.error is None:
            try:
                self._fh.write(text)
            except OSError as exc:
                self.error = exc

    def flush(self) -> None:
        if self.error is None:
            try:
                self._fh.flush()
            except OSError as exc:
                self.error = exc

    def close(self) -> None:
        """Close the file and put it in place (see the class); OutputError if anything failed."""
        try:
            self._fh.close()
        except OSError as exc:
            self.error = self.error or exc
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            if self.error is not None:
                raise OutputError(f"cannot write ({self.error.strerror or self.error})", self.path)
            return
        try:
            if self.error is not None:
                raise self.error
            os.chmod(tmp, _default_mode() if not os.path.exists(self.path) else os.stat(self.path).st_mode & 0o777)
            _put_in_place(tmp, self.path, self.overwrite)
        except OSError as exc:
            raise OutputError(f"cannot write ({exc.strerror or exc})", self.path) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def discard(self) -> None:
        """Close without putting anything in place (the temporary file is removed)."""
        with contextlib.suppress(OSError):
            self._fh.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


def read_source(name: str) -> bytes:
    """The whole bytes of an input: a path, a URL or ``"-"`` (standard input).

    Raises:
        InputError: naming the file: not found, a directory, unreadable.
    """
    if name == "-":
        return sys.stdin.buffer.read()
    if is_url(name):
        return storage.read_bytes(name)
    check_readable_file(name)
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", name) from None
