"""A file at the live name is never taken for the copy of a content truncated in place (copytruncate), however
much of what was read it starts with: a copy is made under a rotated name. The writer's next file, its header
and the start of a line the same bytes as the old content's first line (lines that start with a date), was taken
for a copy of the start of what was read and read on from its end: the rest of that line was shipped as a line
of its own, an event never written (HeaderModel's example "invented", tests/tail/test_model_header_examples.py)."""
from __future__ import annotations

import os
import shutil

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def test_the_writers_next_file_starting_as_the_cut_content_is_no_copy_of_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)  # the content with no copy is called lost at once
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, "2026-12-06 14:02 one", "2026-12-06 14:02 two")
    f = Follower([log], d)
    try:
        f.poll()
        # copytruncate, unseen: the copy made, the live file cut …
        shutil.copyfile(log, d / "app.log.1")
        os.truncate(log, 0)
        # … the copy deleted (a cleaner, a rotation past the backups), the emptied file renamed away and the
        # writer's next file begun with its header and half a line
        os.unlink(d / "app.log.1")
        os.rename(log, d / "app.log.1")
        write(log, HEADER, partial=b"2026-12-06 14:0")
        f.poll()
        write(log, b"3 three\n")
        f.poll(3)
        lines = [x for x in f.lines() if not x.startswith(b"#")]
        assert lines == [b"2026-12-06 14:02 one", b"2026-12-06 14:02 two", b"2026-12-06 14:03 three"], lines
        # The copytruncate window, its copy gone unread: the file was read to its end at every look, but written to
        # just before the cut (its mtime then within attention.BUSY_NS of its mtime at the last read): a busy writer's
        # lines after the last read went with the cut, so a loss of unknown size, counted (a quiet log emptied is only
        # a possible one: tests/tail/test_attack20_emptied_read_log_false_loss.py; a busy one under logrotate
        # `copytruncate` + `rotate 0` lost ~50 lines a cut: test_attack24_copytruncate_rotate_0_windows_uncounted.py).
        assert f.tailer.losses == 1
        assert [m for m in caplog.messages if m.startswith("data lost") and "app.log" in m], caplog.messages
    finally:
        f.tailer.close()
