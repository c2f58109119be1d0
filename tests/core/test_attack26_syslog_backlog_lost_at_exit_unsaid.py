"""Attack 26 (exam26d), after 05e92e3 (a syslog that stops reading no longer stops the agent: lines it does not take
wait in a 1,000-line backlog, "then are dropped and counted in one line"): the journal on syslog (stderr closed,
`2>&-`), the syslog daemon not reading, and the agent stopped (SIGTERM) while its backlog holds lines. The stop ends
on time (exit 0, 3.1-3.4 s), but whatever the backlog held at the exit — here ~30 warnings, `stopping` and `stopped`;
at a real stop, the stop's own `data lost: … the agent stopped before they were read` — is dropped with the process,
and nothing anywhere says so: not the syslog socket (it held the 11 lines it had taken), not the kernel's log, which
the agent already uses to say why it cannot start without a journal. Found by hand 2 of 2 (40 FIFOs named once each
while syslog did not read). What should hold: lines the agent could not hand to syslog before it ended are named
somewhere (their count, at least, in the kernel's log, as the start's refusal does), or waited for within a bound.
The kernel's log here is a file bind-mounted over /dev/kmsg in a mount namespace of the agent's own (unshare), as in
tests/core/test_stderr_closed_journal_to_syslog.py."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, folder_config, numbered, own_kmsg, received
from tests.support import stop_process, wait

FIFOS = 40



def test_journal_lines_unsent_at_the_exit_are_named(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 10))
    cfg = folder_config(tmp_path, logs, shutdown_timeout=5)
    out = tmp_path / "out.jsonl"
    kmsg = tmp_path / "kmsg"
    path = tmp_path / "syslog.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog, open(out, "wb") as out_file:
        syslog.bind(str(path))  # bound, not read until the agent has ended: a stalled syslog daemon
        agent = subprocess.Popen(own_kmsg(kmsg, [SHIPPER, "run", "-c", str(cfg)], close_stderr=True), stdout=out_file,
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            for i in range(FIFOS):
                os.mkfifo(logs / f"pipe{i}.log")  # each named once: more lines than the socket queues
            time.sleep(3)
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(60)
        finally:
            stop_process(agent, 30)
        got = received(syslog)
    said = kmsg.read_text()
    assert code == 0
    named = [m for m in got if "stopped" in m]
    counted = "syslog" in said or "journal" in said
    assert named or counted, (f"{len(got)} journal lines reached the socket, the last {got[-1][:160] if got else None};"
                              f" the rest and the stop's own lines went unsaid; the kernel's log: {said!r}")
    # Fixed (shipper/journal_syslog.py): what syslog did not take is counted in the kernel's log, the last warnings with it.
    assert "did not read the journal" in said and "left unsent at the exit" in said, said
    assert "is a FIFO or pipe" in said, f"no warning of the unsent ones is in the kernel's log: {said!r}"
