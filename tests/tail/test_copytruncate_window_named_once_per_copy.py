"""One copytruncate makes one copy, and shows one window. A live file read no further than its header, written,
copied (the copy compressed at once), cut and given its header again, then written, all between two scans, with the
holder watching: its note of the copy (copies.copy_of_unread_live) named the window, and then, at the same scan, the
copy starting with the file's head and holding more (copies.copied_before_invisible_truncation) named it again: two
windows for one copytruncate (torture seed 198159; 198076 the same with the content found in that copy at a later cut,
gone.copytruncate_loss). Named once now (copies.window_named_by), every line still read."""
from __future__ import annotations

import logging
import os

from shipper.tail import scan_rules
from tests.tail.test_copytruncate_window_only_the_holder_saw import (
    HEADER,
    _agent,
    _append,
    _born,
    _compress,
    _copy,
    _rotate_create,
    _shipped,
    _windows,
)


def test_a_copytruncate_window_found_by_two_proofs_is_named_once(ext4_tmp, monkeypatch, caplog):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    with _agent(ext4_tmp) as (f, scan, holder_turn, log):
        assert _born(log) is not None, "ext4 keeps birth times (statx)"
        _rotate_create(log)
        holder_turn()  # the new live file met at the live name
        scan()  # ... and its header read: all it holds
        _append(log, "seq 1", "seq 2")
        os.rename(log + ".1", log + ".2")  # copytruncate with `compress`: the backups shift, then the copy …
        _copy(log, log + ".1")
        _append(log, "seq 3")  # … written to between the copy and the truncation: in no file
        with open(log, "r+b") as w:
            w.truncate(0)
            w.write(HEADER)  # the writer's header again
        _compress(log + ".1", log)
        _append(log, "seq 4")
        holder_turn()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                scan()
        assert _shipped(f) == [b"seq 0", b"seq 1", b"seq 2", b"seq 4"]
        windows = _windows(caplog)
        assert len(windows) == 1, windows
        assert f"of {log} were written between the copy to {log}.1.gz" in windows[0]
