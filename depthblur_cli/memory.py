"""Process-wide memory allocator settings for large-image work.

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
