"""The copytruncate copy of a live file read to its first line only (a first line of its own, no shared header),
kept readable by the holder while rotations deleted both it and the truncated file before the next scan: the
content, cut in place under the tailer's own descriptor, is in that copy. Taken for no candidate (its own inode gone,
a plain file could hold it only if the content had been deleted rather than cut: Prospector._own_inode_left), the
copy was read from 0 as a new file and its first line shipped twice, silently (torture seed 192072, `--overtaken`,
found once the deterministic mode drove the holder). The holder stepped by the test, its thread held off."""
from __future__ import annotations

import os
import shutil

from tests.tail.stepped_holder import stepped_holder
from tests.tail.test_files import write
from tests.tail.test_hold import rotate


def test_the_held_copy_of_a_content_cut_after_its_first_line_is_read_on_from_there(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, "seq 0")
    with stepped_holder(log, d) as h:
        f = h.f
        h.scan_and_read()
        assert f.lines() == [b"seq 0"]
        write(log, "seq 1", "seq 2")
        shutil.copyfile(log, f"{log}.1")  # logrotate copytruncate (rotate 1): the copy, then the cut
        os.truncate(log, 0)
        h.turn()  # the copy held
        for _ in range(2):  # two rotations before the next scan: the copy, then the cut file, deleted
            rotate(log, 1)
            open(log, "w").close()
            h.turn()
        write(log, "seq 3")
        for _ in range(3):
            h.scan_and_read()
        assert sorted(f.lines()) == [b"seq 0", b"seq 1", b"seq 2", b"seq 3"]
