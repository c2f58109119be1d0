"""A rotation right before a stop, then rotated past its backups while stopped: every lost line named (issue 21,
exam21's find 4, tests/tail/test_attack18_rotation_right_before_stop.py, made deterministic here).

logrotate `create`, `rotate 2`. The agent follows the live file, empty when it last looked; 20 lines are written and
the log rotates, and the stop comes before the agent has looked again: the file with the 20 lines is under app.log.1,
unread, and the new live file is one the agent never saw. The stop identified the first (the stop identifies the
followed files it had not: letting_go.know_unread_at_stop) and saved it with the size it had when the agent saw it
empty: nothing unread. While the agent is stopped the log is written and rotated four times, which deletes that file
and the two made after it. The next start found nothing missing that had been unread, and named nothing (80 lines
lost; a kill -9 at the same moment names them as the live file's, "an unknown number of bytes"). Now the stop saves
the unread file with its size, and the live file it finds at the live name, so that the next start names both
(also when the writer gave the new live file its header at once, as Log4j does: the stop took no file starting
with a known first line, and that one went unsaved).
The holder is stepped by the test (paused: it saw none of it), as the stop within ms of the rotation found it.
Session 26: the stop's look at the live name (87492bf, withdrawn in 280469f for a false loss with `paths: [app.log*]`)
is back, but not at the name of a backup a glob lists as a family of its own (letting_go._follow_live_unseen)."""
from __future__ import annotations

import json
import logging
import os

import pytest

from tests.tail.stepped_holder import stepped_holder

HEADER = "#HEADER app v1 layout=json"  # every file starts with it, as a Log4j layout header


def _append(path: str, first: int, count: int) -> list[int]:
    with open(path, "a") as f:
        if f.tell() == 0:
            f.write(HEADER + "\n")
        for seq in range(first, first + count):
            f.write(json.dumps({"seq": seq, "pad": "x" * 40}) + "\n")
    return list(range(first, first + count))


def _seqs(lines: list[bytes]) -> list[int]:
    return [json.loads(x)["seq"] for x in lines if x != HEADER.encode()]


def _rotate(log: str, header: bool = False) -> None:
    """logrotate `create`, `rotate 2`; `header`: the writer gives the new file its header at once (Log4j)."""
    if os.path.exists(log + ".2"):
        os.unlink(log + ".2")
    if os.path.exists(log + ".1"):
        os.rename(log + ".1", log + ".2")
    os.rename(log, log + ".1")
    with open(log, "w") as f:
        f.write(HEADER + "\n" if header else "")


@pytest.mark.parametrize("header", [False, True], ids=["empty", "header"])
def test_lines_of_a_rotation_right_before_a_stop_deleted_while_stopped_are_named(tmp_path, caplog, header):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    written = _append(log, 1, 20)
    with stepped_holder(log, d) as h:
        f = h.f
        h.scan_and_read()
        _rotate(log)
        h.turn()
        h.scan_and_read()
        h.scan_and_read()  # the live file, empty, followed
        assert sorted(_seqs(f.lines())) == written
        written += _append(log, 21, 20)
        unread = os.path.getsize(log)
        _rotate(log, header)
        # The stop, as the file source makes it (plugins/sources/file.py, FileSource.run's end and _let_go), before
        # the agent looked again. (Without the holder's let-go, its entries stayed in the checkpoint, and the next
        # start named the file it held as held "when it ended without a stop": a third warning a real stop does
        # not give.)
        t = f.tailer
        t.bury_deleted(f.emit)
        t.report_escapes(stopping=True)
        t.know_unread_at_stop()
        t.flush(f.emit)
        named: set = set()
        h.holder.stop(lambda held: named.update(t.ledger.let_go([(x.fd, x.family, x.read) for x in held],
                                                                "the agent stopped")))
        t.bury_let_go(named)
        t.flush(f.emit)
    for first in (41, 71, 101, 131):
        written += _append(log, first, 30)
        _rotate(log, header)
    f.restart()
    with caplog.at_level(logging.INFO):
        f.settle()
        f.settle()
    lost = sorted(set(written) - set(_seqs(f.lines())))
    assert lost == list(range(21, 101))  # the file of the rotation before the stop, and the two after it
    warned = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    # The file rotated right before the stop, by its size (it was in app.log.1 at the stop), and what came after
    # it by the live name, each once: of unknown size when the new live file was empty at the stop; when it held
    # its header, a possible loss (other files start with that line: nothing tells whether its lines are in them).
    after = (f"data possibly lost: {len(HEADER) + 1} bytes or more of {log}," if header
             else f"data lost: an unknown number of bytes of {log} ")
    assert len(warned) == 2, warned
    # (The live file empty at the stop, the rotated one's writer may have written on to it after the stop, as with
    # logrotate `create` before the writer reopens: "or more", gone.mark_written_on. Its header there, it had moved on.)
    rotated = f"data lost: {unread} bytes or more of {log}.1 " if not header else f"data lost: {unread} bytes of {log}.1 "
    assert sum(w.startswith(rotated) for w in warned) == 1, warned
    assert sum(w.startswith(after) for w in warned) == 1, warned
