"""Real Log4j writers (Debian's log4j 1.2.17 and 2.19 jars) rotating under the follower."""
from __future__ import annotations

import time

import pytest

from shipper.tail.holder import Holder
from tests.java.writers import log4j2_config
from tests.tail.conftest import Follower, assert_exactly_once

pytestmark = pytest.mark.slow


def follow_while(proc, follower: Follower, every: float = 0.02, holder: Holder | None = None) -> None:
    """Poll while the writer runs; with a holder, as the file source runs it beside the tailer (it is told
    what the tailer has open after each pass, and what it could not catch is reported)."""

    def one_pass():
        follower.poll()
        if holder is not None:
            holder.follow({str(p) for p in follower.patterns}, follower.tailer.known_open())
            if holder.owing():
                follower.tailer.report_escapes()

    while proc.poll() is None:
        one_pass()
        time.sleep(every)
    assert proc.returncode == 0
    follower.settle()
    if holder is not None:
        # As the file source does: asked again while the holder owes creations, and at the stop. A creation
        # is named an escape once it has stayed owed SETTLE_SECONDS (3 s): files a starved holder missed
        # near the writer's end were still owed after settle()'s 1.5 s, and the test found them missing
        # with no loss counted (load 20-30: 348 lines, 4 creations owed; named 3 s later).
        deadline = time.monotonic() + 60
        while holder.owing() and time.monotonic() < deadline:
            one_pass()
            time.sleep(0.2)
        follower.tailer.report_escapes(stopping=True)


@pytest.mark.parametrize("every", [0.02, 0.5])
@pytest.mark.parametrize("backups", [1, 3, 10])
def test_log4j1_rotation_while_running(tmp_path, log4j, backups, every):
    """With the holder the file source runs beside the tailer. Polling alone, a follower starved of CPU
    (load 13: 174 lines, one whole 4000-byte file, with 1 backup at 1,500 lines/s) misses a file made and
    deleted between two passes, neither read nor counted (docs/operations.md, the limit without inotify);
    the holder keeps such files open as they appear, and what even it could not catch is warned and
    counted. `every` 0.5: the follower starved on purpose (~4 rotations between two passes)."""
    log = tmp_path / "useraction.log"
    f = Follower([log], tmp_path)
    holder = Holder()
    assert holder.start()
    f.tailer.holder = holder
    try:
        proc = log4j.log4j1(log, 4000, backups, 0, 2000, rate=1500, wait=False)
        follow_while(proc, f, every, holder)
    finally:
        holder.stop()
    seqs = f.seqs()
    if f.tailer.losses == 0:  # nothing warned: nothing may be missing
        assert_exactly_once(seqs, range(2000))
    else:  # a warned, counted loss (the holder starved too): nothing repeated or made up
        assert len(seqs) == len(set(seqs)) and set(seqs) <= set(range(2000)), "lines repeated or made up"
    assert f.lost == 0  # (an escape's size is unknown: counted in losses, not in bytes)
    if every < 0.1:
        assert f.tailer.rotations >= 5


@pytest.mark.parametrize("backups", [1, 3, 10])
def test_log4j1_rotations_between_reads_and_while_stopped(tmp_path, log4j, backups):
    """Up to N rotations between two reads, then up to N rotations while "stopped" (a new
    follower built from the committed state): every line exactly once, no loss reported."""
    log = tmp_path / "useraction.log"
    f = Follower([log], tmp_path)
    log4j.log4j1(log, 4000, backups, 0, 100)
    f.poll()
    # ~180 lines per file: N rotations in this run (the live file holds 100 lines already)
    n = 180 * backups
    log4j.log4j1(log, 4000, backups, 100, n)
    f.poll()
    f.restart()
    log4j.log4j1(log, 4000, backups, 100 + n, n)
    f.settle()
    assert_exactly_once(f.seqs(), range(100 + 2 * n))
    assert f.lost == 0


def test_log4j1_more_rotations_than_backups_while_stopped_is_reported(tmp_path, log4j):
    log = tmp_path / "useraction.log"
    f = Follower([log], tmp_path)
    log4j.log4j1(log, 4000, 2, 0, 150)
    f.poll()
    log4j.log4j1(log, 4000, 2, 150, 20)  # unread lines in the file we follow …
    f.restart()
    log4j.log4j1(log, 4000, 2, 170, 1500)  # … deleted by ~8 rotations while stopped
    f.settle()
    seqs = f.seqs()
    assert len(seqs) == len(set(seqs))
    assert set(range(150, 170)).isdisjoint(seqs)
    # The follower never saw those 20 lines: it cannot count them, but it must say that the
    # file it followed went through more rotations than there are backups.
    assert f.tailer.losses >= 1
    assert set(range(1300, 1670)) <= set(seqs)  # what still exists is read


def test_log4j1_max_backup_index_0_truncates_in_place(tmp_path, log4j):
    log = tmp_path / "useraction.log"
    f = Follower([log], tmp_path)
    proc = log4j.log4j1(log, 3000, 0, 0, 1500, rate=1000, wait=False)
    follow_while(proc, f, every=0.01)
    seqs = f.seqs()
    assert len(seqs) == len(set(seqs)), "a truncated file's old lines were sent again"
    # Log4j truncates without a trace; what the follower saw before must all be there, and
    # whatever it could not read is either reported or absent from the file at truncation.
    missing = set(range(1500)) - set(seqs)
    assert not missing or f.lost > 0 or f.tailer.rotations > 0
    assert f.tailer.rotations >= 5


@pytest.mark.parametrize("pattern,strategy", [
    ("app.log.%i", 'fileIndex="max" max="4"'),
    ("app.log.%i", 'fileIndex="min" max="4"'),
    ("app-%d{{yyyy-MM-dd}}-%i.log", 'max="50"'),
])
def test_log4j2_rolling_file(tmp_path, log4j, pattern, strategy):
    xml = log4j2_config(tmp_path / "log4j2.xml", tmp_path, pattern.replace("{{", "{").replace("}}", "}"),
                        size=4000, strategy=strategy)
    f = Follower([tmp_path / "app.log"], tmp_path)
    proc = log4j.log4j2(xml, 0, 2500, rate=1500, wait=False)
    follow_while(proc, f)
    # then rotations while stopped (fewer than the window)
    f.restart()
    log4j.log4j2(xml, 2500, 500)
    f.settle()
    assert_exactly_once(f.seqs(), range(3000))
    assert f.lost == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) > 3, names
