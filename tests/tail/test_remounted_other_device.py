"""The log folder mounted again from another device (issue 21): its files copied onto another file system (a
snapshot restored, a volume re-attached, `cp -a` onto a new disk) and that file system mounted where the old one
was. Same names and bytes, another st_dev (and other inodes): not a new file. Filebeat keys a file by device and
inode and ships it again (its docs say so); the examiner's end-to-end test
(test_attack18_log_folder_remounted_other_device.py) saw every line of app.log shipped twice, unnamed.

The file at the live name holding what was read of the content (its head and the bytes before the read offset,
past a shared header: Matcher.holds_read, as for any other file that holds a content) is that content: read on
from where it was read to, and said once. A copy that does not prove it (older than what was read, or other
bytes) is a new file, read from its start, and that is said too: the lines it shares with the old one come again.

Each folder is a tmpfs of its own (a new st_dev per mount); the copy is made on a second one, mounted beside,
then moved onto the log folder after a lazy unmount of the first (the tailer may still hold a file there)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.fs_faults import unmount
from tests.tail.conftest import Follower

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs: needs root")

HEADER = "#Fields: seq msg\n"  # a header every file of the family has: it proves nothing


def write(path: Path, first: int, n: int) -> None:
    with open(path, "a") as fh:
        if fh.tell() == 0:
            fh.write(HEADER)
        for seq in range(first, first + n):
            fh.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")


def seqs(f: Follower) -> Counter:
    return Counter(json.loads(r)["seq"] for _, r, _ in f.records if not r.startswith(b"#"))


def headers(f: Follower) -> int:
    return sum(r == HEADER.rstrip("\n").encode() for _, r, _ in f.records)


class Remount:
    """The log folder (a tmpfs), and its remount from a copy on another tmpfs."""

    def __init__(self, tmp_path: Path) -> None:
        self.logs, self.spare = tmp_path / "logs", tmp_path / "spare"
        self.mounted: list[Path] = []
        for m in (self.logs, self.spare):
            m.mkdir()
        self._mount(self.logs)

    def _mount(self, at: Path) -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(at)], check=True)
        self.mounted.append(at)

    def remount_from_copy(self, edit=None) -> None:
        """The folder's files copied (cp -a: new inodes) onto another file system, `edit(copy_folder)` applied to
        the copies, and that file system put where the folder was (the old one unmounted lazily: a file the
        tailer holds stays readable through its descriptor, as on a host)."""
        self._mount(self.spare)
        for name in os.listdir(self.logs):
            shutil.copy2(self.logs / name, self.spare / name)
        if edit is not None:
            edit(self.spare)
        before = os.stat(self.logs).st_dev
        subprocess.run(["umount", "-l", str(self.logs)], check=True)
        self.mounted.remove(self.logs)
        subprocess.run(["mount", "--move", str(self.spare), str(self.logs)], check=True)
        self.mounted = [self.logs if m == self.spare else m for m in self.mounted]
        assert os.stat(self.logs).st_dev != before

    def close(self) -> None:
        for m in reversed(self.mounted):
            unmount(m)


@pytest.fixture
def remount(tmp_path):
    r = Remount(tmp_path)
    try:
        yield r
    finally:
        r.close()


def said(caplog, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_the_live_file_remounted_from_another_device_is_read_on_from_where_it_was(remount, caplog, restart):
    caplog.set_level(logging.INFO, logger="shipper")
    log = remount.logs / "app.log"
    write(log, 0, 100)
    f = Follower([log], remount.logs)
    try:
        f.poll()
        assert sum(seqs(f).values()) == 100
        if restart:
            f.tailer.close()
        remount.remount_from_copy()
        write(log, 100, 50)
        if restart:
            f.restart()
        f.poll(3)
        got = seqs(f)
        assert sorted(got) == list(range(150)), f"never read: {sorted(set(range(150)) - set(got))}"
        assert sum(got.values()) == 150, f"read twice: {sorted(s for s, n in got.items() if n > 1)[:10]}…"
        assert headers(f) == 1
        told = said(caplog, "on another device now")
        assert len(told) == 1, told
        assert "app.log" in told[0] and "continuing at" in told[0]
        assert f.lost == 0
    finally:
        f.tailer.close()


def _older(folder: Path) -> None:
    """The copy made before the last 40 lines reached the disk (a snapshot taken a moment early)."""
    data = (folder / "app.log").read_bytes()
    keep = data.split(b"\n")[: 1 + 60]
    (folder / "app.log").write_bytes(b"\n".join(keep) + b"\n")


def _edited(folder: Path) -> None:
    """The copy's lines other than the ones read (another host's log under the same name)."""
    data = (folder / "app.log").read_bytes()
    (folder / "app.log").write_bytes(data.replace(b'"seq": 9', b'"seq": 8'))


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
@pytest.mark.parametrize("edit", [_older, _edited], ids=["older", "other-bytes"])
def test_a_remounted_copy_that_does_not_hold_what_was_read_is_read_as_new_and_said(remount, caplog, restart, edit):
    caplog.set_level(logging.INFO, logger="shipper")
    log = remount.logs / "app.log"
    write(log, 0, 100)
    f = Follower([log], remount.logs)
    try:
        f.poll()
        n = len(f.records)
        if restart:
            f.tailer.close()
        remount.remount_from_copy(edit)
        write(log, 100, 50)
        if restart:
            f.restart()
        f.poll(3)
        new = [r for _, r, _ in f.records[n:]]
        assert new == (remount.logs / "app.log").read_bytes().splitlines(), "the copy is not read whole, once"
        told = said(caplog, "on another device now")
        if restart:  # (the content read before the stop is found nowhere: named with that cause, not "rotated away")
            f.settle()
            told = said(caplog, "on another device now")
            gone = said(caplog, "data lost")
            assert len(gone) == 1 and "on another device now" in gone[0] and "rotated away" not in gone[0], gone
            told = [m for m in told if m not in gone]
        assert len(told) == 1, told
        assert "does not hold what was read" in told[0] and "from its start" in told[0]
    finally:
        f.tailer.close()
