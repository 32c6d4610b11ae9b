"""Cap glibc's malloc arenas before the engine starts its worker threads.

Why: glibc gives each new thread that allocates its own malloc arena, up to
eight per core, and memory freed in one arena is never handed to another.
The engine runs up to 64 worker threads, and Python routes every block over
512 bytes (response bodies, the state documents a save encodes, decoded JSON
tables) to malloc, so on a whole-platform apply each of those arenas grew
its own high-water mark: capping them at two took the apply's peak RSS from
174 MB to ~140 MB at the same CPU (``bench/client_cost.py``).  Two, not
one: the threads hold the GIL while they allocate, so arenas buy no
parallelism here, but the second keeps the main thread's arena apart from the
workers' churn.

Only the cap changes, never what is allocated; ``mallopt`` applies to arenas
created after the call.  Elsewhere (musl, macOS, Windows) there is no
``M_ARENA_MAX`` and this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc's ``M_ARENA_MAX`` option of ``mallopt`` (malloc.h).
M_ARENA_MAX = -8
#: The cap: see the module docstring for why two.
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most ``arenas`` malloc arenas; True when it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the interpreter's own symbols: its libc, no library search
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # absent outside glibc (musl)
    except (OSError, AttributeError):
        return False
    del gnu_get_libc_version
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
