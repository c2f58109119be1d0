"""Who a file is: (device, inode) plus a fingerprint of its first bytes — and what proves that
another file holds the same content (a copy, a compressed backup).

The inode alone is not enough: ext4 hands a deleted backup's inode to the next live file within
one rotation cycle. The fingerprint covers the first line (or the first HEAD_MAX bytes if the
first line is longer): that part of an append-only file never changes once written, so the same
file gets the same fingerprint whenever and at whatever size it is looked at — which is what
keeps record keys stable across restarts. A file without one complete line and shorter than
HEAD_MAX has no identity yet; it has nothing to emit either, so it simply waits.

The head names a file; it never proves that two files are one. Many files share a first line (a
Log4j layout header, a CSV header, a banner), so a copy is recognised only by the bytes it shares
with what was read (see docs/design.md, "Which file is which"):
- a file at least as long as what was read of a known content: the same head and the same
  MARK_MAX bytes just before the read offset;
- a file shorter than what was read (a copytruncate copy taken before the reader's position):
  the same head and the same bytes up to its end, compared with the WINDOW bytes kept from the
  last reads of the live file;
- a file and a followed file both open: the same bytes wherever both have data (same_bytes),
  which must reach past the head — a shared header alone proves nothing, and a file no longer
  than its head cannot be told apart yet: it waits (bounded) instead of being guessed.
"""
from __future__ import annotations

import hashlib

HEAD_MAX = 1024
MARK_MAX = 256  # bytes before the read offset whose hash detects content replaced behind our back
WINDOW = 64 * 1024  # bytes of a live file kept before the read offset: proves a copy shorter than what was read
SAMPLE = 64 * 1024  # same_bytes compares this much at each end of the range


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


def file_id(dev: int, ino: int, head: bytes, gen: int = -1, after: str = "") -> str:
    """Stable name of one file's content: used in record keys (so in the stable event ids) and
    checkpoint keys. The same bytes always get the same name; two contents never may, or a tier
    deduplicating by id drops the second one's events as repeats. So besides the inode and the head:
    - `gen`, the inode's generation (-1: the file system has none): ext4 gives a deleted file's inode
      to a new file, which has the same head when the family shares a header line;
    - `after`, the name of the content its inode held before it was truncated in place and written
      again (copytruncate, MaxBackupIndex=0, `: > app.log`): same inode, same header, other lines at
      the same offsets. Chained, each truncation's content is named after the one before it, so no
      name comes back, however long ago the earlier content was forgotten."""
    data = b"%d:%d:" % (dev, ino) + head
    if gen >= 0:
        data += b"\0gen:%d" % gen
    if after:
        data += b"\0after:" + after.encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def same_bytes(read_a, read_b, n: int) -> bool:
    """Do two files hold the same first n bytes? `read_x(offset, size)` reads one of them. The
    first and the last SAMPLE bytes of the range are compared (all of it up to 2 * SAMPLE): a
    copy is made front to back, so a copy cut short or a different file shows at one end, and
    the cost stays bounded for a file of gigabytes."""
    for off in sorted({0, max(0, n - SAMPLE)}):
        k = min(SAMPLE, n - off)
        a = read_a(off, k)
        if len(a) != k or a != read_b(off, k):
            return False
    return True
