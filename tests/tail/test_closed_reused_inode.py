"""Which file is which when a followed file is closed (over the descriptor budget, or idle) or was never
opened, and its inode is given to another file before the next scan (ext4 hands a freed inode to the
next file made in the folder). Found by the torture harness with a descriptor budget and scans
overtaken by rotations (`make torture ARGS=--overtaken`); each test names its seed."""
from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import time

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower, assert_exactly_once
from tests.tail.test_identity import reuse_inode

HEADER = b"# time level message (a header every file has)\n"


def _line(i: int) -> bytes:
    return json.dumps({"seq": i, "msg": "x" * 20}).encode() + b"\n"


def _gz(path, data: bytes) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(data)


def test_a_closed_plain_file_whose_inode_now_holds_a_gz_is_not_read_as_lines(ext4_tmp):
    """A plain backup read to its end and closed was deleted (a cleaner), and the compressed form of
    the next backup took its inode. Same inode, same first line (the layout header), and a
    compressed size below the read offset: the closed file was taken for the same content cut
    shorter, renamed to the .gz name still marked plain, found "truncated" and followed again from 0
    as a plain file: its gzip bytes were shipped as lines (an altered record). A plain content never
    turns into a compressed one on its inode (gzip writes a new file): the inode holds another file."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    other = d / "other.log"
    log.write_bytes(HEADER + b"".join(_line(i) for i in range(30)))
    f = Follower([log, other], d, max_open=2)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + b"".join(_line(i) for i in range(30, 40)))
        f.poll()
        other.write_bytes(_line(-1))
        f.poll()  # other.log opened: app.log.1 (read to its end, the longest idle) closed over the budget
        [(closed_ino, closed)] = [(k[1], x) for k, x in f.tailer.files.items() if x.fh is None]
        assert closed.path == str(d / "app.log.1")

        os.unlink(d / "app.log.1")  # the cleaner: its inode is free
        os.rename(log, d / "app.log.1")  # the rotation …
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            dst.write(src.read())  # … compressed: the .gz takes the freed inode
        os.unlink(d / "app.log.1")
        log.write_bytes(HEADER + b"".join(_line(i) for i in range(40, 42)))
        if os.stat(d / "app.log.1.gz").st_ino != closed_ino:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        assert os.path.getsize(d / "app.log.1.gz") < closed.state.offset
        f.settle()
        assert not [r for r in f.lines() if r[:2] == b"\x1f\x8b" or not r.startswith((b"{", b"#"))]
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], range(-1, 42))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_small_gz_read_to_its_end_then_deleted_is_no_loss(tmp_path):
    """Found with the test above: a .gz's state took the file's compressed size as its size, and a read
    kept the larger of that and the decompressed size. A small .gz is larger than what it holds (gzip's
    header and trailer): read to its end and deleted (the oldest backup), the difference was called
    unread and lost ("10 bytes … were deleted … before they could be read"), a false loss. (Read to the end of
    its stream, a .gz's size is what it decompresses to.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + _line(0))
    f = Follower([log], d, close_inactive=0.0)
    try:
        f.poll()
        _gz(d / "app.log.1.gz", HEADER + _line(1))
        assert os.path.getsize(d / "app.log.1.gz") > len(HEADER + _line(1))
        f.poll()
        f.tailer.close_idle()  # (closed: deleted, it is found nowhere; open, it is read to its end and let go)
        os.unlink(d / "app.log.1.gz")
        f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], range(2))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_closed_gz_file_not_compared_in_a_scan_is_not_read_from_another_file_on_its_inode(ext4_tmp):
    """A compressed backup read to its end and closed was deleted by a rotation, and the next backup's
    .gz took its inode (under app.log.1.gz). A scan listed it there, then another rotation renamed it to
    app.log.2.gz — the name the closed file had — before the scan opened it to compare its bytes: moved
    during the scan, nothing was decided (right), but the file was then read all the same, opened by its
    old name, which held its inode again: another content, read on from the old offset (the rest of a
    line of it shipped as a line: an altered record). A closed file no scan has compared is not read."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    n = 0

    def lines(k: int) -> bytes:
        nonlocal n
        n += k
        return b"".join(_line(i) for i in range(n - k, n))

    _gz(d / "app.log.2.gz", HEADER + b"".join(_line(i) for i in range(200, 201)))  # history: skipped
    _gz(d / "app.log.1.gz", HEADER + b"".join(_line(i) for i in range(100, 103)))
    log.write_bytes(HEADER + lines(2))
    f = Follower([log], d, close_inactive=0.0)

    def rotate(gz_first: bool) -> None:
        os.unlink(d / "app.log.2.gz")
        os.rename(d / "app.log.1.gz", d / "app.log.2.gz")
        with open(log, "ab") as fh:
            fh.write(lines(10))
        os.rename(log, d / "app.log.1")
        if not gz_first:
            log.write_bytes(HEADER)
        _gz(d / "app.log.1.gz", (d / "app.log.1").read_bytes())  # takes the inode freed above
        os.unlink(d / "app.log.1")
        if gz_first:
            log.write_bytes(HEADER)  # (the writer makes its next file at its next line)

    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        closed = {k[1]: x.path for k, x in f.tailer.files.items()}
        rotate(gz_first=True)
        reused = os.stat(d / "app.log.1.gz").st_ino
        if closed.get(reused) != str(d / "app.log.2.gz"):
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()
            rotate(gz_first=False)  # app.log.1.gz, listed, is app.log.2.gz when compared
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        assert os.stat(d / "app.log.2.gz").st_ino == reused
        f.settle()
        assert not [r for r in f.lines() if not r.startswith((b"{", b"#"))]
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], range(n))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


@pytest.mark.parametrize("read", [0, 3])
def test_a_closed_live_file_rotated_out_unread_is_not_taken_for_the_next_file_on_its_inode(ext4_tmp, caplog, read):
    """Found by the torture harness (`--overtaken`, seed 49: a line of a seen file destroyed unread, no
    loss warned): a live file closed (idle, or over the budget) was listed by a scan as it was when
    last read, then written to and rotated before the scan looked at it (untouched, so not opened:
    right). The next rotation deleted it (one backup kept) and the writer's next file took its inode,
    with the same header. The closed file was compared by its head and the bytes before its offset
    only: with no more than its header read, the new file matched and the old content went on in it
    (the lines written before the rotation gone without a word); with more read, the new file,
    shorter, was taken for it truncated. The inode's generation (ext4, xfs, btrfs) tells them apart:
    what was written after the last read is warned lost, the new file read whole. (The rotation that overtakes
    the scan moves it out of the folder, `olddir`: renamed within its family, the scan finds it under its new
    name since session 18 and reads the line — seed 182302 — and its inode is not freed.)"""
    d = ext4_tmp / "logs"
    d.mkdir()
    old = ext4_tmp / "old"
    old.mkdir()
    log = d / "app.log"
    n = 0

    def lines(k: int) -> bytes:
        nonlocal n
        n += k
        return b"".join(_line(i) for i in range(n - k, n))

    log.write_bytes(HEADER + lines(read))
    f = Follower([log], d, close_inactive=0.0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        first = os.stat(log).st_ino
        observe = f.tailer.prospector.observe
        unread = []

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()
            with open(log, "ab") as fh:
                fh.write(lines(1))
            unread.append(n - 1)
            os.rename(log, old / "app.log.1")
            log.write_bytes(HEADER)
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        os.unlink(old / "app.log.1")  # the next rotation, one backup kept: it goes unread
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + lines(2))  # the writer's next file …
        if os.stat(log).st_ino != first:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        f.settle()
        got = [json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")]
        assert_exactly_once(got, [i for i in range(n) if i not in unread])
        assert f.tailer.losses == 1
        [lost] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert f"of {log} written after the last read: the file was rotated away" in lost
    finally:
        f.tailer.close()


def test_a_closed_file_whose_inode_holds_a_new_file_of_its_size_and_mtime_is_not_taken_for_it(ext4_tmp, caplog):
    """Found by the torture harness (`--overtaken`, seed 49, one run in two): a closed file unchanged in
    size and mtime since the last look was taken for untouched, unopened. But ext4's clock ticks by
    jiffies (4-10 ms): the live file deleted (a rotation out, its last line unread) and its inode
    given to the writer's next file within the tick that file had its mtime and size too (a header,
    or lines as long). The old file's last line was lost without a word and the new one's lines never
    read. (Played here by giving the new file the old mtime, as a tool keeping mtimes does.) Size and
    mtime say "untouched" only when the mtime was older than the look by more than a tick."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + b"".join(_line(i) for i in range(10, 13)))
    f = Follower([log], d, close_inactive=0.0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        st = os.stat(log)
        with open(log, "ab") as fh:
            fh.write(_line(13))  # never read: the file is rotated out at once (more rotations than backups)
        os.unlink(log)
        log.write_bytes(HEADER + b"".join(_line(i) for i in range(20, 23)))  # the writer's next file
        os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))
        if os.stat(log).st_ino != st.st_ino:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        assert os.path.getsize(log) == st.st_size
        f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")],
                            [10, 11, 12, 20, 21, 22])
        [lost] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert f"of {log} written after the last read" in lost
    finally:
        f.tailer.close()


def test_a_live_file_renamed_before_it_could_be_opened_then_deleted_is_a_loss(ext4_tmp, caplog):
    """Found by the torture harness (`--overtaken`, seed 49: a line of a seen file destroyed unread, no
    loss warned): the writer's new file, listed by a scan at the live name, was written to and rotated
    before the scan could open it (no identity: followed by its inode alone). The next rotation deleted
    it (one backup kept) and the writer's next file took its inode at the live name: the file never
    opened was taken for it, the line written to it gone without a word. Content moves away from a live
    name, not onto it: the inode under the live name is another file, the first one's loss is warned."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + _line(0))
    f = Follower([log], d)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER)  # the writer's next file: listed, not opened yet …
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()
            with open(log, "ab") as fh:
                fh.write(_line(1))
            os.unlink(d / "app.log.1")  # … rotated (one backup kept) before it is opened
            os.rename(log, d / "app.log.1")
            log.write_bytes(HEADER)
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        unopened = os.stat(d / "app.log.1").st_ino
        os.unlink(d / "app.log.1")  # the next rotation: the line in it goes unread
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + _line(2))
        if os.stat(log).st_ino != unopened:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not happen")
        f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], [0, 2])
        [lost] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert f"of {log} were never read" in lost
    finally:
        f.tailer.close()


def test_the_gz_of_a_deleted_file_the_budget_closed_is_not_read_again(tmp_path):
    """Found by the torture harness (`--overtaken`, seed 213: 11 lines shipped twice, silently): a live
    file read to its end was rotated, compressed and deleted (the tailer still had it open, so its
    inode lived on); opening the writer's next file took the last descriptor of the budget, and the
    deleted file, nothing else to close, was closed. Its .gz was then compared with it — closed and
    nameless, it could not be opened — and, proven a copy of nothing, read again whole as a new file.
    What was read of a closed file proves a copy as it does for a loose content (head and the bytes
    before the read offset)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + b"".join(_line(i) for i in range(10)))
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + _line(10))
        _gz(d / "app.log.1.gz", (d / "app.log.1").read_bytes())
        os.unlink(d / "app.log.1")
        f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], range(11))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_copy_on_a_closed_backups_inode_renamed_during_two_scans_is_not_read_again(ext4_tmp, monkeypatch, caplog):
    """Torture seed 99023 (`--overtaken`, 60 steps: 31 lines twice, silently): a backup read to its end
    and closed over the descriptor budget is deleted by a copytruncate rotation, and ext4 gives its inode
    to the copy of the live file. The next two scans are each overtaken by a rotation that renames the
    copy between the listing and the comparison: the closed backup, listed on that inode, could not be
    compared (right: nothing decided), but the inode was set aside before any loose content was compared
    with it, so the live file's truncated content was counted missing at both and called lost ("no copy
    was found"), and the copy read again from 0 as a new file at the next scan. A content is not missing
    from a scan in which a file of its family was renamed before it could be compared."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    n = 0

    def lines(k: int) -> bytes:
        nonlocal n
        n += k
        return b"".join(_line(i) for i in range(n - k, n))

    def shift() -> None:
        """logrotate `create`, `rotate 3`, shifting the backups (the rotation's first renames) …"""
        for i in (2, 1):
            if os.path.exists(d / f"app.log.{i}"):
                os.rename(d / f"app.log.{i}", d / f"app.log.{i + 1}")

    def rotate() -> None:
        """… then renaming the live file (the writer's next line in its next file)."""
        shift()
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + lines(1))

    log.write_bytes(HEADER + lines(10))
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER + lines(3))
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
        with open(log, "ab") as fh:
            fh.write(HEADER + lines(1))
        observe = f.tailer.prospector.observe
        # A whole rotation, then the first renames of the next one: the copy's name holds another file
        # by the time each scan compares it (and no other file listed is renamed at the second).
        overtaking = [rotate, shift]

        def observe_then_rotate():
            obs = observe()  # lists the copy under its name …
            if overtaking:
                overtaking.pop(0)()  # … which the rotation gives to another file before it is compared
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(2)
            assert os.stat(d / "app.log.3").st_ino == backup  # (the copy, renamed twice)
            f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines() if r.startswith(b"{")], range(n))
        lost = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
        assert not [m for m in lost if "no copy" in m], lost  # (the copytruncate window is warned: documented)
    finally:
        f.tailer.close()


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
def test_a_live_file_renamed_during_its_first_scan_into_a_backup_is_read_there_no_loss(tmp_path, caplog, pattern):
    """Attack 8's storm (tests/tail/test_attack8_storm_false_losses.py): the writer's new file, listed by a
    scan at the live name, is rotated before the scan can open it. Under its backup's name it is the
    same file: read there, nothing lost. With `app.log*` the glob lists app.log.1 directly, and it was
    taken for a live name ("content moves away from a live name, not onto it"): the file was read as
    another, and the one never opened warned lost ("never read … renamed during the scan that found
    it"), every line delivered."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(_line(0))
    f = Follower([d / pattern], d)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")
        log.write_bytes(_line(1))  # the writer's next file: listed, not opened yet …
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            f.tailer.prospector.observe = observe
            obs = observe()
            os.unlink(d / "app.log.1")  # … rotated (one backup kept) before it is opened
            os.rename(log, d / "app.log.1")
            log.write_bytes(_line(2))
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()
        f.settle()
        assert_exactly_once([json.loads(r)["seq"] for r in f.lines()], [0, 1, 2])
        assert [r.getMessage() for r in caplog.records if "lost" in r.getMessage()] == []
    finally:
        f.tailer.close()
