"""A file a scan listed and a rotation renamed before the scan could open it (its placeholder: no generation, only its
birth time from the listing) is not taken for the file the holder holds on its inode later (torture seeds 193122,
193161, 194215, `--overtaken`, with the holder: "3 lines (24 bytes) of app.log.1 deleted unread, 0 bytes named").

The first scan listed the live file empty; 3 lines were written to it and it was rotated before the scan compared it.
The next rotation deleted it unread, and ext4 gave its inode to the writer's next file, which the holder held once it
was rotated away, and a cleaner deleted. A file held and not listed was observed with no birth time: the placeholder,
never opened, took it as itself (its generation taken then), and the lines of the file it stood for went without a
word. The held file's birth time (statx through /proc/self/fd) tells them apart, as a listing's does."""
from __future__ import annotations

import os

import pytest

from shipper.tail import scan_rules
from tests.tail.stepped_holder import stepped_holder
from tests.tail.test_files import write


def rotate(d) -> None:
    """`rotate 1` with `create`: the old backup deleted, the live file renamed, a new empty live file."""
    if os.path.exists(d / "app.log.1"):
        os.unlink(d / "app.log.1")
    os.rename(d / "app.log", d / "app.log.1")
    (d / "app.log").write_bytes(b"")


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_a_placeholder_never_opened_is_not_the_held_file_on_its_reused_inode(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    with stepped_holder(str(log), d) as h:
        t = h.f.tailer
        listed = os.stat(log).st_ino
        observe = t.prospector.observe

        def observe_then_rotate():
            t.prospector.observe = observe
            obs = observe()
            write(log, "seq 0", "seq 1 x", "seq 2 xx")  # the 24 bytes that go unread
            rotate(d)
            return obs

        t.prospector.observe = observe_then_rotate
        h.scan_and_read()
        (placeholder,) = [x for x in t.files.values() if x.ino == listed]
        assert placeholder.unopened and placeholder.fh is None
        rotate(d)  # the file listed deleted with its 3 lines (the holder behind: not held); the writer's next file made
        if os.stat(log).st_ino != listed:
            pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs "
                        "did not happen")
        h.turn()
        rotate(d)  # that file rotated away: the holder holds it
        h.turn()
        os.unlink(d / "app.log.1")  # a cleaner
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        assert not h.f.lines()
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        # (how much it held the agent never saw: of unknown size, counted, naming the file it listed)
        assert len(lost) == 1 and lost[0].startswith(f"data lost: an unknown number of bytes of {log} "), lost
        assert t.losses == 1
