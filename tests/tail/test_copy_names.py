"""The names of contents found only in copytruncate copies after a restart (shipper/tail/copy_names.py): a kill -9
replay read back from a later copy keeps the record keys its lines were delivered with, and no key ever names two
lines (a tier deduplicating by id would drop the second).

The first run reads a log, sees it copytruncated (or not: its checkpoint of before the cut is the one restored), reads
the lines written after the cut and is killed before that is committed; while it is down the log is copytruncated
again (or copied without a cut, logrotate `copy`). The replay starts from the committed checkpoint."""
from __future__ import annotations

import copy
import logging
import os
import shutil
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shipper.tail import scan_rules
from tests.support import wait
from tests.tail.conftest import Follower

HEADER = b"# time level logger message\n"


def lines(lo: int, hi: int) -> bytes:
    return b"".join(b"line %d %s\n" % (i, b"x" * (i % 13)) for i in range(lo, hi))


class Log:
    """A live log and its writer (appending, or writing at its own offset as `prog > app.log` does)."""

    def __init__(self, folder, append: bool = True, header: bool = True) -> None:
        self.folder, self.header = folder, header
        self.live = folder / "app.log"
        self.append = append
        self.fd = os.open(self.live, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0), 0o644)
        self.new_content()

    def new_content(self) -> None:
        if self.header:
            self.write(HEADER)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def rotate(self, cut: bool = True, keep: int = 5) -> None:
        """logrotate's `copytruncate` (or `copy`: cut=False) with `rotate keep`."""
        for i in range(keep - 1, 0, -1):
            if (self.folder / f"app.log.{i}").exists():
                os.rename(self.folder / f"app.log.{i}", self.folder / f"app.log.{i + 1}")
        shutil.copyfile(self.live, self.folder / "app.log.1")
        if cut:
            os.truncate(self.live, 0)
            self.new_content()


def keys(*followers: Follower) -> dict[str, set[bytes]]:
    named = defaultdict(set)
    for f in followers:
        for key, line, _flags in f.records:
            named[key].add(line)
    return named


def key_by_line(f: Follower) -> dict[bytes, str]:
    return {line: key for key, line, _flags in f.records}


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def read_until_delivered(f: Follower, wanted: bytes) -> None:
    """Polls until f has delivered every line of `wanted`, then MISSING_SCANS polls more: the moment the first run is
    killed. Not Follower.settle's 1.3 s, which waits for files missing to be declared gone: what this run does after
    it delivered the lines is never committed (its kill -9 loses it), and in none of the 240 cases the property draws
    from did a later poll of that settle emit a line or change a checkpoint (session 29: 1.4 s of each case's 2.8)."""
    want = set(wanted.splitlines())

    def delivered() -> bool:
        f.poll()
        return want <= set(f.lines())

    wait(delivered, timeout=30, every=0.05)  # (not delivered: the tests' assertions say so)
    f.poll(scan_rules.MISSING_SCANS)


def replay(tmp_path, committed: dict) -> Follower:
    r = Follower([tmp_path / "app.log"], tmp_path)
    r.tailer.close()
    r.state = committed
    r.restart()
    r.settle()
    return r


def run(tmp_path, *, append: bool, header: bool, cut_seen: bool, copies_while_down: list[bool],
        caplog=None) -> tuple[Follower, Follower]:
    log = Log(tmp_path, append=append, header=header)
    log.write(lines(0, 100))
    first = Follower([log.live], tmp_path)
    first.poll(2)
    log.rotate()
    if cut_seen:
        first.poll()
    committed = copy.deepcopy(first.state)
    log.write(lines(100, 130))
    read_until_delivered(first, lines(100, 130))
    first.tailer.close()  # (a kill -9: the state since `committed` is not saved)
    n = 130
    for cut in copies_while_down:
        log.rotate(cut=cut)
        log.write(lines(n, n + 10))
        n += 10
    os.close(log.fd)
    if caplog is not None:
        caplog.clear()  # (what the replay says)
    return first, replay(tmp_path, committed)


@pytest.mark.parametrize("append", [True, False], ids=["O_APPEND", "own-offset"])
@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
@pytest.mark.parametrize("cut_seen", [False, True], ids=["cut-unseen", "cut-seen"])
def test_a_replay_read_back_from_a_later_copy_keeps_its_keys(tmp_path, fast_missing, append, header, cut_seen):
    """The lines read after the first cut and not committed are in app.log.1 after a copytruncate while the agent
    was down: read back from there, they get the keys they were delivered with (they got new ones: shipped twice,
    no tier could drop them)."""
    first, again = run(tmp_path, append=append, header=header, cut_seen=cut_seen, copies_while_down=[True])
    assert set(lines(100, 130).splitlines()) <= set(first.lines()), first.lines()
    delivered, replayed = key_by_line(first), key_by_line(again)
    assert {line: replayed.get(line) for line in lines(100, 130).splitlines()} == \
        {line: delivered[line] for line in lines(100, 130).splitlines()}
    assert not {k: v for k, v in keys(first, again).items() if len(v) > 1}


@pytest.mark.parametrize("copies_while_down", [[True, True], [True, False], [False, True], [True, True, True]],
                         ids=["copytruncate-twice", "copytruncate-then-copy", "copy-then-copytruncate", "thrice"])
@pytest.mark.parametrize("cut_seen", [False, True], ids=["cut-unseen", "cut-seen"])
def test_no_key_names_two_lines_across_copies_made_while_down(tmp_path, fast_missing, copies_while_down, cut_seen):
    """A shared header, and several copies made while the agent was down, with and without a cut after each: every
    line written is delivered, and no key names two lines (each copy is named after the content before it, the live
    file after the newest it does not begin with)."""
    first, again = run(tmp_path, append=True, header=True, cut_seen=cut_seen, copies_while_down=copies_while_down)
    assert not {k: v for k, v in keys(first, again).items() if len(v) > 1}
    got = set(first.lines()) | set(again.lines())
    n = 130 + 10 * len(copies_while_down)
    assert set(lines(0, n).splitlines()) <= got


@pytest.mark.parametrize("copies_while_down", [[True], [True, True], [True, False], [False, True], [False]],
                         ids=["copytruncate", "copytruncate-twice", "copytruncate-then-copy", "copy-then-copytruncate",
                              "copy"])
def test_each_copytruncate_window_while_down_is_named_once_after_a_cut_seen(tmp_path, fast_missing, caplog,
                                                                           copies_while_down):
    """The cut seen and the live file saved empty (a placeholder), then written to and copied while the agent was
    down: each copy the live file was cut after is a copytruncate window, named once at the restart; a copy without a
    cut (logrotate `copy`) is none. (The window went unsaid: lines written between the copy and the cut lost without a
    word.)"""
    caplog.set_level(logging.WARNING)
    run(tmp_path, append=True, header=False, cut_seen=True, copies_while_down=copies_while_down, caplog=caplog)
    windows = [r.getMessage() for r in caplog.records if "written between the copy to" in r.getMessage()]
    assert len(windows) == sum(copies_while_down), windows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.booleans(), min_size=1, max_size=4), st.booleans(), st.booleans(), st.booleans())
def test_keys_name_one_line_whatever_the_rotations_while_down(tmp_path_factory, copies_while_down, cut_seen, header,
                                                             append):
    """The rule is general: whatever copies and cuts were made while the agent was down, no record key names two
    lines, and the lines replayed from a copy keep their keys."""
    scan_rules.MISSING_SECONDS, saved = 0.0, scan_rules.MISSING_SECONDS
    try:
        tmp = tmp_path_factory.mktemp("names")
        first, again = run(tmp, append=append, header=header, cut_seen=cut_seen, copies_while_down=copies_while_down)
    finally:
        scan_rules.MISSING_SECONDS = saved
    assert not {k: v for k, v in keys(first, again).items() if len(v) > 1}
    if copies_while_down[0]:
        delivered, replayed = key_by_line(first), key_by_line(again)
        assert all(replayed.get(line) in (None, delivered[line]) for line in lines(100, 130).splitlines())
