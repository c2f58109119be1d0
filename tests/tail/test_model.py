"""Hypothesis stateful model test (after Vector's file-source model tests): random appends,
partial writes, Log4j- and logrotate-style rotations, truncations, restarts and reads on real
files, checked against a model of what was written and what was destroyed before it was read."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shipper.tail import scan_rules
from tests.tail.conftest import Follower

pytestmark = pytest.mark.slow

BACKUPS = 3
HEADER = b"# time level logger message"  # a layout header every new file starts with (HeaderModel)


class TailModel(RuleBasedStateMachine):
    header = False

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="tailmodel")
        self.live = os.path.join(self.dir, "app.log")
        self.n = 0
        self.written: list[bytes] = []  # complete lines, in order
        self.partial = b""  # started, not finished, in the live file
        self.destroyed: set[bytes] = set()  # lines deleted or truncated away before they were read
        self.seen_inodes: set[int] = set()  # files that existed at some read of the follower
        self.must_report: set[bytes] = set()  # unread lines of deleted files the follower had seen
        self.losses_before = 0  # losses reported by the tailers before the last restart
        self._new_file()
        self.f = Follower([self.live], self.dir)
        self._poll()

    def _poll(self, n=1):
        for name in os.listdir(self.dir):
            self.seen_inodes.add(os.stat(os.path.join(self.dir, name)).st_ino)
        self.f.poll(n)

    def teardown(self):
        self.f.tailer.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- writers
    def _new_file(self) -> None:
        with open(self.live, "wb") as fh:
            if self.header:
                fh.write(HEADER + b"\n")

    def _line(self) -> bytes:
        self.n += 1
        return b"L%d-" % self.n + b"x" * (self.n % 7)

    @rule(k=st.integers(1, 30))
    def append(self, k):
        with open(self.live, "ab") as fh:
            for _ in range(k):
                line = self.partial + self._line() if self.partial else self._line()
                fh.write(line[len(self.partial):] + b"\n")
                self.partial = b""
                self.written.append(line)

    @rule()
    def partial_write(self):
        if self.partial:
            return
        line = self._line()
        self.partial = line[: len(line) // 2]
        with open(self.live, "ab") as fh:
            fh.write(self.partial)
        self._pending_full = line

    def _finish_partial(self):
        if self.partial:
            with open(self.live, "ab") as fh:
                fh.write(self._pending_full[len(self.partial):] + b"\n")
            self.written.append(self._pending_full)
            self.partial = b""

    def _destroy(self, path, deleting=True):
        """Records the unread lines of a file about to be deleted or truncated. Only a deleted
        file the follower had seen must be reported: a file written and truncated (or created
        and deleted) between two reads leaves nothing any follower could notice."""
        if os.path.exists(path):
            seen = set(self.f.lines())
            with open(path, "rb") as fh:
                for line in fh.read().split(b"\n"):
                    if line and line != HEADER and line not in seen:
                        self.destroyed.add(line)
                        if deleting and os.stat(path).st_ino in self.seen_inodes:
                            self.must_report.add(line)

    def _shift(self):
        oldest = f"{self.live}.{BACKUPS}"
        self._destroy(oldest)
        if os.path.exists(oldest):
            self.seen_inodes.discard(os.stat(oldest).st_ino)  # ext4 hands the number out again
            os.unlink(oldest)
        for i in range(BACKUPS - 1, 0, -1):
            if os.path.exists(f"{self.live}.{i}"):
                os.rename(f"{self.live}.{i}", f"{self.live}.{i + 1}")

    @rule()
    def log4j_rotate(self):
        self._finish_partial()  # Log4j writes whole events before it rolls over
        self._shift()
        os.rename(self.live, self.live + ".1")
        self._new_file()

    @rule(rounds=st.integers(1, 5), k=st.integers(1, 10))
    def frozen(self, rounds, k):
        """The agent frozen (SIGSTOP) or its output down: the writer appends and rotates, nobody reads."""
        for _ in range(rounds):
            self.append(k)
            self.log4j_rotate()

    @rule()
    def logrotate_copytruncate(self):
        self._finish_partial()
        self._shift()
        shutil.copyfile(self.live, self.live + ".1")
        os.truncate(self.live, 0)

    @rule()
    def truncate_in_place(self):  # Log4j MaxBackupIndex=0
        self._finish_partial()
        self._destroy(self.live, deleting=False)
        os.truncate(self.live, 0)

    # -- the follower
    @rule()
    def read(self):
        self._poll()

    @precondition(lambda self: all(f.state is not None for f in self.f.tailer.files.values())
                  and open(self.live, "rb").read().count(b"\n") > 0)
    @rule()
    def restart(self):
        """Only while every followed file has a fingerprint (a complete line). Known gap: a file with no complete line
        has no fingerprint, only its inode; if it is rotated away more times than there are
        backups while the agent is stopped and ext4 gives its inode to the new live file, the
        restart cannot tell, and that loss goes unreported."""
        self.losses_before += self.f.tailer.losses  # a new process counts from 0
        self.f.restart()
        self._poll()

    @invariant()
    def nothing_twice_nothing_invented(self):
        lines = [x for x in self.f.lines() if x != HEADER]  # the header is the same in every file
        assert len(lines) == len(set(lines)), "a line was emitted twice"
        assert set(lines) <= set(self.written), "a line was emitted that was never written"

    @invariant()
    def no_key_names_two_lines(self):
        """A record key (hashed into the stable event id) names one line: two lines under one key are one
        event to a tier deduplicating by id, which drops the second (a truncated file's new lines given
        the old ones' keys, when every file starts with the same header)."""
        named: dict[str, bytes] = {}
        for key, line, _flags in self.f.records:
            assert named.setdefault(key, line) == line, f"key {key} names {named[key]!r} and {line!r}"

    def settle_and_check(self):
        self._finish_partial()
        self._poll(3)
        emitted = set(self.f.lines()) - {HEADER}
        missing = set(self.written) - emitted
        assert missing <= self.destroyed, f"lost without being destroyed: {sorted(missing)[:5]}"
        if missing & self.must_report:
            assert self.losses_before + self.f.tailer.losses > 0, "data was lost without a report"


class CheckedModel(TailModel):
    def teardown(self):
        try:
            self.settle_and_check()
        finally:
            super().teardown()


class HeaderModel(CheckedModel):
    """Every new file starts with the same line: only the bytes after it tell files apart. Checked at the end as
    the plain model is (the loss it found unreported in session 13 is the test below)."""

    header = True


@pytest.mark.parametrize("model", [CheckedModel, HeaderModel], ids=["plain", "header"])
def test_tail_model(monkeypatch, model):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)  # the model's scans come fast
    model.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                       suppress_health_check=list(HealthCheck))
    model.TestCase().runTest()


def test_header_model_line_of_a_file_rotated_out_unread_is_reported(monkeypatch):
    """HeaderModel's checked run, shrunk by hypothesis (session 13): the follower has read app.log's header;
    the writer writes one line and rotates four times with three backups (the file with
    the line deleted) before the next read; then a restart. The line was lost and no loss counted: the
    state of which only the header was read was taken by a same-headed backup (its bytes prove nothing
    either way). Its inode gone, it was deleted (a rotation renames, it does not copy and delete): no plain
    file is a candidate for it any more, and the loss is counted (Prospector._own_inode_left)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    m = HeaderModel()
    try:
        m.partial_write()
        for _ in range(4):
            m.log4j_rotate()
        m.restart()
        m.settle_and_check()
    finally:
        TailModel.teardown(m)  # (checked above)


def test_header_model_content_whose_inode_another_file_took_is_not_given_a_backup(monkeypatch):
    """HeaderModel's checked run as hypothesis found it failing in session 14 (edits12's run), shrunk: the follower
    has read only the header of app.log (A); a line is written to A, and four rotations with three backups delete
    it unread while the agent is stopped; a restart (A's content left loose, missing once); two rotations give
    A's inode to the writer's next file (ext4 reuses a freed inode at once), a line is written to it and read
    after a restart (A's content not taken for it: another generation). At the next restart that file's
    content takes its inode first, and A's content, of which only the header was read, counted its inode as
    still there (listed) and took a same-headed backup: the line written to A was lost without a word. Its
    inode held by a content of another generation, A was deleted, and its loss is counted
    (Prospector._own_inode_left). (The reuse of inode numbers is the file system's: the run fails 7 of 8
    unfixed on ext4.)"""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    m = HeaderModel()
    steps = ["log4j_rotate", "read", "partial_write"] + ["log4j_rotate"] * 4 + [
        "restart", "log4j_rotate", "log4j_rotate", "partial_write", "append", "restart", "restart"]
    try:
        for step in steps:
            m.append(1) if step == "append" else getattr(m, step)()
            m.nothing_twice_nothing_invented()
            m.no_key_names_two_lines()
        m.settle_and_check()
    finally:
        TailModel.teardown(m)  # (checked above)
