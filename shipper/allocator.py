"""The C allocator: giving its free memory back to the system, and its arenas under an address-space limit.

glibc's malloc keeps what the process freed: every thread that allocates gets an arena of its own
(the agent runs over a hundred threads), and free chunks inside an arena's heap stay resident once
touched. A peak (an output's catch-up after an outage, a reload) leaves tens of MiB free but
resident that the agent may never touch again; glibc returns only the free top of each heap on its
own. `malloc_trim(0)` gives back every whole free page of every arena (madvise), in milliseconds.
Nothing else in the standard library or the dependencies does this, hence ctypes; on a C library
without it (musl) this does nothing.
"""
from __future__ import annotations

import ctypes

_trim = None
_mallopt = None
M_ARENA_MAX = -8  # glibc's malloc.h
try:
    # The symbols the interpreter is linked with, libc's among them: ctypes.util.find_library ran
    # `ldconfig -p` at every start of the agent and of the parse workers' forkserver (~1.5 ms of CPU).
    _libc = ctypes.CDLL(None)
    _trim = _libc.malloc_trim
    _trim.argtypes = [ctypes.c_size_t]
    _trim.restype = ctypes.c_int
    _mallopt = _libc.mallopt
    _mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _mallopt.restype = ctypes.c_int
except (OSError, AttributeError):
    pass


def give_back() -> bool:
    """Return the C heap's free pages to the system. True if any was returned."""
    return bool(_trim(0)) if _trim is not None else False


def one_arena() -> bool:
    """Make every thread allocate from the one main arena. For an address-space limit only (`ulimit -v`,
    systemd's LimitAS=): glibc reserves 64 MiB of address space for each further arena (PROT_NONE until
    used, but counted by the limit), and makes one whenever a thread finds the others busy, so how many
    there are depends on the threads' timing: 6 threads reading 1 MiB lines reserved ~320 MiB of a 500 MB
    limit, and the allocation that failed killed the agent (shipper.address_space). The threads allocate
    mostly under the interpreter's lock, so sharing one arena costs them little. Before any thread starts:
    arenas made already stay. True if set (glibc)."""
    return bool(_mallopt(M_ARENA_MAX, 1)) if _mallopt is not None else False
