"""glibc's allocator, tuned for a long-running producer: one arena, and free pages handed back.

``tune_allocator`` (the CLI's ``run``, before any thread starts) has every thread allocate from
glibc's main arena (``M_ARENA_MAX`` = 1): parts are compressed in worker threads, and glibc gives
each thread an arena of its own that keeps freed memory to itself (~7 MB each for the two
compression threads of a long window). It does nothing when the operator chose a value
(``MALLOC_ARENA_MAX``, ``GLIBC_TUNABLES``).

``release_free_memory`` (the worker, after each page) hands the heap's free pages back to the
system (``malloc_trim``): a results page parses into ~29 MB of objects, and what glibc keeps of
the pages before it grew the peak RSS of a 1M-record window by ~10 MB (docs/performance.md).

Both do nothing off glibc (musl ignores ``mallopt``, other systems have neither function).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

__all__ = ["release_free_memory", "tune_allocator"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _c_library() -> ctypes.CDLL | None:
    """The C library this process runs on; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


_LIBC = _c_library()
_TRIM = getattr(_LIBC, "malloc_trim", None)  # None: not glibc (musl has no malloc_trim)


def tune_allocator(environ: Mapping[str, str] = os.environ) -> None:
    """One glibc arena for every thread, unless the operator chose (module docstring)."""
    if "MALLOC_ARENA_MAX" in environ or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        return
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_ARENA_MAX, 1)


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system (``malloc_trim(0)``), where glibc can."""
    if _TRIM is not None:
        _TRIM(0)
