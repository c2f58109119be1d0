"""A content read past its head whose inode, listed by the scan under the live name (the writer's next file was
given it: ext4 reuses a freed inode at once), holds another file by the time the scan compares it (the live file
replaced meanwhile), and whose `.gz` is under a rotated name. Nothing could be decided from its own inode, and the
content skipped the scan (it is not missing: its inode may be under another name). A content of which only the shared
header was read (a header-only `.gz`, deleted by a cleaner) then had that `.gz` as its one candidate and read it on
from after the header: every line of it shipped twice (torture seed 193254, `--overtaken`, with the holder: 23 lines
twice, warned only as a possible repeat). Read past its head, a content is looked for by its bytes all the same: the
`.gz` holds what was read of it."""
from __future__ import annotations

import gzip
import os
import shutil

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message (a header every file shares)"


def _close_followed(f: Follower) -> None:
    """As the descriptor budget closes files, or idleness."""
    for x in f.tailer.files.values():
        if x.fh is not None:
            x.fh.close()
            x.fh = None


def _compress(path: str) -> None:
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def test_a_content_whose_inode_was_replaced_during_the_scan_takes_its_gz_before_a_header_only_one(ext4_tmp,
                                                                                                   monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = ext4_tmp / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        _close_followed(f)
        os.rename(log, log + ".1")  # a rotation with `compress`: its .gz holds the header only
        _compress(log + ".1")
        f.poll()  # that .gz read to its header
        _close_followed(f)
        write(log, HEADER, "seq 1", "seq 2", "seq 3")  # the writer's next file
        f.poll()
        assert sorted(f.lines()) == sorted([HEADER.encode()] * 2 + [b"seq 1", b"seq 2", b"seq 3"])
        read_ino = os.stat(log).st_ino
        os.rename(log + ".1.gz", log + ".2.gz")  # the next rotation: the file read compressed to app.log.1.gz
        os.rename(log, log + ".1")
        _compress(log + ".1")
        f.poll()  # the file read found deleted (read to its end), its .gz a copy of it, left alone
        (read,) = [x for x in f.tailer.files.values() if x.ino == read_ino]
        assert read.deleted
        _close_followed(f)  # (the descriptor budget): its inode freed
        write(log, HEADER, "seq 4 (longer than what was read of the file before it)")  # the writer's next file,
        assert os.stat(log).st_ino == read_ino  # on the inode of the file read
        os.unlink(log + ".2.gz")  # a cleaner: the header-only .gz gone
        prospector = f.tailer.prospector
        observe = prospector.observe

        def observe_then_replace_live():
            prospector.observe = observe
            listed = observe()
            write(log + ".new", HEADER)  # the live file replaced after the listing (renamed over it)
            os.rename(log + ".new", log)
            return listed

        prospector.observe = observe_then_replace_live
        f.poll(3)
        lines = [x for x in f.lines() if x != HEADER.encode()]
        assert sorted(lines) == [b"seq 1", b"seq 2", b"seq 3"], lines  # (seq 4 was replaced unread)
    finally:
        f.tailer.close()
