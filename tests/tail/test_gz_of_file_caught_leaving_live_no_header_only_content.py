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

import contextlib
import gzip
import os
import shutil

from shipper.tail.holder import Holder
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_gz_of_held_file_no_header_only_content import HEADER, rotate_compressed
from tests.tail.test_held_fd_given_back_in_scan import source_pass


def test_the_gz_of_a_file_caught_leaving_the_live_name_is_not_taken_by_a_header_only_content(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, HEADER)
    holder = Holder(max_files=16)
    assert holder.start()
    off = contextlib.ExitStack()
    off.enter_context(holder.paused())

    def holder_turn() -> None:
        off.close()
        off.enter_context(holder.paused())

    f = Follower([log], d)
    f.tailer.holder = holder
    match = lambda p: p == log  # noqa: E731 (the source's globs)

    def close_followed() -> None:  # as the descriptor budget closes a file, or idleness
        for x in f.tailer.files.values():
            if x.fh is not None:
                x.fh.close()
                x.fh = None

    try:
        holder.watch_more({log}, {str(d)}, match)
        source_pass(f, holder, str(d), match)
        close_followed()
        rotate_compressed(log, new_live=False)  # its .gz holds the header only
        source_pass(f, holder, str(d), match)
        (backup,) = f.tailer.files.values()
        assert backup.gz and backup.state is not None and backup.state.offset == backup.state.head_len
        close_followed()
        write(log, HEADER, "seq 1", "seq 2", "seq 3")  # the writer's next file, never scanned
        os.unlink(f"{log}.1.gz")  # logrotate `rotate 1` `compress`: the header-only .gz deleted,
        os.rename(log, f"{log}.1")  # the live file renamed away …
        holder_turn()  # (caught under its new name)
        with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)  # … and compressed
        os.unlink(f"{log}.1")
        write(log, HEADER)
        holder_turn()
        for _ in range(3):
            source_pass(f, holder, str(d), match)
        lines = [x for x in f.lines() if x != HEADER.encode()]
        assert sorted(lines) == [b"seq 1", b"seq 2", b"seq 3"], lines
    finally:
        off.close()
        holder.stop()
        f.tailer.close()
