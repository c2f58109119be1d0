"""Black-box attack 12 (operator): during a maintenance stop the live log, read whole, is scrubbed with `sed -i` and
then rotated (logrotate `create` ran before the agent was started again).

Found (by hand 3/3, /tmp/af12/ews.py VAR=mid_rot): the edited copy, now app.log.1, is read from its start: its 999
lines, all delivered before the stop, are shipped again, and the journal says two false things: `data lost: an
unknown number of bytes of app.log written after the last read: the file was rotated away before the rest could be
read` (nothing was written after the last read; nothing is lost) and `could not tell whether app.log.1 is a copy
of app.log (it holds no more than their shared first line …): if it is a copy, its lines are repeated` (it holds
999 of the 1,000 lines read). The same edit without the rotation is placed by hash and warned, nothing repeated;
a file stopped half read, edited in its unread part and rotated, holds.

Promised: docs/operations.md "A live log trimmed or edited in place": an edit made while the agent was stopped is
read on from where what was read ends (warned), or "read again from its start and the repeat is named and counted
… `re-read N bytes of app.log`"; README: loss is loud, and only a loss is called one."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, copy_onto_freed_inode, exactly_once

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("rotation", ["create", "copytruncate_onto_the_freed_inode"])
def test_a_live_log_edited_then_rotated_while_stopped_names_no_false_loss_and_no_silent_repeat(tmp_path, rotation):
    """copytruncate, the copy on the inode `sed -i` freed (ext4 gives it to the next file made; race13, session 16):
    the copy was passed over as the content's own inode (another generation) and read again whole, 999 lines twice,
    and the content called lost. Now placed as `create`'s renamed file is."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        time.sleep(1)
    finally:
        assert agent.stop() == 0, agent.errors()
    freed = log.stat().st_ino
    subprocess.run(["sed", "-i", '/"seq": 500,/d', str(log)], check=True)  # the scrub
    if rotation == "create":
        log.rename(logs / "app.log.1")  # the writer's next lines go to a new app.log
    else:
        copy_onto_freed_inode(log, logs / "app.log.1", freed)
        os.truncate(log, 0)
    append_numbered(log, 1000, 1100)
    agent.start()
    try:
        assert agent.wait_delivered(range(1000, 1100), 60), exactly_once(agent.seqs(), range(1100))
        agent.get("/status")
        time.sleep(1)  # repeats and warnings written with the last lines show too
    finally:
        agent.stop()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(1100))
    lost = [line for line in journal.splitlines() if "data lost" in line]
    assert not lost, f"nothing was lost, but: {lost[0][:400]}"
    assert not wrong or "re-read" in journal or "shipped again" in journal, f"{wrong}, the repeat not named"
    # (edits12: placed by the checkpoint's hash, as the same edit without the rotation is: nothing repeated, one warning.)
    assert not wrong, f"{wrong}; journal: {journal[-1500:]}"
    assert journal.count(f"{logs / 'app.log.1'} is an edited copy of {log} as read before the stop") == 1, journal[-1500:]
    assert "could not tell whether" not in journal, journal[-1500:]
