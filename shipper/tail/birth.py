"""A file's birth time (statx's btime: ext4, xfs, btrfs, tmpfs, overlayfs), taken when a scan lists it.

Its inode number and a descriptor's generation tell a file from the one that had its inode before,
but the generation needs the file opened: a file a scan listed and that a rotation renamed or
deleted before the scan could open it (a loaded machine) has none, and ext4 gives its freed inode to
the next file at once. Its birth time, taken with the listing, still tells them apart (torture seed
1000). Python 3.11 has no os.statx: statx(2) is called through the C library; where it is missing,
or the file system keeps no birth time, there is none (None) and the scan decides as before.

It also stands in for the inode generation where the file system has none (of_fd): overlayfs (the /var/log of a
Docker or Kubernetes container) answers FS_IOC_GETVERSION with ENOTTY and gives a freed inode number to the next
file at once, as ext4 does; its birth time (the upper layer's) tells the two files apart as a generation would.
(No maintained package wraps statx: pystatx, the only one, is a 2021 0.1; a call through the C library here keeps
it to this module.)"""
from __future__ import annotations

import ctypes
import os
import sys

_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_STATX_INO = 0x100
_STATX_BTIME = 0x800
_SIZE = 256  # struct statx
# Offsets in struct statx (linux/stat.h): stx_mask u32 at 0, stx_ino u64 at 32, stx_btime at 80
# (tv_sec s64, tv_nsec u32).
_MASK, _INO, _BTIME_SEC, _BTIME_NSEC = 0, 32, 80, 88


def _load():
    try:
        fn = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


_statx = _load() if sys.platform.startswith("linux") else None


def born(path: str, ino: int) -> int | None:
    """The birth time (ns) of the file at `path`, if it is still the inode `ino`; None when it has
    none to give (no statx, a file system without one) or the name holds another file now."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_SIZE)
    if _statx(_AT_FDCWD, os.fsencode(path), 0, _STATX_INO | _STATX_BTIME, buf) != 0:
        return None
    raw = buf.raw
    if int.from_bytes(raw[_INO:_INO + 8], sys.byteorder) != ino:
        return None
    return _btime(raw)


def of_fd(fd: int) -> int | None:
    """The birth time (ns) of the file open as `fd`, None when there is none to give."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_SIZE)
    if _statx(fd, b"", _AT_EMPTY_PATH, _STATX_BTIME, buf) != 0:
        return None
    return _btime(buf.raw)


def _btime(raw: bytes) -> int | None:
    if not int.from_bytes(raw[_MASK:_MASK + 4], sys.byteorder) & _STATX_BTIME:
        return None
    sec = int.from_bytes(raw[_BTIME_SEC:_BTIME_SEC + 8], sys.byteorder, signed=True)
    return sec * 1_000_000_000 + int.from_bytes(raw[_BTIME_NSEC:_BTIME_NSEC + 4], sys.byteorder)
