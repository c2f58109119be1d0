"""Attack 26 (exam26d): a second `shipper run` on the state_dir of an agent that is frozen (`systemctl freeze`, `docker
pause`: a cgroup freeze) and whose checkpoint writer was killed meanwhile (the OOM killer; a freeze does not stop a
SIGKILL of a process outside the frozen group). The second agent is refused, exit 2, as it should be; but it names as
the holder `in use by another shipper (pid N)` the writer that was killed: a pid that runs no longer (2 of 2 by hand,
1 of 1 here; before the freeze and after the thaw it names the agent). Issue 13: "a second agent exits 2 naming the
holder's pid". An operator who finds no such process takes the lock for stale and removes `shipper.lock` — which
tests/e2e/test_attack26_lock_file_removed_wedges_checkpoints.py shows wedges the agent once it thaws."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.freezer import freezer_of
from tests.support import writer_pid
from tests.tail.attack_agent import Agent, append_numbered

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def test_a_refusal_while_the_agent_is_frozen_names_a_live_holder(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append_numbered(logs / "a.log", 0, 50)
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(50), 60), agent.errors()
        writer = writer_pid(agent.proc.pid)
        with freezer_of(agent.proc.pid) as freezer:
            freezer.freeze()
            os.kill(writer, signal.SIGKILL)
            time.sleep(1)  # dead (a zombie until the frozen agent reaps it)
            second = subprocess.run([SHIPPER, "run", "-c", str(agent.cfg)], capture_output=True, timeout=120)
    finally:
        agent.stop()
    said = second.stderr.decode()
    assert second.returncode == 2, said
    named = re.search(r"in use by another shipper \(pid (\d+)\)", said)
    assert named, said
    pid = int(named.group(1))
    assert pid == agent.proc.pid, f"the refusal names pid {pid} (the killed writer was {writer}), not the agent " \
                                  f"{agent.proc.pid} that holds the state_dir: {said.strip()}"
