"""Scans overtaken by a rotation or a cleaner between listing the files and comparing their bytes (a loaded
machine; the torture harness's `--overtaken`): what the listing saw and what is there by the time the scan
looks are not the same files. Seeds found by the harness are replayed in tests/torture/test_torture.py; the
cause of each is tested here."""
from __future__ import annotations

import gzip
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import reuse_inode

HEADER = "# time level logger message"


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def records(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


def expect(n: int) -> list[bytes]:
    return [f"line {i}".encode() for i in range(n)]


def overtake(f: Follower, then) -> None:
    """The next scan lists the files, then `then()` runs before it compares their bytes."""
    observe = f.tailer.prospector.observe

    def observe_then():
        f.tailer.prospector.observe = observe
        obs = observe()
        then()
        return obs

    f.tailer.prospector.observe = observe_then


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_read_backup_deleted_during_the_scan_is_no_loss(tmp_path, fast_missing, caplog):
    """A backup read to its end and closed (idle, or over the descriptor budget), listed by a scan and
    deleted (a cleaner, `rotate N`) before the scan compared it: its name gone, it was taken for
    "not that file" and its inode followed as a new file never opened — called lost whole at the next
    scans ("data lost: N bytes … were never read"; "possibly lost" when a .gz had been read since:
    torture seed 22), though every line of it was delivered."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")  # logrotate `create`
        write(log, *[f"line {i}" for i in range(5, 10)])
        f.poll(2)  # app.log.1 read to its end, then closed (the budget: the live file keeps it)
        assert records(f) == expect(10)
        backup = f.tailer.prospector.files[next(k for k, x in f.tailer.prospector.files.items()
                                                 if x.path == str(d / "app.log.1"))]
        assert backup.fh is None
        overtake(f, lambda: os.unlink(d / "app.log.1"))  # a cleaner, between the listing and the compare
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert records(f) == expect(10)
        assert warnings(caplog) == []
        assert f.tailer.losses == 0 and f.tailer.bytes_lost == 0
    finally:
        f.tailer.close()


def test_a_copy_listed_longer_than_the_live_file_read_to_its_head_then_compressed_warns_the_window(
        tmp_path, fast_missing, caplog):
    """Torture seed 22: the live file, of which only its header line was read, is copied to app.log.1
    (copytruncate), written to, truncated and given its header again. The next scan lists the copy, longer
    than the live file, and the rotation that overtakes it renames and compresses the copy before it can be
    opened. The live file reads on after its header (its new lines), the copy's .gz is read whole, and what
    was written between the copy and the truncation is in no file: that was said nowhere."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d, max_open=1)
    try:
        f.poll()  # the header alone: read no further
        write(log, *[f"line {i}" for i in range(5)])
        with open(log, "rb") as src, open(d / "app.log.1", "wb") as dst:  # copytruncate: copy …
            dst.write(src.read())
        write(log, "line 5", "line 6")  # … written after the copy …
        os.truncate(log, 0)  # … truncated: lines 5 and 6 are in no file
        write(log, HEADER, *[f"line {i}" for i in range(7, 9)])  # (shorter than the copy)

        def rotate():  # logrotate `create`, `delaycompress`, `rotate 2`
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            write(log, HEADER)
            with open(d / "app.log.2", "rb") as src, gzip.open(d / "app.log.2.gz", "wb") as dst:
                dst.write(src.read())
            os.unlink(d / "app.log.2")

        overtake(f, rotate)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        lines = [x for x in records(f) if not x.startswith(b"#")]
        assert sorted(lines) == sorted(expect(9)[:5] + expect(9)[7:])
        window = [m for m in warnings(caplog) if m.startswith("data lost") and "between the copy" in m]
        assert len(window) == 1 and str(d / "app.log.1") in window[0], warnings(caplog)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_live_file_renamed_before_it_was_opened_is_not_taken_for_the_file_given_its_inode(ext4_tmp, fast_missing,
                                                                                           caplog):
    """Torture seed 1000: a scan lists the live file (5 lines the agent has not read), and a rotation
    renames it before the scan can open it: followed with no identity, no generation (never opened). It is
    rotated out and deleted while the agent does not look, and ext4 gives its inode to a new file under a
    backup's name. The next scan took that file for it ("a first look": nothing to tell them apart), read it,
    and the 5 lines went without a word. Its birth time, taken with the listing, tells them apart now: the
    new file is read as new, and the 5 lines are a loss naming app.log."""
    d = ext4_tmp
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)

    def rotate():  # logrotate `create`, `rotate 1`
        os.rename(log, d / "app.log.1")
        log.write_bytes(b"")

    try:
        f.poll()  # the live file, empty
        rotate()  # the next one, never seen …
        write(log, *[f"line {i}" for i in range(5)])
        listed = os.stat(log).st_ino
        overtake(f, rotate)  # … listed, and rotated before the scan opens it
        f.poll()
        placeholder = f.tailer.prospector.files.get((os.stat(d / "app.log.1").st_dev, listed))
        assert placeholder is not None and placeholder.state is None and placeholder.unopened
        os.unlink(d / "app.log.1")  # rotated out (`rotate 1` twice) while the agent does not look
        other = reuse_inode(d, listed)
        if other is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        write(other, *[f"line {i}" for i in range(5, 8)])
        os.rename(other, d / "app.log.1")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert sorted(records(f)) == sorted(expect(8)[5:])
        lost = [m for m in warnings(caplog) if m.startswith("data lost")]
        assert len(lost) == 1 and str(log) in lost[0], warnings(caplog)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


@pytest.mark.parametrize("compress", [False, True])
def test_a_backup_never_read_deleted_between_the_listing_and_the_compare_is_read(tmp_path, fast_missing, caplog,
                                                                               compress):
    """Torture seeds 350 and 1232 (`.gz`), 1089 (plain): a backup holding lines never read (the live file
    rotated out twice while the agent was frozen), listed by a scan and deleted by the rotation that
    overtook it (`rotate N`, a cleaner) before the scan could open it: its lines went without a word (a
    .gz may be the compressed form of a content read), or, plain, were called lost. Opened as it is
    listed, it is read through that descriptor to its end."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()
        assert records(f) == expect(5)
        # Frozen: rotated away (read to its end through the descriptor), and the writer's next file
        # too, unseen, with lines 5-9.
        os.rename(log, d / "app.log.1")
        write(log, *[f"line {i}" for i in range(5, 10)])
        os.rename(d / "app.log.1", d / "app.log.2")
        os.rename(log, d / "app.log.1")
        write(log, *[f"line {i}" for i in range(10, 12)])
        unseen = d / "app.log.1"
        if compress:
            with open(unseen, "rb") as src, gzip.open(str(unseen) + ".gz", "wb") as dst:
                dst.write(src.read())
            os.unlink(unseen)
            unseen = d / "app.log.1.gz"
        overtake(f, lambda: os.unlink(unseen))  # deleted between the listing and the compare
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert sorted(records(f)) == sorted(expect(12)) and len(records(f)) == 12, records(f)
        assert [m for m in warnings(caplog) if "lost" in m] == []
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_live_file_renamed_before_it_was_opened_and_deleted_before_the_read_is_named_lost(ext4_tmp, fast_missing,
                                                                                           caplog):
    """Attack 12's 10,000 files at the first look (load ~25): a file listed by the scan was rotated before the
    scan could open it (followed with no identity, no generation), and rotated out and deleted before the read
    that comes after the scan; ext4 gave its inode to the writer's next file under the same name. The read took
    that file for it (its inode, nothing to tell them apart) and read it: the listed file's lines lost with no
    word of their own. Its birth time, taken with the listing, tells them apart: the next file is read as new,
    and the lines of the one listed are a loss naming it, once."""
    d = ext4_tmp
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(3)])  # listed, never read
    listed = os.stat(log).st_ino
    f = Follower([log], d)

    def rotate():  # logrotate `create`, `rotate 1`
        os.rename(log, d / "app.log.1")
        write(log, *[f"line {i}" for i in range(3, 5)])

    try:
        overtake(f, rotate)  # the first look lists app.log, which is rotated before the scan opens it
        f.tailer.scan()
        placeholder = f.tailer.prospector.files.get((os.stat(log).st_dev, listed))
        assert placeholder is not None and placeholder.state is None and placeholder.unopened
        # Before the read: rotated again (the listed file deleted: `rotate 1`), and the next file on its inode.
        os.unlink(d / "app.log.1")
        os.rename(log, d / "app.log.1")
        other = reuse_inode(d, listed)
        if other is None:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        write(other, *[f"line {i}" for i in range(5, 8)])
        os.rename(other, log)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.tailer.read_all(f.emit, f.stop)
            f.settle()
        assert sorted(records(f)) == sorted(expect(8)[3:])
        lost = [m for m in warnings(caplog) if m.startswith("data lost")]
        assert len(lost) == 1 and str(log) in lost[0] and "never read" in lost[0], warnings(caplog)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_backup_listed_grown_and_deleted_during_the_scan_is_named(tmp_path, fast_missing, caplog):
    """A backup read to its end and closed, written to since (the writer's last lines after the rename), listed by a
    scan with them and deleted before the scan compared it (MovedDuringScan: nothing decided): the size listed was
    not kept, so gone it was laid to rest as read to its end, its unread bytes named nowhere. Torture seed 192215
    (without the holder) is this with the backup's inode given to the writer's next file: 1,655 bytes unread, none
    named. Now named, "or more" (its inode may hold another file by then, never opened to tell)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")  # logrotate `create`
        write(log, *[f"line {i}" for i in range(5, 10)])
        f.poll(2)  # app.log.1 read to its end, then closed (the budget: the live file keeps it)
        assert records(f) == expect(10)
        with open(d / "app.log.1", "a") as w:
            w.write("late 0\nlate 1\n")  # 14 bytes its writer wrote after the rename
        overtake(f, lambda: os.unlink(d / "app.log.1"))  # a cleaner, between the listing and the compare
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        lost = [m for m in warnings(caplog) if m.startswith("data lost")]
        assert len(lost) == 1 and lost[0].startswith(f"data lost: 14 bytes or more of {d / 'app.log.1'} "), lost
        assert f.tailer.losses == 1 and f.tailer.bytes_lost == 14
    finally:
        f.tailer.close()
