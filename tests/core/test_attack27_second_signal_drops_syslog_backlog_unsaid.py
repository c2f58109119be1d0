"""Attack 27 (exam27b): the journal on syslog (stderr closed, `2>&-`), the syslog daemon not reading, and a stop
whose signal is sent twice (a supervisor that repeats SIGTERM, Ctrl-C pressed twice; docs/operations.md: "A second
signal exits at once"). Session 26 made the exit count what syslog did not take in the kernel's log, with the last
warnings among it (`syslog (…) did not read the journal: 33 lines of it were left unsent at the exit (31 warnings or
errors among the last 33; the last of them follow)`: test_attack26_syslog_backlog_lost_at_exit_unsaid.py) — after one
signal it does. After a second one, 0.05, 0.3 or 1 s after the first, the agent exits 1 at once and the kernel's log
gets nothing: the ~30 warnings in the backlog, the `stopping` line and the second signal's own `exiting without waiting
for in-flight batches` are gone unsaid (found by hand 3 of 3; one signal alone, the same run: counted). What should
hold: the exit a second signal makes counts the journal's unsent lines as the first signal's exit does (writing a
few lines to /dev/kmsg takes no time). The kernel's log here is a file bind-mounted over /dev/kmsg in a mount namespace
of the agent's own (unshare), as in tests/core/test_attack26_syslog_backlog_lost_at_exit_unsaid.py."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import stop_process, wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))
FIFOS = 40  # each named once: more lines than the socket queues


def test_a_second_signal_still_counts_the_journal_syslog_did_not_take(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(10)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    out = tmp_path / "out.jsonl"
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    path = tmp_path / "syslog.sock"
    script = 'mount --bind "$0" /dev/kmsg && exec "$@" 2>&-'
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog, open(out, "wb") as out_file:
        syslog.bind(str(path))  # bound, never read: a stalled syslog daemon
        agent = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(kmsg),
                                  SHIPPER, "run", "-c", str(cfg)], stdout=out_file,
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            for i in range(FIFOS):
                os.mkfifo(logs / f"pipe{i}.log")
            time.sleep(3)
            agent.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            agent.send_signal(signal.SIGTERM)  # the second signal: exits at once
            code = agent.wait(60)
        finally:
            stop_process(agent, 30)
    said = kmsg.read_text()
    assert code == 1, code
    assert "did not read the journal" in said and "is a FIFO or pipe" in said, \
        f"the journal syslog did not take went unsaid at a second signal's exit; the kernel's log: {said!r}"
