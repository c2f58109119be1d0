"""Which file is which (issue 21): a shared first line proves nothing; a copy is recognised by the
bytes it shares with what was read; holes are skipped and counted; every loss names its cause."""
from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import threading
import time

import pytest

from shipper.tail import harvester as harvester_mod, scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import LOGROTATE, write

HEADER = "# layout header: time level logger message"


def logrotate(tmp_path, log, options: str, rotate: int = 5):
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{log} {{\n  rotate {rotate}\n  missingok\n{options}\n}}\n")
    subprocess.run([LOGROTATE, "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True, timeout=60)


def records(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


def expect(n: int) -> list[bytes]:
    return [f"line {i}".encode() for i in range(n)]


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


@pytest.mark.parametrize("options", ["  compress\n  create", "  compress\n  delaycompress\n  create", "  create"])
def test_shared_header_compressed_backups_rotated_while_stopped(tmp_path, options, fast_missing):
    """Issue 21 case 1: every file starts with the same header; the agent is stopped while the log
    rotates twice. Each backup holds different lines, so none is taken for another's copy."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(0, 100)])
    f = Follower([log], d)
    f.poll()
    write(log, *[f"line {i}" for i in range(100, 150)])  # not read before the stop
    f.tailer.close()
    n = 150
    for _ in range(2):
        logrotate(tmp_path, log, options)
        write(log, HEADER, *[f"line {i}" for i in range(n, n + 100)])
        n += 100
    f.restart()
    f.settle()
    assert sorted(records(f)) == sorted(expect(n)), sorted(os.listdir(d))
    assert len(records(f)) == n
    assert f.tailer.losses == 0


def test_thirty_same_headed_files_at_once_are_all_read_before_a_cleaner(tmp_path, fast_missing):
    """Issue 21 case 1b: files with one first line appearing together are all different files."""
    d = tmp_path / "logs"
    d.mkdir()
    f = Follower([d / "*.log"], d)
    f.poll()
    for k in range(30):
        write(d / f"job{k:02d}.log", HEADER, *[f"line {k * 100 + i}" for i in range(100)])
    f.poll()
    for k in range(30):
        os.unlink(d / f"job{k:02d}.log")  # the cleaner
    f.settle()
    assert sorted(records(f)) == sorted(expect(3000))
    assert f.tailer.losses == 0


def test_copytruncate_with_the_reader_ahead_of_the_copy_repeats_nothing(tmp_path, fast_missing, caplog):
    """Issue 21 case 2 and 3: the writer goes on between copy and truncate and the reader reads
    past the copy's end. The copy is the prefix of what was read: nothing read again; the window
    between copy and truncate is a warned loss naming the file."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(100)])
    f = Follower([log], d)
    f.poll()
    shutil.copyfile(log, d / "app.log.1")  # the copy: lines 0-99
    write(log, *[f"line {i}" for i in range(100, 120)])
    f.tailer.scan()
    f.tailer.read_all(f.emit, f.stop)  # reads 100-119: past the end of the copy
    write(log, *[f"line {i}" for i in range(120, 130)])  # in the window: never read
    os.truncate(log, 0)
    write(log, HEADER, *[f"line {i}" for i in range(130, 140)])
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    got = records(f)
    assert len(got) == len(set(got)), "a line was read twice"
    assert sorted(got) == sorted(set(expect(140)) - set(expect(130)[120:]))
    losses = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(losses) == 1 and "copytruncate" in losses[0] and str(log) in losses[0], losses
    assert "no copy" not in losses[0]
    assert f.tailer.losses == 1


def test_copytruncate_copy_longer_than_what_was_read_gives_the_rest_once(tmp_path, fast_missing):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(50)])
    f = Follower([log], d)
    f.poll()
    write(log, *[f"line {i}" for i in range(50, 80)])
    shutil.copyfile(log, d / "app.log.1")
    os.truncate(log, 0)  # before the reader saw the copy
    write(log, HEADER, *[f"line {i}" for i in range(80, 90)])
    f.settle()
    assert sorted(records(f)) == sorted(expect(90))
    assert len(records(f)) == 90


def test_real_logrotate_copytruncate_with_a_header_repeats_nothing(tmp_path, fast_missing):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    f = Follower([log], d)
    n = 0
    write(log, HEADER)
    for round_ in range(5):
        write(log, *[f"line {i}" for i in range(n, n + 40)])
        n += 40
        f.poll()
        write(log, *[f"line {i}" for i in range(n, n + 5)])  # read or not: the copy holds them
        n += 5
        logrotate(tmp_path, log, "  copytruncate\n  compress\n  delaycompress" if round_ % 2 else "  copytruncate")
        write(log, HEADER)
    f.settle()
    f.restart()
    f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(n)), sorted(os.listdir(d))
    assert len(got) == n


def test_a_copy_too_short_to_tell_waits_then_is_read_with_a_warning(tmp_path, monkeypatch, fast_missing, caplog):
    """A rotated file holding only the header a followed file starts with cannot be told apart:
    it is not guessed a copy for ever, nor read at once; after the bounded wait it is read, warned."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.6)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, "line 0")
    f = Follower([log], d)
    f.poll()
    write(d / "app.log.1", HEADER)
    f.poll()
    assert f.tailer.undecided, "the header-only file should wait"
    assert f.lines().count(HEADER.encode()) == 1
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert f.lines().count(HEADER.encode()) == 2
    assert f.tailer.undecided_read == 1
    assert any("could not tell whether" in r.getMessage() and "app.log.1" in r.getMessage() for r in caplog.records)


def test_a_same_headed_file_that_grows_while_waiting_is_read_whole(tmp_path, fast_missing):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, "line 0")
    f = Follower([log], d)
    f.poll()
    write(d / "app.log.1", HEADER)
    f.poll()
    write(d / "app.log.1", "line 1")
    f.settle()
    assert sorted(records(f)) == expect(2)
    assert f.tailer.undecided_read == 0


def test_hole_after_copytruncate_under_a_non_appending_writer(tmp_path, fast_missing, caplog):
    """Issue 21 case 5: `prog > app.log` with copytruncate: after the truncate the writer goes on
    at its old offset, the file starts with a hole. The zero bytes are skipped, counted, warned;
    the first real line after them arrives intact."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)  # no O_APPEND, like a shell redirection
    os.write(fd, "".join(f"line {i}\n" for i in range(1000)).encode())
    f = Follower([log], d)
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    os.truncate(log, 0)
    os.write(fd, b"line 1000\nline 1001\n")  # at the old offset: a hole before it
    hole = os.path.getsize(log) - len(b"line 1000\nline 1001\n")
    os.close(fd)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(f.lines()) == sorted(expect(1002))
    assert not any(b"\0" in r for r in f.lines())
    assert f.tailer.hole_bytes == hole
    assert any(f"skipped {hole} zero bytes" in r.getMessage() and str(log) in r.getMessage() for r in caplog.records)


def test_zero_runs_between_lines_are_skipped_and_counted(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\n" + b"\0" * 5000 + b"two\n\0\0\0\nthree\n")
    f = Follower([log], tmp_path)
    f.poll()
    assert f.lines() == [b"one", b"two", b"three"]
    assert f.tailer.hole_bytes == 5000 + 4
    keys = [k for k, _, _ in f.records]
    assert keys[1].endswith(":5004") and keys[2].endswith(f":{5004 + 4 + 4}")
    # the position is past the zeros: a restart reads nothing again
    f.restart()
    f.poll()
    assert f.lines() == [b"one", b"two", b"three"]


def test_a_zero_run_inside_a_line_ends_it_and_the_next_line_starts_clean(tmp_path):
    """A writer cut mid-line (a crash leaves its unwritten blocks as zeros) and started again after them: the bytes
    before the run go as a line of their own, tagged unfinished, the zeros are a hole (skipped, counted), the next
    line is itself (it went glued to them, zeros and all, as one record: exam21, session 20). Fewer zero bytes in a
    row than a hole's (a stray NUL, UTF-32 text) are data, as before."""
    from shipper.tail.harvester import MID_LINE_HOLE
    from shipper.tail.lines import UNFINISHED

    short = b"a" + b"\0" * (MID_LINE_HOLE - 1) + b"b"
    log = tmp_path / "a.log"
    log.write_bytes(b"one\n" + b'{"seq": 2, "pad": "cut by the cra' + b"\0" * 10000 + b'{"seq": 3}\n' + short + b"\n"
                    + b"tail" + b"\0" * 300 + b"\n" + b"last\n")
    f = Follower([log], tmp_path)
    f.poll()
    assert f.lines() == [b"one", b'{"seq": 2, "pad": "cut by the cra', b'{"seq": 3}', short, b"tail", b"last"]
    assert [fl for _, _, fl in f.records] == [(), (UNFINISHED,), (), (), (UNFINISHED,), ()]
    assert f.tailer.hole_bytes == 10000 + 301  # (the run that ends a line takes its newline)
    f.restart()  # the positions are past the zeros: nothing read again
    f.poll()
    assert len(f.records) == 6


def test_run_once_reads_each_file_up_to_its_size_when_first_met(tmp_path):
    """`run --once` reads what is there now: each file up to the size it had when the run first met it, not what a
    writer appends meanwhile (a writer faster than the agent was chased until --timeout: exam13, session 20). What it
    leaves is read by the next run, from the checkpoint: nothing lost, nothing twice."""
    log = tmp_path / "a.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(100)))
    f = Follower([tmp_path / "*.log"], tmp_path)
    f.tailer.read_bounds = {}
    f.poll()
    assert len(f.records) == 100
    with open(log, "ab") as fh:
        fh.write(b"".join(b"line %d\n" % i for i in range(100, 150)))
    (tmp_path / "b.log").write_bytes(b"b one\nb two\n")  # met first now: read up to its size now
    f.poll()
    assert f.lines()[100:] == [b"b one", b"b two"]
    f.restart()  # the next run (a daemon here: no bounds) reads on from the checkpoint
    f.poll()
    assert f.lines()[102:] == [b"line %d" % i for i in range(100, 150)]


def test_an_unfinished_last_line_holding_a_zero_byte_waits(tmp_path):
    """Found by the torture harness (`--overtaken`, seeds 4 and 35 hung): a last line not ended yet
    holding a zero byte past its start (a writer without O_APPEND over a hole, a torn write) gave
    no record and consumed nothing, and the read loop went on from the same offset forever: the
    source hung. It waits for its newline as any unfinished line does."""
    log = tmp_path / "a.log"
    log.write_bytes(b"one\nt\0wo")
    f = Follower([log], tmp_path)
    f.poll()
    assert f.lines() == [b"one"]
    again = threading.Thread(target=f.poll, daemon=True)  # the read that went on forever
    again.start()
    again.join(30)
    hung = again.is_alive()
    f.stop.set()  # (ends such a loop, so that the test fails instead of hanging)
    again.join(5)
    assert not hung, "the read of an unfinished line holding a zero byte did not return"
    assert f.lines() == [b"one"]
    f.stop.clear()
    with open(log, "ab") as fh:
        fh.write(b" ends\n")
    f.poll()
    assert f.lines() == [b"one", b"t\0wo ends"]


def test_a_hole_split_across_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(harvester_mod, "READ_SIZE", 4096)
    log = tmp_path / "a.log"
    log.write_bytes(b"\0" * 3 * 1024 * 1024 + b"first real line\n")
    f = Follower([log], tmp_path, max_line_bytes=1000)
    f.poll()
    assert f.lines() == [b"first real line"]
    assert f.tailer.hole_bytes == 3 * 1024 * 1024


def test_shrunk_and_regrown_while_stopped_is_called_a_truncation(tmp_path, fast_missing, caplog):
    """Issue 21 case 6: not "0 bytes … more rotations than backups"."""
    log = tmp_path / "a.log"
    write(log, *[f"line {i}" for i in range(10)])
    f = Follower([log], tmp_path)
    f.poll()
    f.tailer.close()
    os.truncate(log, 0)
    write(log, *[f"other {i} " + "x" * 20 for i in range(10)])
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    msgs = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(msgs) == 1 and "truncated in place" in msgs[0] and "unknown number" in msgs[0], msgs
    assert "0 bytes" not in msgs[0]
    assert f.lines()[10:] == [f"other {i} ".encode() + b"x" * 20 for i in range(10)]


# Found by the torture harness (tests/torture): each test is the cause of one failing seed.

def test_reused_inode_of_a_head_only_state_holding_a_copy_is_not_taken_for_it(tmp_path, fast_missing):
    """Seed 15: a checkpoint of which only the header was read, its file gone; ext4 gives its
    inode to a copy of the new live file (same header). Inode and head prove nothing here: the
    copy is left alone, not read as the old content's continuation (which repeated every line)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    f.poll()
    f.tailer.close()
    os.unlink(log)  # while stopped: the header-only file goes, a new one is written and copied
    write(log, HEADER, *[f"line {i}" for i in range(20)])
    shutil.copyfile(log, d / "app.log.1")
    old = next(v for k, v in f.state.items() if k.startswith("f:"))
    old["ino"] = os.stat(d / "app.log.1").st_ino  # the inode reuse ext4 does (not forced here)
    f.restart()
    f.settle()
    assert sorted(records(f)) == sorted(expect(20))


def test_copytruncate_of_a_header_only_live_file_given_its_header_again(tmp_path, fast_missing, caplog):
    """Seed 45: only the header of the live file was read; it is copied (and compressed) and
    truncated, and gets its header again, so its own bytes do not show the truncation. The copy
    holds lines never read: they are read at once (not held as "too short to tell" until a
    cleaner deletes them), once, and the copy-to-truncate window is warned."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    f.poll()
    write(log, *[f"line {i}" for i in range(30)])
    with open(log, "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.truncate(log, 0)
    write(log, HEADER)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.poll()
        assert sorted(records(f)) == sorted(expect(30))
        write(log, *[f"line {i}" for i in range(30, 40)])
        f.settle()
    assert sorted(records(f)) == sorted(expect(40))
    assert len(records(f)) == 40
    losses = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(losses) == 1 and "copytruncate" in losses[0] and "app.log.1.gz" in losses[0], losses
    assert f.tailer.undecided_read == 0


def test_a_rotated_file_shorter_than_a_gone_rotated_one_is_not_held_as_its_copy(tmp_path, fast_missing):
    """Seed 45 (second cause): a rotated file read to its end is gone; a new, shorter rotated file
    with the same header appears. Only a live file is copied and then truncated, so it cannot be
    a copy of the gone one: it is read at once, not kept waiting (a cleaner would delete it)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(50)])
    f = Follower([log], d)
    f.poll()
    os.rename(log, d / "app.log.1")
    write(log, HEADER, *[f"line {i}" for i in range(50, 60)])
    f.poll()
    f.tailer.close()
    os.unlink(d / "app.log.1")  # while stopped: the cleaner, then a compressed rotation
    write(log, *[f"line {i}" for i in range(60, 65)])
    os.rename(log, d / "app.log.1")
    with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / "app.log.1")
    write(log, HEADER, *[f"line {i}" for i in range(65, 70)])
    write(d / "app.log.2", HEADER, *[f"line {i}" for i in range(70, 75)])  # shorter than app.log.1 was
    f.restart()
    f.poll(2)
    assert sorted(records(f)) == sorted(expect(75))
    assert not f.tailer.undecided


def test_copytruncate_copy_shorter_than_what_was_read_is_proven_after_a_restart(tmp_path, monkeypatch, fast_missing,
                                                                               caplog):
    """Seed 215: the reader read past the end of a copytruncate copy, which is then compressed;
    the agent restarts before it saw the truncation, so the bytes kept in memory to prove the copy
    are gone. The checkpoint's earlier read positions prove it: nothing is read twice."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(20)])
    f = Follower([log], d)
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    write(log, *[f"line {i}" for i in range(20, 25)])
    f.poll()  # past the end of the copy
    os.truncate(log, 0)
    with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / "app.log.1")
    write(log, *[f"line {i}" for i in range(25, 35)])
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.restart()
        f.settle()
        f.restart()
        f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(35))
    assert len(got) == 35, "a line was read twice"
    assert not any("could not tell" in r.getMessage() for r in caplog.records)


def test_a_restart_before_a_truncated_content_is_called_gone_does_not_reread_the_new_content(tmp_path):
    """Seed 1181: the live file is truncated in place and written again (shorter, same header); the
    agent reads the new content and restarts before the old content is declared gone. Both
    contents were read from the same inode: the one whose bytes the file still holds takes it,
    not the old one (read further, so tried first), which took it as 'truncated' and read the
    new content again from 0."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(10)])
    f = Follower([log], d)
    f.poll()
    os.truncate(log, 0)
    write(log, HEADER, *[f"line {i}" for i in range(10, 12)])
    f.poll()
    assert sorted(records(f)) == sorted(expect(12))
    f.restart()
    f.poll(3)
    write(log, *[f"line {i}" for i in range(12, 14)])
    f.poll(2)
    got = records(f)
    assert sorted(got) == sorted(expect(14)) and len(got) == 14, got


@pytest.mark.parametrize("header,copied", [(False, 10), (True, 0), (True, 10)])
def test_copytruncate_of_a_live_file_read_no_further_than_its_head_warns_the_window(tmp_path, header, copied, caplog):
    """Seeds 1276 (no header: the file was empty at the last look) and 1040 (only its header was
    read; the copy holds nothing more): lines are written, copied, more written, and the file
    truncated (and given its header again) before the agent looks. Its size is what it was, but its mtime moved: it was written
    and cut, not appended to. The copy is read; the lines written after the copy are in no file:
    that loss is warned and counted, naming the file, not silent."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(f"{HEADER}\n".encode() if header else b"")
    f = Follower([log], d)
    f.poll()
    time.sleep(0.02)  # (the mtime clock ticks)
    write(log, *[f"line {i}" for i in range(copied)])
    shutil.copyfile(log, d / "app.log.1")
    write(log, *[f"window {i}" for i in range(3)])  # written between the copy and the truncation
    os.truncate(log, 0)
    if header:
        write(log, HEADER)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.poll(2)
        write(log, *[f"line {i}" for i in range(copied, copied + 2)])
        f.poll(2)
    got = records(f)
    assert sorted(got) == sorted(expect(copied + 2)) and len(got) == copied + 2, got
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
    assert len(lost) == 1 and str(log) in lost[0], lost
    assert f.tailer.losses == 1


def test_a_hole_at_the_start_of_a_file_never_read_is_warned_as_a_possible_loss(tmp_path, caplog):
    """Seed 32: the live file, empty at the last look, is written, copied and truncated under a
    writer without O_APPEND, which goes on at its old offset; the copy is deleted (rotated out)
    before the agent looks. What the agent finds starts with a hole where the copied bytes and
    those written after the copy were: the hole is skipped and counted, and the loss warned."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    f.poll()
    write(log, *[f"copied {i}" for i in range(5)])
    shutil.copyfile(log, d / "app.log.1")
    write(log, "window 0")
    fd = os.open(log, os.O_WRONLY)  # `prog > app.log`: no O_APPEND
    try:
        os.lseek(fd, os.path.getsize(log), os.SEEK_SET)
        os.truncate(log, 0)
        os.unlink(d / "app.log.1")
        os.write(fd, b"".join(f"line {i}\n".encode() for i in range(3)))
    finally:
        os.close(fd)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.poll(2)
    assert records(f) == expect(3)
    assert f.tailer.hole_bytes > 0
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
    assert len(lost) == 1 and str(log) in lost[0], lost


def possible_repeats_warned(f: Follower, caplog, path) -> None:
    """Every line delivered; a line delivered twice only with a warning naming the file read."""
    got = records(f)
    if len(got) != len(set(got)):
        assert any(r.getMessage().startswith(f"could not tell whether {path} is a copy") for r in caplog.records), (
            f"lines repeated silently: {got}")


@pytest.mark.parametrize("first", ["line 0", HEADER])
def test_a_compressed_copy_of_a_one_line_file_is_not_read_again_silently_after_a_restart(tmp_path, monkeypatch,
                                                                                        caplog, first):
    """Seeds 1138, 1253, 1241: a one-line file, read, is rotated and compressed; the agent restarts
    while the .gz waits (its bytes are no more than the first line). The restarted agent knows the
    content only as read to its head. A first line no other file of the family has (an event)
    proves the .gz a copy: nothing read twice, no warning. A first line the files share (a
    header) proves nothing: the .gz waits and, read, is warned as a possible repeat."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, first)
    f = Follower([log], d)
    f.poll()
    os.rename(log, d / "app.log.1")
    with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / "app.log.1")
    write(log, *([HEADER] if first == HEADER else []), "line 1")
    f.poll(2)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.restart()
        f.settle()
    if first == HEADER:
        assert records(f) == [b"line 1"]
        headers = f.lines().count(HEADER.encode())
        assert headers in (2, 3)
        if headers == 3:
            assert any(r.getMessage().startswith(f"could not tell whether {d / 'app.log.1.gz'} is a copy")
                       for r in caplog.records)
    else:
        assert sorted(records(f)) == expect(2)
        assert not any("could not tell" in r.getMessage() for r in caplog.records)


def test_a_copy_holding_only_the_head_is_not_read_again_silently_when_the_truncated_content_goes(
        tmp_path, monkeypatch, caplog):
    """Seed 1151: copytruncate copied the live file when it held one line; the agent read on past
    it before the truncation. The copy holds no more than the first line (which a shared header
    could be): it waits. The truncated content is then called gone; the copy, read after that,
    is warned as a possible repeat, not read silently."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    write(log, *[f"line {i}" for i in range(1, 4)])
    f.poll()
    os.truncate(log, 0)
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(set(records(f))) == expect(4)
    possible_repeats_warned(f, caplog, d / "app.log.1")


def test_a_gone_file_that_never_held_a_line_does_not_claim_its_inode_given_to_a_copy(tmp_path, fast_missing):
    """Seed 1292: an empty rotated file (no line, so known only by its inode: a placeholder) is
    deleted while the agent is stopped and remembered as gone. ext4 gives its inode to the next
    file made: here a copytruncate copy of the live file, which the agent is reading. Matched by
    inode alone, the placeholder took the copy and read it again from 0. (The kernel's reuse is
    played by giving the remembered placeholder the copy's inode.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    f.poll()
    (d / "app.log.1").write_bytes(b"")
    f.poll()  # app.log.1 followed from 0: no line, a placeholder
    f.tailer.close()
    os.unlink(d / "app.log.1")
    f.restart()
    f.poll(3)
    gone = [k for k, v in f.state.items() if k.startswith("f:i") and v.get("gone") and v["path"].endswith(".1")]
    assert gone, f.state
    write(log, *[f"line {i}" for i in range(5)])
    shutil.copyfile(log, d / "app.log.1")
    ino = os.stat(d / "app.log.1").st_ino
    for k in gone:
        f.state[k]["ino"] = ino
    f.restart()
    f.poll()
    os.truncate(log, 0)
    f.poll(2)
    write(log, *[f"line {i}" for i in range(5, 7)])
    f.poll(2)
    got = records(f)
    assert sorted(got) == sorted(expect(7)) and len(got) == 7, got


def test_an_empty_log_rotated_and_compressed_is_no_undecided_copy_nor_a_loss(tmp_path, monkeypatch, fast_missing,
                                                                            caplog):
    """logrotate rotates empty logs by default (`ifempty`): with `compress`, an empty .gz appears
    at each rotation. A complete gzip stream with no line is no copy to wait for (it was warned
    "could not tell whether … is a copy of its own complete data" after the wait), and deleting
    it loses nothing (its compressed size was counted as bytes lost)."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    f.poll()
    os.rename(log, d / "app.log.1")
    log.write_bytes(b"")
    f.poll()
    os.rename(log, d / "app.log.2")  # an empty day, rotated and compressed
    log.write_bytes(b"")
    f.poll()
    with open(d / "app.log.2", "rb") as src, gzip.open(d / "app.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / "app.log.2")
    write(log, "line 1")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
        os.unlink(d / "app.log.2.gz")
        f.settle()
    assert sorted(records(f)) == expect(2)
    assert not [r.getMessage() for r in caplog.records], "\n".join(r.getMessage() for r in caplog.records)
    assert f.tailer.losses == 0


def test_a_file_that_never_held_a_line_does_not_claim_its_inode_given_to_a_copy_before_it_is_gone(tmp_path):
    """Seeds 2185, 2211, 2286: the live file, empty when last seen (a placeholder: known by inode
    only), is replaced while the agent is stopped; the new live file is read after the restart and
    then copied (copytruncate) onto the old file's inode, which ext4 has freed, before the
    placeholder is called gone. Matched by inode alone, the placeholder took the copy and read it
    from 0: every line twice. (The kernel's reuse is played by giving the checkpointed
    placeholder the copy's inode.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    f.poll()
    placeholders = [k for k in f.state if k.startswith("f:i")]
    assert placeholders, f.state
    f.tailer.close()
    os.rename(log, tmp_path / "elsewhere")  # (kept: the new live file gets another inode)
    write(log, *[f"line {i}" for i in range(5)])
    f.restart()
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    ino = os.stat(d / "app.log.1").st_ino
    for k in placeholders:
        f.state[k]["ino"] = ino
    f.restart()
    f.poll()
    os.truncate(log, 0)
    write(log, *[f"line {i}" for i in range(5, 7)])
    f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(7)) and len(got) == 7, got


def test_a_truncated_content_does_not_claim_its_inode_given_to_a_copy_of_the_content_after_it(tmp_path):
    """Seed 2149: the live file (with a header) is truncated in place and written again; the agent
    reads the new content. Then copytruncate copies it onto the old content's inode, freed and
    reused, and the agent restarts. The old content (read further than the copy is long) matched
    the copy by inode and its shared header, was taken as truncated, and the copy read again from
    0. It holds the bytes of the content read after it: a copy, left alone. (The kernel's reuse is
    played by giving the checkpointed old content the copy's inode.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    f.poll()
    old = [k for k in f.state if k.startswith("f:")]
    os.truncate(log, 0)
    write(log, HEADER, "line 5")
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    ino = os.stat(d / "app.log.1").st_ino
    for k in old:
        f.state[k]["ino"] = ino
    f.restart()
    f.poll()
    os.truncate(log, 0)
    write(log, "line 6")
    f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(7)) and len(got) == 7, got


def test_a_live_file_and_its_copytruncate_copy_both_new_at_one_scan_are_read_once(tmp_path, fast_missing):
    """Seed 2045: between two scans the log rotates (create) and the new live file, never seen,
    is copied by copytruncate. Both are new at the next scan: the copy, older, was taken first,
    was no copy of anything followed yet, and was read; then the live file too. The live file is
    followed first now, and the copy proven by its bytes."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    f.poll()
    os.rename(log, d / "app.log.1")
    write(log, *[f"line {i}" for i in range(1, 6)])
    os.rename(d / "app.log.1", d / "app.log.2")
    shutil.copyfile(log, d / "app.log.1")
    time.sleep(0.02)  # (the mtime clock ticks)
    write(log, "line 6")  # written after the copy, read before the truncation
    f.poll()
    os.truncate(log, 0)
    write(log, "line 7")
    f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(8)) and len(got) == 8, got


def test_a_copy_holding_only_a_first_line_of_its_own_is_the_content_it_starts_across_restarts(tmp_path, monkeypatch,
                                                                                             caplog):
    """Seed 3030: copytruncate copied the live file when it held its first line only; the reader
    read on past it, then the file was truncated and written again. The copy holds no more than a
    first line no other file of the family has: the truncated content goes on in it (all read),
    so after the content is gone and the agent restarts the copy is still known, not read again."""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    f.poll()
    shutil.copyfile(log, d / "app.log.1")
    write(log, "line 1")
    f.poll()
    os.truncate(log, 0)
    write(log, "line 2")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
        f.restart()
        f.settle()
    got = records(f)
    assert sorted(got) == expect(3) and len(got) == 3, got
    assert not any("could not tell" in r.getMessage() for r in caplog.records)


def test_a_file_identified_but_not_yet_read_and_cut_under_a_non_appending_writer_is_read_once(tmp_path, monkeypatch):
    """Seed 3218: a scan identifies the live file's new content (truncated and given its header
    again) at offset 0; before it is read, copytruncate copies it and truncates it under a writer
    without O_APPEND, which goes on at its old offset. At offset 0 no bytes before the offset can
    show that: the head it was identified by does. (It was read from 0 under the old state, the
    hole skipped; after a restart the state's head matched nothing and the file was read again.)"""
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.3)  # (the copy, shorter than the old content, waits)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    f.poll()
    os.truncate(log, 0)
    write(log, HEADER, "line 5")
    f.tailer.scan()  # the new content identified, not read
    shutil.copyfile(log, d / "app.log.1")
    fd = os.open(log, os.O_WRONLY)  # `prog > app.log`: no O_APPEND
    try:
        os.lseek(fd, os.path.getsize(log), os.SEEK_SET)
        os.truncate(log, 0)
        os.write(fd, b"".join(f"line {i}\n".encode() for i in range(6, 9)))
    finally:
        os.close(fd)
    f.settle()
    f.restart()
    f.settle()
    got = records(f)
    assert sorted(got) == sorted(expect(9)) and len(got) == 9, got


def test_a_loss_whose_content_is_under_an_excluded_name_says_so(tmp_path, fast_missing, caplog):
    """The unread part is on disk, under a name the globs leave out (here `exclude: ["*.gz"]`, a
    logrotate `compress` while the agent was stopped): the warning said "rotated away and deleted
    (more rotations than backups)", sending the operator after the wrong cause."""
    import gzip
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(10)])
    f = Follower([str(log) + "*"], d, exclude=["*.gz"])
    f.poll()
    f.tailer.close()
    write(log, *[f"line {i}" for i in range(10, 20)])  # written while the agent is stopped, then rotated
    (d / "app.log.1.gz").write_bytes(gzip.compress(log.read_bytes()))
    write(d / "next.tmp", "new 0")
    os.rename(d / "next.tmp", log)  # (a new inode: not the old one reused)
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    msgs = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(msgs) == 1 and f"is now {d / 'app.log.1.gz'}" in msgs[0] and "`exclude`" in msgs[0], msgs
    assert "deleted" not in msgs[0]

    # Nowhere to be found beside it (a Log4j 2 archive folder elsewhere): both causes are named.
    f.tailer.close()
    write(log, *[f"new {i}" for i in range(1, 5)])
    (d / "archive").mkdir()
    os.rename(log, d / "archive" / "app-1.log")
    caplog.clear()
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    msgs = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(msgs) == 1 and "deleted" in msgs[0] and "another folder" in msgs[0], msgs


def test_a_file_of_zeros_only_is_said_once_to_wait(tmp_path, caplog):
    """`truncate -s 1G app.log`, or a memory-mapped log nothing was written into yet: no line, no
    identity; it waited without a word (an operator sees a followed file that ships nothing)."""
    log = tmp_path / "a.log"
    with open(log, "wb") as fh:
        fh.truncate(1 << 20)
    f = Follower([log], tmp_path)
    with caplog.at_level(logging.INFO, logger="shipper.tail"):
        f.poll(scans=3)
    said = [r.getMessage() for r in caplog.records if "only zero bytes" in r.getMessage()]
    assert len(said) == 1 and str(log) in said[0] and "1048576" in said[0], said
    with open(log, "r+b") as fh:  # the lines come into the zeros (a mapped writer)
        fh.write(b"first\nsecond\n")
    f.poll(scans=2)
    assert f.lines() == [b"first", b"second"]
    f.tailer.close()


def test_inode_given_to_the_next_live_file_while_stopped_is_no_truncation(tmp_path, fast_missing, caplog):
    """logrotate `compress` while the agent is stopped, then the writer's next file: ext4 gives it the
    inode just freed, and it starts with the same header, shorter than what was read. Inode and head
    could not tell it from the file truncated in place (copytruncate), so "data lost … written between
    the copy and the truncation" was warned though nothing was lost (test_attack_compress's last
    `stop,r,w45,start`). The inode's generation tells them apart where the file system has one."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(100)])
    f = Follower([log], d)
    f.poll()
    f.tailer.close()
    os.rename(log, d / "app.log.1")  # rotated and compressed while the agent is stopped
    (d / "app.log.1.gz").write_bytes(gzip.compress((d / "app.log.1").read_bytes()))
    os.unlink(d / "app.log.1")
    write(log, HEADER, *[f"line {i}" for i in range(100, 145)])
    old = next(v for k, v in f.state.items() if k.startswith("f:") and v["path"] == str(log))
    old["ino"] = log.stat().st_ino  # the inode reuse ext4 does (not forced by the test otherwise)
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(records(f)) == sorted(expect(145))
    lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    generations = subprocess.run(["stat", "-f", "-c", "%T", str(d)], capture_output=True, text=True).stdout.strip() != "tmpfs"
    assert not lost or not generations, lost


def test_a_closed_file_seen_grown_then_gone_before_it_was_read_is_a_named_loss(tmp_path, fast_missing, caplog):
    """More busy files than descriptors (tests/tail/test_attack5_descriptor_limit.py): a file the
    tailer had closed was seen grown under its rotated name and replaced (`rotate 1`) before it was
    read again. Its state still said "read to its end": a tombstone, the new lines lost unsaid."""
    log = tmp_path / "a.log"
    write(log, "line 0")
    f = Follower([str(log) + "*"], tmp_path, close_inactive=0)
    f.poll()
    f.tailer.close_idle()  # closed: idle (or over the descriptor budget)
    assert not any(x.fh for x in f.tailer.files.values())
    write(log, "line 1")
    os.rename(log, tmp_path / "a.log.1")
    write(log, "line 2")
    f.tailer.scan()  # sees a.log.1 grown; not read yet
    os.rename(log, tmp_path / "a.log.1")  # the next rotation replaces it
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert b"line 1" not in f.lines() and b"line 2" in f.lines()
    lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(lost) == 1 and f"7 bytes of {tmp_path / 'a.log.1'}" in lost[0], lost


def reuse_inode(folder, ino: int, tries: int = 200):
    """A new file in `folder` on the freed inode `ino`, as ext4 hands it to the next file made there
    (made until one gets it: other processes may take the first). None when it never comes back
    (a file system that does not reuse inodes at once)."""
    made, got = [], None
    for i in range(tries):
        p = folder / f"new{i}"
        p.write_bytes(b"")
        if p.stat().st_ino == ino:
            got = p
            break
        made.append(p)
    for p in made:
        p.unlink()
    return got


def test_a_closed_file_that_never_held_a_line_does_not_take_its_inode_given_to_a_compressed_copy(ext4_tmp):
    """Torture seed 58 (`--overtaken`: 30 lines twice, silently): an empty .gz (logrotate `compress`
    of an empty day) is followed with no identity, closed over the descriptor budget, then deleted
    by a rotation; ext4 gives its inode to the next .gz, the compressed copy of a closed backup read
    to its end. The followed .gz, closed and known by its inode alone, took the new .gz for itself
    and read it from 0: every line of the backup twice."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        write(log, *[f"line {i}" for i in range(5)])
        os.rename(log, d / "app.log.1")
        write(log, "line 5")
        f.poll()
        with gzip.open(d / "app.log.2.gz", "wb"):
            pass  # an older empty day, rotated and compressed
        day_ago = time.time_ns() - 86400 * 10**9
        os.utime(d / "app.log.2.gz", ns=(day_ago, day_ago))  # (read before the others: oldest first)
        f.poll()
        dev, empty_gz = os.stat(d).st_dev, os.stat(d / "app.log.2.gz").st_ino
        assert f.tailer.files[(dev, empty_gz)].state is None
        write(log, "line 6")
        f.poll()  # app.log read again: the others closed over the budget
        assert f.tailer.known_open() == {(dev, log.stat().st_ino)}
        # The next rotation (`rotate 2`, `compress`): the oldest backup deleted, app.log.1 compressed …
        os.unlink(d / "app.log.2.gz")
        gz = reuse_inode(d, empty_gz)
        if gz is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        with open(d / "app.log.1", "rb") as src, gzip.open(gz, "wb") as dst:  # … onto the freed inode
            shutil.copyfileobj(src, dst)
        os.rename(gz, d / "app.log.2.gz")
        os.unlink(d / "app.log.1")
        os.rename(log, d / "app.log.1")
        write(log, "line 7", "line 8")
        f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(9)) and len(got) == 9, got
    finally:
        f.tailer.close()


def test_a_closed_backup_does_not_take_its_inode_given_to_a_copytruncate_copy(ext4_tmp, caplog):
    """Torture seed 34 (`--overtaken`: 6 lines twice, silently): a backup read to its end and closed
    over the descriptor budget is deleted by a copytruncate rotation (`rotate 1`), and ext4 gives its
    inode to the copy, which holds the same header line and is shorter than what was read of the
    backup. Taken for the backup "truncated in place" (same inode and head, shorter), the copy was
    read again from 0, and the live content, truncated, was called lost with no copy found."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(10)])
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        write(log, HEADER, *[f"line {i}" for i in range(10, 13)])
        day_ago = time.time_ns() - 86400 * 10**9
        os.utime(d / "app.log.1", ns=(day_ago, day_ago))  # (read before app.log: oldest first)
        f.poll()
        dev, backup = os.stat(d).st_dev, os.stat(d / "app.log.1").st_ino
        assert f.tailer.known_open() == {(dev, log.stat().st_ino)}  # the backup closed over the budget
        os.unlink(d / "app.log.1")  # copytruncate, `rotate 1`: the backup deleted, the copy made …
        copy = reuse_inode(d, backup)
        if copy is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        shutil.copyfile(log, copy)  # … onto its inode
        os.rename(copy, d / "app.log.1")
        os.truncate(log, 0)
        write(log, HEADER, "line 13")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(14)) and len(got) == 14, got
        lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
        assert not [m for m in lost if "no copy" in m], lost  # (the copytruncate window is warned: documented)
    finally:
        f.tailer.close()


def test_a_closed_compressed_backup_does_not_take_its_inode_given_to_the_next_one(ext4_tmp, fast_missing):
    """Torture seed 16 (`--overtaken`: 20 lines twice, silently): a .gz read to its end and closed
    (idle, or over the descriptor budget) is deleted by a rotation, and ext4 gives its inode to the
    next .gz, which starts with the same header line. Compared by its compressed size (smaller than
    the decompressed offset read), it was taken for the old .gz "truncated", and read on from that
    offset: the lines of the new one after it, read before from the live file, twice."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(40)])
    f = Follower([log], d, close_inactive=0)

    def rotate_compress(onto_inode: int | None = None) -> None:
        gz = d / "app.log.1.gz"
        if onto_inode is not None:
            os.unlink(gz)  # `rotate 1`: the old .gz deleted, ext4 gives its inode to the next
            gz = reuse_inode(d, onto_inode)
            if gz is None:
                pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        with open(log, "rb") as src, gzip.open(gz, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.rename(gz, d / "app.log.1.gz")
        os.unlink(log)

    try:
        f.poll()
        f.tailer.close_idle()
        rotate_compress()
        write(log, HEADER, *[f"line {i}" for i in range(40, 120)])
        f.settle()
        assert sorted(records(f)) == sorted(expect(120))
        dev, old_gz = os.stat(d).st_dev, os.stat(d / "app.log.1.gz").st_ino
        read = f.tailer.files[(dev, old_gz)].state.offset
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        rotate_compress(onto_inode=old_gz)
        assert os.stat(d / "app.log.1.gz").st_size < read  # (compressed: smaller than what was read)
        write(log, HEADER, "line 120")
        f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(121)) and len(got) == 121, got
    finally:
        f.tailer.close()


@pytest.mark.parametrize("appends", [True, False])
def test_a_copytruncate_copy_seen_before_logrotate_filled_it_is_a_copy(tmp_path, appends, caplog):
    """tests/tail/test_attack6_reload_copytruncate_repeat.py (a block of 331-984 lines twice within a
    run, silently): logrotate `copytruncate` creates the copy, then fills it; the agent, woken by the
    create, scanned in between and followed the copy, empty, as a new file with no identity yet.
    Filled, it was read from its start: every line of it twice, and the live content, truncated,
    called lost with no copy found. (A writer without O_APPEND makes it likely: the hole at the
    start of the live file grows at each rotation, and logrotate's sparse copy skips over it first.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if appends else 0))
    f = Follower([str(log) + "*"], d)
    try:
        if not appends:
            os.lseek(fd, 5000, os.SEEK_SET)  # (after an earlier copytruncate: a hole at its start)
        os.write(fd, b"".join(b"line %d\n" % i for i in range(10)))
        f.poll()
        (d / "app.log.1").write_bytes(b"")  # copytruncate: the copy made …
        f.poll()  # (the agent woken by its creation)
        shutil.copyfile(log, d / "app.log.1")  # … filled (the agent woken by the writes to it) …
        f.tailer.read_changed([str(d / "app.log.1")], f.emit, f.stop)
        os.truncate(log, 0)  # … and the live file truncated
        os.write(fd, b"".join(b"line %d\n" % i for i in range(10, 12)))
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(12)) and len(got) == 12, got
        lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
        assert not [m for m in lost if "no copy" in m], lost  # (the copytruncate window is warned: documented)
    finally:
        os.close(fd)
        f.tailer.close()


def test_a_file_renamed_before_it_could_be_opened_does_not_take_its_inode_given_to_a_copy(ext4_tmp):
    """Torture seed 35 (`--overtaken`: 24 lines twice, silently): a new empty live file, listed by a
    scan and renamed by a rotation before the scan could open it, was followed with no identity
    and no inode generation (nothing could be opened). Closed over the descriptor budget and then
    deleted, it took its inode as ext4 gave it to a copytruncate copy, and read the copy from 0."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(b"")  # the new live file, empty
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()  # lists the empty live file …
            os.rename(d / "app.log.1", d / "app.log.2")  # … which a rotation renames before it is opened
            os.rename(log, d / "app.log.1")
            write(log, "line 5")
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        dev, empty = os.stat(d).st_dev, os.stat(d / "app.log.1").st_ino
        assert f.tailer.files[(dev, empty)].state is None
        f.poll()  # found renamed; app.log read last: the others closed over the budget
        assert f.tailer.known_open() == {(dev, log.stat().st_ino)}
        # copytruncate, `rotate 1`: the backups deleted, the copy made on the freed inode
        os.unlink(d / "app.log.2")
        os.unlink(d / "app.log.1")
        copy = reuse_inode(d, empty)
        if copy is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        shutil.copyfile(log, copy)
        os.rename(copy, d / "app.log.1")
        os.truncate(log, 0)
        write(log, "line 6")
        f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(7)) and len(got) == 7, got
    finally:
        f.tailer.close()


def test_a_content_whose_copy_is_renamed_during_the_scan_is_not_called_gone(tmp_path, fast_missing, caplog):
    """Torture seed 38 (`--overtaken`: 15 lines twice): after a restart, the only file holding a
    content read (its .gz) was listed by a scan and renamed by the next rotation before the scan
    compared its bytes, at two scans in a row. Opening it by its listed name failed, taken as "not
    this content": the content was called gone (a false loss naming the .gz as out of `paths`), and
    the .gz, under its next name, read from 0 as a new file."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()
        f.tailer.close()
        with open(log, "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:  # rotated and compressed
            shutil.copyfileobj(src, dst)
        os.unlink(log)
        write(log, HEADER, "line 5")
        f.restart()
        observe = f.tailer.prospector.observe
        shifts = iter([(1, 2), (2, 3)])

        def observe_then_rotate():
            obs = observe()  # lists the .gz …
            i, j = next(shifts, (0, 0))
            if i:
                os.rename(d / f"app.log.{i}.gz", d / f"app.log.{j}.gz")  # … which the next rotation renames
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(2)
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(6)) and len(got) == 6, got
        assert not [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    finally:
        f.tailer.close()


def test_a_closed_live_file_truncated_by_copytruncate_compress_is_not_read_again(tmp_path, caplog):
    """Torture seed 333 (`--overtaken`: 34 lines twice, silently): the live file, closed (idle, or
    over the descriptor budget) and behind, is copied into a .gz and truncated (`copytruncate` with
    `compress`), then written again. The scan took the closed file, same head and shorter than what
    was read, for itself (its truncation noticed only when read), so the .gz, compared with what
    the file holds now, was no copy: read from 0 as a new file, and the truncated content then
    called lost with no copy found."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(10)])
    f = Follower([log], d, close_inactive=0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        write(log, *[f"line {i}" for i in range(10, 15)])
        with open(log, "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:  # copytruncate, compress
            shutil.copyfileobj(src, dst)
        os.truncate(log, 0)
        write(log, HEADER, "line 15")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(16)) and len(got) == 16, got
        lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
        assert not [m for m in lost if "no copy" in m], lost  # (the copytruncate window is warned: documented)
    finally:
        f.tailer.close()



def test_a_live_file_rotated_while_stopped_is_not_found_again_in_the_next_one_holding_its_header(tmp_path,
                                                                                                 fast_missing, caplog):
    """Torture seed 1024 (`--overtaken`: 37 lines twice, silently): the live file, read to its end,
    is rotated and compressed while the agent is stopped; the writer's next file holds only the
    header the files share. Another content of the family starts otherwise (an older backup), so
    the header looked like the content's own first line: the new live file, holding exactly it,
    was taken for a copy of the start of what was read (a content moved onto the live name), and
    the .gz then for the copy of a live file read no further than its header — read again from
    there, every line twice."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(d / "app.log.1", "older 1", "older 2")  # a backup from before the header (its first line differs)
    write(log, HEADER, *[f"line {i}" for i in range(10)])
    f = Follower([log], d)
    try:
        f.poll()
        assert records(f) == expect(10)
        f.tailer.close()
        os.rename(d / "app.log.1", d / "app.log.2")  # logrotate create + compress, while stopped
        os.rename(log, d / "app.log.1")
        write(log, HEADER)
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(d / "app.log.1")
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
            write(log, "line 10")
            f.settle()
        assert records(f) == expect(11)
        assert not [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    finally:
        f.tailer.close()



def test_a_copytruncate_copy_compared_after_the_live_file_was_cut_during_the_scan_is_a_copy(tmp_path, caplog):
    """Attack 6 (reloads and kill -9 under copytruncate, a writer without O_APPEND: 459-703 lines
    twice in ~1 run of 3 under load): the scan checked the live file for a truncation, listed its
    copy, and logrotate truncated the live file before the copy was compared with it; the writer
    went on past the copy's end, so the copy's lines faced zero bytes in the live file: "not a
    copy", read from 0 as a new file — every line read of the live file twice, silently."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    fd = os.open(log, os.O_WRONLY)  # no O_APPEND: the truncation leaves a hole
    f = Follower([log], d)
    try:
        os.write(fd, b"".join(b"line %d\n" % i for i in range(10)))
        f.poll()
        os.write(fd, b"".join(b"line %d\n" % i for i in range(10, 15)))  # not read before the rotation
        shutil.copyfile(log, d / "app.log.1")  # logrotate copytruncate: the copy …
        tailer = f.tailer
        observe = tailer.prospector.observe

        def observe_then_truncate():
            tailer.prospector.observe = observe
            obs = observe()  # (the copy is listed) …
            os.truncate(log, 0)  # … then the truncation, and the writer goes on at its offset
            os.write(fd, b"".join(b"line %d\n" % i for i in range(15, 20)))
            return obs

        tailer.prospector.observe = observe_then_truncate
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(20)) and len(got) == 20, got
    finally:
        os.close(fd)
        f.tailer.close()



@pytest.mark.parametrize("restart_first", [True, False])
@pytest.mark.parametrize("between", [0, 3])
def test_a_hole_left_by_copytruncate_across_a_restart_is_no_loss_beyond_the_window(tmp_path, fast_missing, caplog,
                                                                                  restart_first, between):
    """Attack 6 (reloads and kill -9 under copytruncate, a writer without O_APPEND): after each reload
    a false "data lost … were in it before the N zero bytes at its start". The source, restarted from
    its checkpoint, found the truncated content in the copy and the live file on its inode with a
    hole where that content was: new to this process, its hole was taken for bytes never read. The
    copy holds them; only what the writer wrote between the copy and the truncation is in no file.
    Under a writer without O_APPEND the hole's length is the file's size at the truncation: a hole
    no longer than the copy lost nothing (no warning), a longer one is the copytruncate window."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    fd = os.open(log, os.O_WRONLY)  # no O_APPEND: a truncation leaves a hole
    n = 0

    def w(k: int) -> bytes:
        nonlocal n
        data = b"".join(b"line %d\n" % i for i in range(n, n + k))
        os.write(fd, data)
        n += k
        return data

    def copytruncate(k: int = 0) -> bytes:
        if (d / "app.log.1").exists():
            os.rename(d / "app.log.1", d / "app.log.2")
        shutil.copyfile(log, d / "app.log.1")
        cut = w(k)  # written between the copy and the truncation: in no file
        os.truncate(log, 0)
        return cut

    f = Follower([log], d)
    try:
        w(30)
        f.poll()
        copytruncate()
        w(10)
        f.poll()
        w(5)
        f.poll()
        if restart_first:
            f.restart()
        cut = copytruncate(between)
        w(10)
        if not restart_first:
            f.restart()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        window = {b"line %d" % i for i in range(n - 10 - between, n - 10)}
        assert sorted(got) == sorted(set(expect(n)) - window) and len(got) == n - between, got
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert not [m for m in lost if "zero bytes at its start" in m], lost
        if between:
            assert len(cut) and f.tailer.losses == 1 and len(lost) == 1 and "between the copy" in lost[0], lost
        else:
            assert f.tailer.losses == 0 and not lost, lost
    finally:
        os.close(fd)
        f.tailer.close()



def test_a_file_never_opened_does_not_take_its_inode_given_to_a_copy_of_a_new_live_file_after_a_restart(ext4_tmp):
    """Torture seed 1208 (`--overtaken`: 18 lines twice, silently): the writer's new file, listed by a
    scan and renamed by a rotation before it could be opened, is followed with no identity and no
    inode generation; the agent restarts (its checkpoint: a placeholder, the inode alone), the file
    is deleted, and ext4 gives its inode to a copytruncate copy of the live file, new to the
    restarted agent as well. At the first scan the placeholder took the copy by its inode (no
    followed file yet to prove it a copy) and read it from 0, the live file too: its lines twice."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()
        write(log, "line 5")  # (read at the next scan: its checkpoint goes with the placeholder's)
        os.rename(log, d / "app.log.1")
        write(log, HEADER)  # the writer's new file
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()  # lists the new live file …
            os.rename(d / "app.log.1", d / "app.log.2")  # … which a rotation renames before it is opened
            os.rename(log, d / "app.log.1")
            write(log, HEADER)
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        unopened = os.stat(d / "app.log.1").st_ino
        assert f.tailer.files[(os.stat(d).st_dev, unopened)].unopened
        f.restart()
        os.unlink(d / "app.log.2")  # `rotate 1`: the backups deleted …
        os.unlink(d / "app.log.1")
        write(log, *[f"line {i}" for i in range(6, 15)])
        copy = reuse_inode(d, unopened)  # … and copytruncate's copy made on the freed inode
        if copy is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        shutil.copyfile(log, copy)
        os.rename(copy, d / "app.log.1")
        f.poll()  # (both new to this process: the live file and its copy)
        os.truncate(log, 0)
        write(log, HEADER, "line 15")
        f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(16)) and len(got) == 16, got
    finally:
        f.tailer.close()



@pytest.mark.parametrize("after", [b"", b"\0" * 3])
def test_a_closed_live_file_emptied_by_copytruncate_warns_the_window(tmp_path, fast_missing, caplog, after):
    """Torture seed 1215 (`--overtaken`: 2 lines of a seen file lost, no warning): the live file,
    closed (idle, or over the descriptor budget), is copied and truncated to nothing (no header
    written again: `after` empty, or less than its first line), lines written between the copy and
    the truncation. Shorter than its first line, it matched nothing ("not that content") instead
    of being the file truncated: its content was found in the copy, so nothing was read twice,
    but the copytruncate window went without a word."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(10)])
    f = Follower([log], d, close_inactive=0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        write(log, *[f"line {i}" for i in range(10, 15)])
        shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy …
        write(log, "line 15", "line 16")  # … lines written between the copy and the truncation …
        os.truncate(log, 0)
        write(log, after)  # (holding less than a line)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(15)) and len(got) == 15, got
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert len(lost) == 1 and str(log) in lost[0] and "between the copy" in lost[0], lost
    finally:
        f.tailer.close()



@pytest.mark.parametrize("hole", [300, 5000])
def test_a_hole_after_a_truncation_already_told_is_no_loss_after_a_restart(tmp_path, fast_missing, caplog, hole):
    """Attack 6: a false "data lost … were in it before the N zero bytes at its start" after a reload.
    The live file was found truncated (copytruncate, its writer without O_APPEND: a hole at its
    start now) and its content found in the copy; the agent restarted before reading past the
    hole. Restarted, it took the hole for bytes never read: that the truncation was told was not
    in the checkpoint."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    fd = os.open(log, os.O_WRONLY)  # no O_APPEND
    f = Follower([log], d)
    try:
        os.write(fd, b"".join(b"line %d\n" % i for i in range(10)))
        f.poll()
        os.write(fd, b"x" * (hole - os.lseek(fd, 0, os.SEEK_CUR) - 1) + b"\n")  # (the hole to come: `hole` bytes,
        # shorter or longer than a head: HEAD_MAX)
        f.poll()
        shutil.copyfile(log, d / "app.log.1")  # copytruncate
        os.truncate(log, 0)
        os.write(fd, b"line 10\n")  # (at its offset: after a hole)
        f.tailer.scan()  # the truncation found, the content in the copy …
        f.tailer.flush(f.emit)  # … and saved; stopped before the live file is read again
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = [r for r in records(f) if not r.startswith(b"x")]
        assert sorted(got) == sorted(expect(11)) and len(got) == 11, got
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert not [m for m in lost if "zero bytes at its start" in m], lost
    finally:
        os.close(fd)
        f.tailer.close()



def test_a_live_file_empty_when_listed_renamed_before_it_was_opened_and_deleted_is_a_loss(tmp_path, fast_missing,
                                                                                          caplog):
    """Torture seed 1230 (`--overtaken`: a line of a seen file lost, no warning): the scan lists the
    live file empty, then a line is written to it and a rotation renames it before the scan can open
    it; a cleaner deletes it. Followed with no identity and holding nothing when listed, it was
    dropped without a word when it went missing: its line was lost silently."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    try:
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()  # lists the live file, empty …
            write(log, "line 0")  # … which is written to and rotated before it is opened
            os.rename(log, d / "app.log.1")
            log.write_bytes(b"")
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        os.unlink(d / "app.log.1")  # a cleaner (or `rotate 0`)
        write(log, "line 1")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert records(f) == [b"line 1"]
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert len(lost) == 1 and str(log) in lost[0] and f.tailer.losses == 1, lost
    finally:
        f.tailer.close()


def test_a_new_backup_renamed_during_the_scan_that_found_it_is_read_under_its_new_name(tmp_path, fast_missing,
                                                                                       caplog):
    """Torture seeds 367, 1162 (`--overtaken`: 13 and 9 lines of a seen file lost, no warning): a
    backup the agent had never seen (the log rotated twice while it was not looking) is listed by a
    scan, renamed by the next rotation before the scan could compare it with what it knows, and
    deleted by a cleaner before the next scan. Left for the next scan to find under its new name,
    it was gone by then: its lines lost, and nothing said."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()

        def rotate():
            for i in (2, 1):
                if (d / f"app.log.{i}").exists():
                    os.rename(d / f"app.log.{i}", d / f"app.log.{i + 1}")
            os.rename(log, d / "app.log.1")
            log.write_bytes(b"")

        rotate()  # while the agent does not look: the file it follows to app.log.1 …
        write(log, *[f"line {i}" for i in range(5, 10)])
        rotate()  # … and one it never saw to app.log.1
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()  # lists that one as app.log.1 …
            rotate()  # … which a rotation renames to app.log.2 before it is compared
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        os.unlink(d / "app.log.2")  # a cleaner
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        got = records(f)
        assert sorted(got) == sorted(expect(10)) and len(got) == 10, got
    finally:
        f.tailer.close()


def test_a_new_backup_deleted_during_the_scan_that_found_it_is_a_named_loss(tmp_path, fast_missing, caplog,
                                                                            monkeypatch):
    """Torture seed 367 (`--overtaken`: 13 lines of a seen file lost, no warning), its other half: the
    backup the agent never saw, listed by a scan, is deleted by the rotation that overtook it (`rotate
    1`) before the scan could open it — under none of its family's names by then (its inode maybe given
    to the writer's next file). Its lines are lost (no reader could have them), and nothing said so.
    (A scan opens such files as it lists them, and reads them so: test_overtaken_scan.py; here beyond
    the number it opens so, or deleted between the listing and that open.)"""
    monkeypatch.setattr(scan_rules, "LISTED_OPEN_MAX", 0)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()

        def rotate():  # logrotate `create`, `rotate 1`
            if (d / "app.log.1").exists():
                os.unlink(d / "app.log.1")
            os.rename(log, d / "app.log.1")
            log.write_bytes(b"")

        rotate()  # while the agent does not look: the file it follows to app.log.1 …
        write(log, *[f"line {i}" for i in range(5, 10)])
        rotate()  # … and one it never saw to app.log.1
        size = (d / "app.log.1").stat().st_size
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()  # lists that one as app.log.1 …
            rotate()  # … which a rotation deletes before it is compared
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert records(f) == expect(5)
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert len(lost) == 1 and f"{size} bytes of {d / 'app.log.1'}" in lost[0], lost
        assert f.tailer.losses == 1 and f.tailer.bytes_lost == size
    finally:
        f.tailer.close()
