"""Attack 25 (issue 21, examiner exam25i): an older copy of the live log restored over it while the agent is stopped
is read again from its start, its repeat unnamed.

An operator restores app.log from last night's backup (`mv /backup/app.log /var/log/app/app.log`, or a restore
tool renaming its temporary file over it): the restored file holds the first 100 of the 200 lines the agent read.
While the agent runs, the same rename is named (`app.log was replaced by a new file (renamed over it) that begins
with the first 6317 bytes (whole lines) of what was read … those bytes are shipped again`). Done while the agent is
stopped, the start ships those 100 lines a second time (new ids: a deduplicating tier keeps both) and says only
`data lost: an unknown number of bytes of app.log written after the last read: the file was rotated away …`;
nothing names the repeat. 2 of 2 by hand. (With `cp` over the live file, in place, while stopped: the same 100
lines repeated, the journal says only `data possibly lost … truncated in place`; while running, nothing repeated.)

What should happen: the repeat is named with its size, as while running (docs/operations.md: "never silent").
(Session 26: a live file's checkpoint keeps marks at doubling read positions, FileState.spaced; a file at the live
name beginning with what was read up to one of them is read as new and its repeat named; and the same inode cut and
written again, `cp` of the backup over it, truncation.edited_while_away.)
"""
from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.tail.attack18_agent import Agent, append


@pytest.mark.slow
@pytest.mark.parametrize("how", ["mv", "cp"])
def test_an_older_copy_restored_over_the_live_log_while_stopped_names_its_repeat(tmp_path, how):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    agent = Agent(tmp_path, [str(live)])
    append(live, 0, 100)
    shutil.copyfile(live, tmp_path / "backup.log")      # last night's backup
    append(live, 100, 100)
    agent.start()
    agent.wait_seqs(range(200))
    time.sleep(1)
    agent.stop()
    if how == "mv":
        os.rename(tmp_path / "backup.log", logs / ".restore.tmp")
        os.rename(logs / ".restore.tmp", live)          # restored over the live log
    else:
        shutil.copyfile(tmp_path / "backup.log", live)  # copied over it, in place
    agent.start()
    time.sleep(5)
    agent.stop()

    repeated = len(agent.seqs()) - len(set(agent.seqs()))
    assert sorted(set(agent.seqs())) == list(range(200))
    named = [w for w in agent.warnings() if "shipped again" in w or "re-read" in w or "repeat" in w]
    assert repeated == 0 or named, f"{repeated} lines shipped twice, unnamed: " + repr(agent.warnings())
