"""A live file the tailer never read (or read no further than its header), made by a `create` rotation and caught by
the holder at the live name, then written, copied by copytruncate (a line written between the copy and the
truncation), truncated and written again, all before the next scan. Nothing the tailer read shows the cut: the file
it meets holds its header and new lines, the copy beside it is a file it never saw. The holder's events do: a plain
file created (not renamed in) under a rotated name while it had that file at the live name is a copy of it, and a
copy that is no prefix of the file now was made before the file was cut (torture seeds 192000, 192006 and 192110,
`--overtaken` with the holder: 1, 5 and 8 lines lost, no loss warned). Named once, naming the live file; every
other line read once. logrotate's `copy` (no truncation), and a header-only copy of a file left as the holder met
it, name nothing. The holder stepped by the test, its thread held off."""
from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import birth, scan_rules
from tests.tail.stepped_holder import stepped_holder

HEADER = b"# time level logger message (a header every file shares)\n"


def _append(path: str, *lines: str) -> None:
    with open(path, "ab") as w:
        w.write(b"".join(x.encode() + b"\n" for x in lines))


def _born(path: str) -> int | None:
    return birth.born(path, os.stat(path).st_ino)


def _new_file_born_after(path: str, older: str) -> None:
    """Create `path` empty, born after `older`: the file system's clock is coarse (a tick of a few ms), and a copy
    made in the same tick as its original would show no order. (Not timed: made again until the tick has passed.)"""
    while True:
        open(path, "wb").close()
        if _born(path) is None or _born(path) > _born(older):
            return
        os.unlink(path)


def _copy(live: str, to: str) -> None:
    """copytruncate's (or `copy`'s) copy of `live`: a new file under a rotated name."""
    _new_file_born_after(to, live)
    with open(live, "rb") as src, open(to, "r+b") as dst:
        shutil.copyfileobj(src, dst)


def _compress(path: str, live: str) -> None:
    """logrotate's `compress` right after the copy: the .gz made, the plain copy deleted."""
    _new_file_born_after(path + ".gz", live)
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


@contextlib.contextmanager
def _agent(tmp_path):
    """The tailer beside a holder whose thread is held off: (follower, a scan and read, the holder's turn, log)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    with open(log, "wb") as w:
        w.write(HEADER + b"seq 0\n")
    with stepped_holder(log, d) as h:
        h.scan_and_read()
        assert h.f.lines() == [HEADER.rstrip(b"\n"), b"seq 0"]
        yield h.f, h.scan_and_read, h.turn, log


def _rotate_create(log: str) -> None:
    """A `create` rotation: the live file renamed to .1 (the older one to .2), a new one with its header."""
    if os.path.exists(log + ".1"):
        os.rename(log + ".1", log + ".2")
    os.rename(log, log + ".1")
    with open(log, "wb") as w:
        w.write(HEADER)
    # (last written a second ago: a write since moves its mtime, whatever the clock's tick)
    st = os.stat(log)
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def _windows(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "between the copy" in r.getMessage()]


def _shipped(f) -> list[bytes]:
    return sorted(x for x in f.lines() if not x.startswith(b"#"))


@pytest.mark.parametrize("case", ["lines", "header_only", "compressed", "empty_compressed"])
def test_a_copytruncate_window_of_a_live_file_only_the_holder_met_is_named(ext4_tmp, monkeypatch, caplog, case):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    # On an ext4 of its own (tests/fs_faults): a file system that keeps birth times, whatever the machine's /tmp is
    # (without them a copy cannot be told from an older file, and the window is not named).
    with _agent(ext4_tmp) as (f, scan, holder_turn, log):
        assert _born(log) is not None, "ext4 keeps birth times (statx)"
        _rotate_create(log)
        if case == "empty_compressed":
            # A log without a header, empty when copied: the copy compressed at once is an empty .gz (complete, its
            # decompressed size 0), no less a copy (torture seed 207154: 5 lines lost, no loss warned).
            open(log, "wb").close()
        holder_turn()  # the new live file met at the live name (held)
        written = [] if case in ("header_only", "empty_compressed") else ["seq 1", "seq 2"]
        _append(log, *written)
        os.rename(log + ".1", log + ".2")  # copytruncate, `rotate 2`: the backups shift, then the copy …
        _copy(log, log + ".1")
        _append(log, "seq 3")  # … written to between the copy and the truncation: in no file
        with open(log, "r+b") as w:
            w.truncate(0)
            if case != "empty_compressed":
                w.write(HEADER)  # the writer's header again
        if case in ("compressed", "empty_compressed"):
            _compress(log + ".1", log)
        _append(log, "seq 4")
        holder_turn()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                scan()
        assert _shipped(f) == [b"seq 0", *[x.encode() for x in written], b"seq 4"]
        windows = _windows(caplog)
        assert len(windows) == 1, windows
        assert f"of {log} were written between the copy to {log}.1" in windows[0]


@pytest.mark.parametrize("case", ["copy", "header_only_untouched"])
def test_a_copy_of_a_live_file_only_the_holder_met_that_was_not_cut_names_no_window(tmp_path, monkeypatch, caplog,
                                                                                    case):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    with _agent(tmp_path) as (f, scan, holder_turn, log):
        _rotate_create(log)
        holder_turn()
        written = ["seq 1", "seq 2"] if case == "copy" else []
        _append(log, *written)
        os.rename(log + ".1", log + ".2")
        _copy(log, log + ".1")  # logrotate `copy`: the live file is left as it is
        if case == "copy":
            _append(log, "seq 3")
            written.append("seq 3")
        holder_turn()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                scan()
        assert _shipped(f) == [b"seq 0", *[x.encode() for x in written]]
        assert _windows(caplog) == []
