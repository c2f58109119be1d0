"""Who a file is: (device, inode) plus a fingerprint of its first bytes.

The inode alone is not enough: ext4 hands a deleted backup's inode to the next live file within
one rotation cycle. The fingerprint covers the first line (or the first HEAD_MAX bytes if the
first line is longer): that part of an append-only file never changes once written, so the same
file gets the same fingerprint whenever and at whatever size it is looked at — which is what
keeps record keys stable across restarts. A file without one complete line and shorter than
HEAD_MAX has no identity yet; it has nothing to emit either, so it simply waits.
"""
from __future__ import annotations

import hashlib

HEAD_MAX = 1024
MARK_MAX = 256  # bytes before the read offset whose hash detects content replaced behind our back


def head_of(data: bytes) -> bytes | None:
    """The fingerprinted head of a file whose first bytes are `data` (at least HEAD_MAX of them,
    or the whole file), or None when the file has no identity yet."""
    nl = data.find(b"\n", 0, HEAD_MAX)
    if nl >= 0:
        return data[: nl + 1]
    if len(data) >= HEAD_MAX:
        return data[:HEAD_MAX]
    return None


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def file_id(dev: int, ino: int, head: bytes) -> str:
    """Stable name of one file's content: used in record keys and checkpoint keys."""
    return hashlib.blake2b(b"%d:%d:" % (dev, ino) + head, digest_size=8).hexdigest()


def mark_of(data_before_offset: bytes) -> bytes:
    """The bytes whose hash is kept with a checkpoint (the last MARK_MAX before the offset)."""
    return data_before_offset[-MARK_MAX:]
