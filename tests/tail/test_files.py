"""Edge cases on real files: inode reuse, deletes, truncation, partial lines, long lines, logrotate."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.tail.conftest import Follower


def write(path, *lines, partial=b""):
    with open(path, "ab") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else f"{line}\n".encode())
        f.write(partial)


def test_small_file_and_partial_last_line_survive_restart(tmp_path):
    log = tmp_path / "a.log"
    write(log, "one", partial=b"tw")
    f = Follower([log], tmp_path)
    f.poll()
    assert f.lines() == [b"one"]
    f.restart()
    write(log, partial=b"o\r\nthr")
    f.poll()
    f.restart()
    f.poll()
    write(log, partial=b"ee\n")
    f.poll()
    assert f.lines() == [b"one", b"two", b"three"]


def test_several_batches_of_one_short_read_survive_restart(tmp_path):
    # batch_size 1 and short lines: each batch's checkpoint mark is taken from the bytes before its
    # end, not from the previous batch's (which made the restart take the file for another one and
    # read all of it again).
    log = tmp_path / "a.log"
    write(log, "first line of the file, long enough to be its head")
    f = Follower([log], tmp_path, batch_lines=1)
    f.poll()
    write(log, "a", "b", "c")
    f.poll()
    f.restart()
    write(log, "d")
    f.poll()
    assert f.lines() == [b"first line of the file, long enough to be its head", b"a", b"b", b"c", b"d"]


def test_inode_reuse_is_a_new_file(tmp_path):
    log = tmp_path / "a.log"
    write(log, "old 1", "old 2")
    f = Follower([log], tmp_path)
    f.poll()
    ino = os.stat(log).st_ino
    f.restart()  # stopped: the file is replaced, and the new one may get the same inode
    os.unlink(log)
    for i in range(50):
        write(tmp_path / f"new{i}", "filler")  # give the freed inode a chance to be reused
        if os.stat(tmp_path / f"new{i}").st_ino == ino:
            os.rename(tmp_path / f"new{i}", log)
            break
    else:
        write(log, "filler")
    write(log, "new 1 with a longer line", "new 2")
    f.settle()
    assert f.lines() == [b"old 1", b"old 2", b"filler", b"new 1 with a longer line", b"new 2"]


def test_delete_while_open_is_read_to_its_end(tmp_path):
    log = tmp_path / "a.log"
    write(log, "a")
    f = Follower([log], tmp_path)
    f.poll()
    w = open(log, "ab")
    w.write(b"b\n")
    w.flush()
    os.unlink(log)
    w.write(b"c\n")
    w.flush()
    f.poll()
    w.write(b"d\n")
    w.close()
    f.poll()
    assert f.lines() == [b"a", b"b", b"c", b"d"]
    assert f.lost == 0


def test_delete_and_recreate_same_content(tmp_path):
    log = tmp_path / "a.log"
    write(log, "same first line", "x")
    f = Follower([log], tmp_path)
    f.poll()
    os.unlink(log)
    f.poll()
    write(log, "same first line", "y")
    f.settle()
    assert f.lines() == [b"same first line", b"x", b"same first line", b"y"]
    assert len({k for k, _, _ in f.records}) == 4


def test_path_missing_at_start_appears_later_even_with_read_from_end(tmp_path):
    log = tmp_path / "sub" / "a.log"
    f = Follower([tmp_path / "sub" / "*.log"], tmp_path, read_from="end")
    f.poll()
    log.parent.mkdir()
    write(log, "first")
    f.poll()
    assert f.lines() == [b"first"]


def test_read_from_end_skips_history_but_not_a_partial_line(tmp_path):
    log = tmp_path / "a.log"
    write(log, "old", partial=b"half")
    write(tmp_path / "a.log.1", "older")
    f = Follower([log], tmp_path, read_from="end")
    f.poll()
    write(log, partial=b" line\n")
    write(log, "new")
    f.poll()
    assert f.lines() == [b"half line", b"new"]


def test_long_line_is_cut_and_flagged_never_dropped(tmp_path):
    log = tmp_path / "a.log"
    long = b"x" * 250
    write(log, long + b"\n", "short", partial=b"y" * 130)
    f = Follower([log], tmp_path, max_line_bytes=100)
    f.poll()
    f.restart()
    write(log, partial=b"z" * 10 + b"\n")
    f.poll()
    recs = f.records
    assert b"".join(r for _, r, _ in recs[:3]) == long
    assert all(fl == ("_line_truncated",) for _, _, fl in recs[:3])
    assert recs[3][1:] == (b"short", ())
    assert b"".join(r for _, r, _ in recs[4:]) == b"y" * 130 + b"z" * 10
    assert all(fl == ("_line_truncated",) for _, _, fl in recs[4:])


def test_copytruncate_by_hand_reads_the_copy_rest_and_not_again(tmp_path):
    log = tmp_path / "a.log"
    write(log, *[f"line {i}" for i in range(10)])
    f = Follower([log], tmp_path)
    f.poll()
    write(log, "line 10", "line 11")  # not read yet when the copy is made
    (tmp_path / "a.log.1").write_bytes(log.read_bytes())
    f.poll()  # the copy is seen before the truncation: left alone
    os.truncate(log, 0)
    write(log, "line 12")
    f.settle()
    assert f.lines() == [f"line {i}".encode() for i in range(13)]
    assert f.lost == 0


def test_truncation_without_copy_reports_unread_bytes(tmp_path):
    log = tmp_path / "a.log"
    write(log, "a" * 10)
    f = Follower([log], tmp_path)
    f.poll()
    write(log, partial=b"unfinished")  # seen, not a line yet
    f.poll()
    os.truncate(log, 0)
    write(log, "b")
    f.settle()
    assert f.lines() == [b"a" * 10, b"b"]
    assert f.lost == len(b"unfinished")


LOGROTATE = "/usr/sbin/logrotate"


def logrotate(tmp_path, log, options: str):
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{log} {{\n  rotate 5\n  missingok\n{options}\n}}\n")
    subprocess.run([LOGROTATE, "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True, timeout=60)


@pytest.mark.parametrize("options", [
    "  create",
    "  copytruncate",
    "  compress\n  delaycompress\n  create",
    "  compress\n  create",
    "  dateext\n  dateformat -%Y%m%d-%s\n  create",
])
def test_real_logrotate(tmp_path, options):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    f = Follower([log], d)
    n = 0
    for round_ in range(4):
        write(log, *[f"r{round_} line {i}" for i in range(20)])
        n += 20
        if round_ % 2 == 0:
            f.poll()  # round 1 and 3 are rotated before they were read
        if "dateext" in options and round_:
            time.sleep(1.05)  # the date name has a 1-second resolution
        logrotate(tmp_path, log, options)
        if not log.exists():
            log.touch()
    write(log, "last")
    f.settle()
    f.restart()
    f.settle()
    expected = [f"r{r} line {i}".encode() for r in range(4) for i in range(20)] + [b"last"]
    assert sorted(f.lines()) == sorted(expected), sorted(os.listdir(d))
    assert f.lost == 0
    if "compress" in options:
        assert any(p.endswith(".gz") for p in os.listdir(d))


def test_a_backlog_goes_out_in_whole_batches(tmp_path):
    """A MiB read holds no whole number of batches: its short rest is read again with the next read,
    so every batch but the last of the file is full, and no line is lost or repeated on the way."""
    log = tmp_path / "a.log"
    lines = [f"line {i:07d} ".encode() + b"x" * (i % 400) for i in range(30_000)]  # ~6.5 MiB, sizes vary
    log.write_bytes(b"\n".join(lines) + b"\n")
    sizes: list[int] = []
    f = Follower([log], tmp_path, batch_lines=1000)
    emit = f.emit
    f.emit = lambda chunk: (sizes.append(len(chunk.records)) if chunk.records else None, emit(chunk))
    f.poll()
    assert f.lines() == lines
    assert sizes == [1000] * 30
