"""A content truncated in place (copytruncate) is found in the copy that holds the most of what was read
of it, not the first file that holds some of it: a file of no more than the shared header line is a
prefix of every content of the family."""
from __future__ import annotations

import os
import shutil

from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def records(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


def expect(n: int) -> list[bytes]:
    return [f"line {i}".encode() for i in range(n)]


def test_a_header_only_copy_does_not_take_the_content_of_the_longer_copy(tmp_path):
    """Torture seed 7359 (11 lines twice, silently): the live file, its header and lines 0-10 copied
    (copytruncate) while the reader was past the copy's end (lines 11, 12 read too), truncated and given
    its header again; unseen, copytruncate again: the header-only file copied to app.log.1, the first
    copy shifted to app.log.2, and the writer (no O_APPEND) goes on after a hole. Both copies are
    prefixes of what was read; the header-only one, met first, took the content, and the real copy,
    left as "a copy", was read from its start as a new file after a restart."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(11)])
    f = Follower([log], d)
    fd = -1
    try:
        f.poll()
        shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy …
        write(log, "line 11", "line 12")
        f.poll()  # … the reader past its end …
        os.truncate(log, 0)  # … the truncation
        write(log, HEADER)
        # copytruncate again, unseen: the first copy shifted, the header-only file copied and cut
        os.rename(d / "app.log.1", d / "app.log.2")
        shutil.copyfile(log, d / "app.log.1")
        size = log.stat().st_size
        os.truncate(log, 0)
        fd = os.open(log, os.O_WRONLY)  # the writer without O_APPEND: on at its old offset, a hole before
        os.lseek(fd, size, os.SEEK_SET)
        os.write(fd, b"".join(b"line %d\n" % i for i in range(13, 20)))
        f.poll()
        f.restart()
        f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(20)) and len(got) == 20, got
    finally:
        if fd >= 0:
            os.close(fd)
        f.tailer.close()
