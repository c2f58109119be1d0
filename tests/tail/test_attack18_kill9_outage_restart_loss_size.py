"""Examiner exam13 (session 20): kill -9 during a Fluentd outage while Log4j 1.2 (MaxBackupIndex=2, 2,500 lines/s,
100 KB files) rotates past its backups, the agent restarted at once (still in the outage), the output back later.

What the killed agent's holder held (the files rotated away during the outage) is lost with it: a kill -9 saves
nothing, so the next start can only name it of unknown size (`data lost: an unknown number of bytes of app.log
written after the last read …`, or the live file's unread bytes "or more"). exam13 saw, 2 of 3 with this test, the
held files' loss named as a small certain size (1,036,833 bytes lost, 204,024 named). Session 21 (catchup13): in
both failures reproduced (2 of 6, load 13-24), the only size named was the restarted agent's own stop letting its
held files go (524,016 and 608,544 bytes, exact), and the restarted agent had delivered nothing: the test waited
5 s for lines to stop arriving while the output, at its default `backoff_max` of 30 s, was still waiting to retry;
stopped with its batches undelivered, it had not yet called the killed agent's files gone (that takes two scans,
and the source waits on the full queue). Its lines still on disk, to be read at the next start, were counted lost.
With the output retrying a second apart and the test waiting for every line still on disk to arrive, the killed
agent's loss is named of unknown size (4 of 4 runs, load 20-45). The test is plain: it checks what the restarted
agent names; tests/tail/test_kill9_in_outage_held_files_loss_named.py is its deterministic form.
"""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support import wait
from tests.tail.log4j_outage import Log4jOutage

pytestmark = pytest.mark.slow


def test_kill9_in_outage_restart_names_loss_size_honestly(tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    s = Log4jOutage(tmp_path, tmp_path_factory, lines=60000, rate=2500)
    try:
        s.outage_begins()
        delivered = max(s.delivered())
        # the outage goes on until lines never delivered are in files the writer deleted (only the holder has them)
        assert wait(lambda: s.oldest_on_disk() > delivered + 5000, 60), "the writer did not rotate past the outage"
        s.stop_agent(signal.SIGKILL)
        s.start_again()  # at once, still in the outage
        assert s.writer.poll() is None, "the writer ended before the restart: the attack did not happen"
        s.writer_ends()
        s.peer.start()
        s.settle()
    finally:
        s.close()
    s.assert_every_lost_byte_named()
