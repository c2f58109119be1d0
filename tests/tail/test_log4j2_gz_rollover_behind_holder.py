"""A Log4j 2 `.gz` rollover storm while the holder is behind, stepped (session 21, gzstorm23; the find is exam23's,
tests/tail/test_attack18_log4j2_gz_storm_unnamed.py, where the agent starved of CPU lost whole files without a word
in 3 of 5 runs by hand and 4 of 4 here).

Log4j 2 (`filePattern app.log.%i.gz`, DefaultRolloverStrategy max=2) rolls over so: the oldest `.gz` deleted, the other
renamed one index down, app.log renamed to app.log.2, a new app.log, then app.log.2 compressed into app.log.2.gz and
deleted. A holder behind opens each name when it reads its event, and finds the file there by then: a newer live file,
a newer `.gz`. It counts the files created under the live name against the files it caught. A `.gz` is another inode
holding the lines of a plain file: caught as well as its plain file, it paid the creation of a file that went through
every name unopened, and that file's loss went unsaid. A `.gz` now pays only when the tailer reads it as new."""
from __future__ import annotations

import gzip
import json
import os
import shutil

from shipper.tail.holder import Holder
from tests.tail.stepped_holder import stepped_holder
from tests.tail.test_files import write

LINES = 5  # lines a file


def lines_of(n: int) -> list[str]:
    return [json.dumps({"seq": n * LINES + i}) for i in range(LINES)]


def roll_over(log: str, next_file: int) -> None:
    """Log4j 2's DefaultRolloverStrategy max=2 into `.gz`, the writer's next file (number `next_file`) made and
    written before the rolled file is compressed (Log4j 2 compresses on a thread of its own)."""
    if os.path.exists(f"{log}.1.gz"):
        os.unlink(f"{log}.1.gz")
    if os.path.exists(f"{log}.2.gz"):
        os.rename(f"{log}.2.gz", f"{log}.1.gz")
    os.rename(log, f"{log}.2")
    write(log, *lines_of(next_file))
    with open(f"{log}.2", "rb") as src, gzip.open(f"{log}.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.2")


def test_a_file_gone_unopened_plain_and_compressed_is_named_when_the_holder_is_behind(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, *lines_of(0))
    with stepped_holder(log, d) as h:
        h.holder.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
        h.scan_and_read()  # file 0 read
        roll_over(log, 1)  # file 1 live; file 0 compressed: caught plain by the tailer and as its .gz by the holder
        h.turn()
        h.scan_and_read()
        for n in range(2, 6):  # four rollovers while the holder is held off: files 2 to 5
            roll_over(log, n)
        # On disk now: app.log (file 5), app.log.2.gz (file 4), app.log.1.gz (file 3). Files 1 and 2 went through
        # every name unseen by the tailer; the holder held file 1 at its creation (the first turn); file 2, plain
        # and compressed, was deleted before the holder came to any of its names.
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        read = set(h.f.seqs())
        lost_files = {n for n in range(6) if not read & set(range(n * LINES, (n + 1) * LINES))}
        assert lost_files == {2}, sorted(read)  # (the premise: file 2 lost whole, the others read)
        assert len(read) == 5 * LINES
        assert h.f.tailer.losses == 1, "file 2 lost whole, not named"


def test_a_file_made_on_the_inode_of_a_file_the_holder_let_go_is_held(ext4_tmp):
    """ext4 gives a freed inode to the next file at once. The holder knew the inodes it held by number only until the
    tailer's next follow(): a file made on the inode of one it had just let go (the tailer done with it) passed for
    that file, known, and was not held; in the storm above its lines escaped, and what it was credited with hid the
    loss of another file."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = str(d / "app.log")
    h = Holder(max_files=16)
    assert h.start()
    try:
        h.follow({log}, set())
        with h.paused():
            write(log, *lines_of(0))
        (first,), _ = h.take()
        h.follow({log}, set())  # a scan meanwhile: the tailer has not taken it yet
        h.release((first.dev, first.ino))
        with h.paused():
            os.unlink(log)
            write(log, *lines_of(1))  # (no follow() meanwhile: the tailer has not scanned since)
        assert os.stat(log).st_ino == first.ino  # (the premise: the inode given again)
        held, _ = h.take()
        assert [(x.dev, x.ino) for x in held] == [(first.dev, first.ino)], "the new file on the freed inode not held"
    finally:
        h.stop()
