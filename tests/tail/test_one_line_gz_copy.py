"""The `.gz` of a one-line file the tailer read through its descriptor after the file was rotated away is that file's
copy, not a new file: its line is all of the file, and a first line no other content of the family has proves it
(Matcher.head_unique). The deleted file closed over the descriptor budget, what was read of it proved a copy only when
it was more than its first line: the `.gz` was read again from 0 as a new file, its line twice, silently (torture
seeds 186049 and 182061, `--overtaken`).
"""
from __future__ import annotations

import gzip
import os
import shutil

from tests.tail.conftest import Follower
from tests.tail.test_files import write


def _one_line_rotated_away_unseen(log, f: Follower) -> None:
    """The live file, followed empty and open, is listed by a scan; then its one line is written and it rotates away
    (logrotate `create` + `compress`: renamed, the writer's next file made, the .gz made, the plain file deleted)
    before the read, which reads the line through the descriptor."""
    f.tailer.scan()
    write(log, "seq 0")
    os.rename(log, f"{log}.1")
    open(log, "wb").close()
    with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.1")
    f.tailer.read_all(f.emit, f.stop)
    assert f.lines() == [b"seq 0"]


def test_the_gz_of_a_one_line_file_closed_over_the_budget_is_not_read_again(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        _one_line_rotated_away_unseen(log, f)
        write(log, "seq 1", "seq 2")  # the writer's next file, opened by the next scan: the deleted one is closed
        f.poll(3)
        assert not any(x.fh is not None and x.deleted for x in f.tailer.files.values())  # (the case: closed)
        assert f.lines() == [b"seq 0", b"seq 1", b"seq 2"]
    finally:
        f.tailer.close()
