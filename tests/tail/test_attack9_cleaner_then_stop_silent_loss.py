"""Black-box attack 9 (issues 13 and 21's held-out checks, played by an examiner): a cleaner, then a stop.
A batch job writes its audit trail as 30 files sharing a header in `jobs/*.log`; a cleaner deletes them as
soon as the job is done. Meanwhile the agent gets no CPU (SIGSTOP: a frozen cgroup, a host busy with the
job) and is stopped (SIGTERM: systemctl stop, a deploy) before it runs again; then it is started again.

Promise (issue 13: "when the agent was frozen or stopped, a file that appeared and vanished unread (inotify
create/move events …) is a loss of unknown size in `shipper_losses` and a warning naming the family";
README: "what escapes (budget full, agent frozen) is a warned loss naming the file"; loss is loud): every
line is delivered, or its file is named in a loss warning.

What happened before a stop read the holder's queue (Holder.take_at_stop) (3 of 3 runs with 300 files, 3 of 3
with 30): every file is lost and none is named — no warning
at the stop nor after the restart. Frozen the same way but continued without the stop, the agent names
every file ("created 1 time(s) and deleted … before it could be opened (the agent frozen or stopped …)");
the inotify events it had not read yet when the stop came are dropped with it. Without the freeze (deleted
0-0.5 s before the SIGTERM) the same happens to the files the agent had not looked at yet: 4-169 of 300 in
8 of 12 runs, depending on load."""
from __future__ import annotations

import signal
import time

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

HEADER = '{"hdr":"time,user,action,object"}\n'
FILES = 30
LINES = 100


def test_files_deleted_while_frozen_before_a_stop_are_named_lost(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "a.log").write_text(HEADER)
    agent = Agent(tmp_path, [f"{jobs}/*.log"])
    agent.start()
    files = {f"job_{i}.log": range(i * LINES, (i + 1) * LINES) for i in range(FILES)}
    try:
        agent.proc.send_signal(signal.SIGSTOP)  # the agent gets no CPU …
        for name, seqs in files.items():  # … while the job writes its files …
            (jobs / name).write_text(HEADER + "".join(numbered(n) for n in seqs))
        for name in files:  # … and the cleaner deletes them
            (jobs / name).unlink()
        agent.proc.send_signal(signal.SIGTERM)  # the stop comes before the agent runs again
        agent.proc.send_signal(signal.SIGCONT)
        assert agent.proc.wait(60) in (0, 1)
        agent.start()
        # Until the agent has settled: nothing delivered for 5 s (a loss is warned by then).
        deadline, seen, quiet_since = time.monotonic() + 90, -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 5:
            n = len(agent.seqs())
            if n != seen:
                seen, quiet_since = n, time.monotonic()
            time.sleep(0.5)
    finally:
        if agent.proc.poll() is None:
            agent.proc.send_signal(signal.SIGCONT)
            agent.stop()
    delivered = set(agent.seqs())
    warnings = [line for line in agent.errors().splitlines() if "lost" in line]
    family = [w for w in warnings if f"{jobs}/*.log" in w]  # or a warning naming the glob, the family of them all
    silent = [name for name, seqs in files.items()
              if not set(seqs) <= delivered and not family
              and not any(f"/{name} " in w or f"/{name}\"" in w for w in warnings)]
    assert silent == [], f"{len(silent)} of {FILES} files lost without a warning naming them: {silent[:5]}"
