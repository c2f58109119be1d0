"""Black-box attack 12 (operator): a leaked secret scrubbed with `sed -i` from a rotated backup the agent had read
whole, while the agent was stopped (a maintenance window: `systemctl stop shipper`, scrub, start).

Found (by hand 6/6, `paths: [app.log]` and `[app.log*]`; also when the edited backup was then gzipped or rotated
once more before the start): the edited backup (a new inode) is read from its start as a new file: its 999 lines,
all delivered before the stop, are shipped a second time and nothing says so (no warning at all, not even at info).
The same `sed -i` on the *live* log while stopped is placed by the checkpoint's hash and warned, and an edit of the
backup's last line is held too; `sed -i app.log.1 app.log` together warns the live file's edit and repeats the
backup's 999 lines silently.

Promised: docs/operations.md "A live log trimmed or edited in place": "The same holds for a rotated backup
(`sed -i app.log.1`)"; an edit made while the agent was stopped is placed by the bytes before the read offset and
read on from there (warned), and when that cannot be proven "the file is read again from its start and the repeat
is named and counted, never silent: `re-read N bytes of …`". README: nothing repeated.

Now (edits12): the edited backup, under its name, compressed, or rotated on, is placed by the checkpoint's hash of
the bytes before the read offset (found once past its unchanged head, as for the live log) and read on from there:
every line once, and one warning names it as an edited copy of the backup read."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("then, glob", [("nothing", False), ("gzip", False), ("rotate", False), ("nothing", True),
                                         ("both", False)],
                         ids=["edited", "edited-then-compressed", "edited-then-rotated-on", "edited-glob-lists-backups",
                              "backup-and-live-edited"])
def test_a_backup_edited_while_stopped_is_not_shipped_again_unnamed(tmp_path, then, glob):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [f"{log}*" if glob else log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        log.rename(logs / "app.log.1")  # rotated (create): the writer's next lines go to a new app.log
        append_numbered(log, 1000, 1500)
        assert agent.wait_delivered(range(1500), 60), exactly_once(agent.seqs(), range(1500))
        time.sleep(1)  # a checkpoint commit past the last batch (a clean stop saves it anyway)
    finally:
        assert agent.stop() == 0, agent.errors()
    # Maintenance window: the secret on line 500 scrubbed from the backup.
    subprocess.run(["sed", "-i", '/"seq": 500,/d', str(logs / "app.log.1")], check=True)
    if then == "both":  # the live log's secret too, in the same maintenance window
        subprocess.run(["sed", "-i", '/"seq": 1200,/d', str(log)], check=True)
    if then == "gzip":
        subprocess.run(["gzip", str(logs / "app.log.1")], check=True)
    elif then == "rotate":  # one more rotation: the edited backup is app.log.2, the live file app.log.1
        (logs / "app.log.1").rename(logs / "app.log.2")
        log.rename(logs / "app.log.1")
    append_numbered(log, 1500, 1600)
    agent.start()
    try:
        assert agent.wait_delivered(range(1500, 1600), 60), exactly_once(agent.seqs(), range(1600))
        agent.get("/status")  # one more round trip: repeats written with the last new lines show too
        time.sleep(1)
    finally:
        agent.stop()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(1600))
    assert not wrong, f"{wrong}; journal: {journal[-1500:]}"
    backup = logs / ("app.log.2" if then == "rotate" else "app.log.1.gz" if then == "gzip" else "app.log.1")
    named = (f"{backup} was replaced by an edited copy of the file it replaced" if backup.name == "app.log.1" else
             f"{backup} is an edited copy of {logs / 'app.log.1'} as read before the stop")
    assert journal.count(named) == 1, journal[-1500:]
    assert journal.count("edited copy") == (2 if then == "both" else 1), journal[-1500:]
    assert "data lost" not in journal and "re-read" not in journal and "shipped again" not in journal, journal[-1500:]
