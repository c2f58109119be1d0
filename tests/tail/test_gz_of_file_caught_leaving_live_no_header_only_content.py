"""The compressed copy of a file the holder caught as it was renamed away from the live name is not the content of
which only a shared header was read (torture seed 192031, `--overtaken`, with the holder: 16 lines twice, warned only
as a possible repeat). As for one caught at the live name (test_gz_of_held_file_no_header_only_content.py, 192068):
a header-only backup, read to its end and closed, deleted by the next rotation; the writer's next file, never
scanned, renamed away by a rotation (the holder caught it under its new name) and compressed. At the next scan it
was found twice: held, read from 0 as a new file, and as its `.gz`, the one candidate for the header-only content,
read on from after the header: every line twice. A file the holder caught leaving the live name was the live file:
a file holding its bytes is its copy (Matcher.head_only_candidate). The holder stepped by the test, its thread held
off."""
from __future__ import annotations

import gzip
import os
import shutil

from tests.tail.test_files import write
from tests.tail.test_gz_of_held_file_no_header_only_content import HEADER, header_only_backup


def test_the_gz_of_a_file_caught_leaving_the_live_name_is_not_taken_by_a_header_only_content(tmp_path):
    with header_only_backup(tmp_path / "logs") as h:
        f, log = h.f, h.log
        (backup,) = f.tailer.files.values()
        assert backup.gz and backup.state is not None and backup.state.offset == backup.state.head_len
        h.close_followed()
        write(log, HEADER, "seq 1", "seq 2", "seq 3")  # the writer's next file, never scanned
        os.unlink(f"{log}.1.gz")  # logrotate `rotate 1` `compress`: the header-only .gz deleted,
        os.rename(log, f"{log}.1")  # the live file renamed away …
        h.turn()  # (caught under its new name)
        with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)  # … and compressed
        os.unlink(f"{log}.1")
        write(log, HEADER)
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        lines = [x for x in f.lines() if x != HEADER.encode()]
        assert sorted(lines) == [b"seq 1", b"seq 2", b"seq 3"], lines
