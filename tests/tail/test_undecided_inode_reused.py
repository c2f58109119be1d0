"""A file waiting to be told apart from a copy (it holds no more than the header its family shares), deleted while it
waits, its inode given at once to the next file made (ext4) before the next scan (torture seed 180073, `--overtaken`:
23 lines of seen files lost, no loss warned). The waiting file was known by its inode alone: the next file there was
taken for it, still waiting, and its loss went unsaid. Its birth time, taken when it began to wait, tells them apart:
its loss is named, whole, and the next file is read as the new file it is."""
from __future__ import annotations

import logging

from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import reuse_inode

HEADER = "# time level logger message"


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_file_deleted_while_it_waits_is_named_though_its_inode_holds_another(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, "line 0")
    f = Follower([log], d)
    try:
        f.poll()
        backup = d / "app.log.1"
        write(backup, HEADER)  # no more than the shared header: it waits (UNDECIDED_SECONDS, 10 s)
        f.poll()
        ino = backup.stat().st_ino
        assert [k for k in f.tailer.undecided if k[1] == ino]
        backup.unlink()
        new = reuse_inode(d, ino)
        assert new is not None, "ext4 gives the freed inode to the next file"
        write(new, HEADER, "line 1")
        new.rename(d / "app.log.2")
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        named = [m for m in warnings(caplog) if "deleted while it could not yet be told apart" in m]
        assert len(named) == 1 and str(backup) in named[0], warnings(caplog)
        assert sorted(r for r in f.lines() if not r.startswith(b"#")) == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()
