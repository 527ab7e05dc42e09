"""Process-wide memory settings for large-image work: glibc's allocator, NumPy's huge pages.

glibc's ``malloc`` serves every block over a dynamic threshold (at most
32 MB) with a fresh ``mmap`` and returns it to the system when freed. A
12-megapixel float32 image is 144 MB, so each full-size temporary would be
mapped anew and its pages faulted in on first touch; on the virtual
machines this project runs on that costs about 1.3-1.7 ms per MB (a 12 MP
``depth`` render, best of 3 in a process: 1.28-1.33 s with these settings,
1.34-1.62 s without). Raising the mmap and trim thresholds keeps freed blocks
in the heap for reuse (the process keeps its peak footprint until exit,
which is what a batch needs anyway). The renderer's worker threads share
the main arena (``M_ARENA_MAX`` 1): per-thread arenas cannot reuse each
other's freed blocks, which cost up to 0.5 GB of extra peak at 24 MP
(``benchmarks/bench_render.py``, depth render at 3 %: 2.55 GB with the
thresholds alone, 2.06 GB with one arena, 2.12 GB with neither, measured
before the renderer's later memory cuts). Source:
``mallopt(3)``, https://man7.org/linux/man-pages/man3/mallopt.3.html.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Blocks below this many bytes come from the heap (1 GiB: every image
#: buffer up to about 80 megapixels of RGB float32).
_MMAP_THRESHOLD = 1 << 30
#: Free memory at the top of the heap is returned to the system only above this.
_TRIM_THRESHOLD = (1 << 31) - 1


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to reuse freed large blocks instead of unmapping them.

    Safe to call more than once; does nothing on other C libraries or
    platforms.

    Returns:
        True when the settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    applied = [mallopt(param, value) for param, value in settings]  # every setting, no short-circuit
    return all(applied)


def no_numpy_huge_pages() -> bool:
    """Ask NumPy not to mark its large arrays for transparent huge pages, unless the user chose.

    NumPy marks every large array ``MADV_HUGEPAGE`` (``madvise``). Where the
    kernel's THP ``defrag`` setting is ``madvise`` (a common default), a page
    fault in such an array compacts memory on the spot when no free 2 MB
    page is at hand: on this project's 2-core VM a fresh 144 MB array then
    took 0.3 s instead of 0.01-0.05 s, at random. Measured end to end at
    12 MP (a fresh process each, 8 interleaved rounds, median): ``depth
    --depth-map`` 1.95 s with NumPy's default, 1.56 s without (spread
    1.47-2.09 s against 1.49-1.69 s); ``bokeh`` 1.46 / 1.42 s;
    ``gaussian`` 0.80 / 0.78 s; at 24 MP (4 rounds) ``depth`` 3.31 /
    2.87 s, ``bokeh`` 2.74 / 2.37 s, ``gaussian`` 1.09 / 1.07 s.

    Sets ``NUMPY_MADVISE_HUGEPAGE=0`` when it is not set, which NumPy reads
    when it is imported (and child processes inherit). Sources: NumPy,
    "Global state: madvise hugepage on Linux",
    https://numpy.org/doc/stable/reference/global_state.html; Linux,
    "Transparent Hugepage Support",
    https://www.kernel.org/doc/html/latest/admin-guide/mm/transhuge.html.

    Returns:
        True when the setting applies to this process (NumPy not imported
        yet and the variable not set by the user).
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    return "numpy" not in sys.modules
