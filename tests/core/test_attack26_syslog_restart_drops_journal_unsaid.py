"""Attack 26 (exam26d): the journal sent to syslog (stderr closed, `2>&-`; docs/operations.md "Standard error closed")
and the syslog daemon restarted — rsyslog or busybox syslogd without socket activation (containers, hosts without
systemd) remove `/dev/log` and bind it again, a second or more apart. The agent reconnects to the new socket (a line
after the restart arrives: that holds), but a line it had to say while the socket was gone is dropped, and nothing
said afterwards tells that journal lines were lost. Found by hand (1 of 1; here 2 of 2): a FIFO matched by the paths
was named while no socket was bound: that warning reached no one, the next warning arrived as if nothing had been
missed. The same holds for a `data lost` line: the operator's one record of a loss. What should hold: lines the
socket refused are kept (within a bound) and sent once it is back, or their number is said when it is. Fixed in
shipper/journal_syslog.py: held in its backlog, a reconnect tried every second."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, bound_syslog, folder_config, numbered, received, stderr_closed
from tests.support import stop_process, wait


def test_journal_lines_said_while_syslog_restarts_are_not_lost_unsaid(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 10))
    cfg = folder_config(tmp_path, logs)
    path = tmp_path / "syslog.sock"
    out = tmp_path / "out.jsonl"
    first = bound_syslog(path)
    with open(out, "wb") as out_file:
        agent = subprocess.Popen(stderr_closed([SHIPPER, "run", "-c", str(cfg)]),
                                 stdout=out_file, env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
        before = received(first)
        time.sleep(1)  # read, then restarted a while later (read and closed at once cannot be told from unread)
        first.close()
        os.unlink(path)  # the syslog daemon stops: its socket goes
        os.mkfifo(logs / "during.log")  # named while no socket is there
        time.sleep(2)
        second = bound_syslog(path)  # and comes back
        time.sleep(0.5)
        os.mkfifo(logs / "after.log")  # named after
        time.sleep(3)
        after = received(second)
        second.close()
    finally:
        stop_process(agent, 30)
    assert any("msg=started" in m for m in before), before
    assert any("after.log" in m for m in after), f"no line reached the socket bound again: {after}"
    kept = any("during.log" in m for m in after)
    counted = any("journal" in m and ("lost" in m or "dropped" in m) for m in after)
    assert kept or counted, f"the line said while syslog was away is gone unsaid; the socket got: {after}"
    # What syslog had read before its restart is not sent again (shipper/journal_syslog.py sends again only what the
    # kernel still counted unread when the old socket closed: test_attack27_syslog_restart_discards_unread_…).
    assert not any("msg=started" in m or "restarted before it had read" in m for m in after), after
