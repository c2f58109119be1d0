"""Attack 28 (exam28): an operator's reload taken for a terminal's hang-up. `shipper run … > out 2> err &` typed in an
ssh session's shell, then `exit` (bash sends no SIGHUP to its jobs at a plain exit: huponexit is off by default; the
same after `disown`, or a dropped connection with the job disowned): the agent runs on in the background, and the
kernel takes the controlling terminal away from it when the session's leader ends, without a signal (the job is not
in the terminal's foreground process group). Days later the operator edits the config and sends SIGHUP, as
docs/operations.md says a reload is asked for ("a `kill -HUP` … leaves [the terminal] as it was"). The agent takes it
for "the first SIGHUP after the controlling terminal is gone", warns `the terminal hung up (SIGHUP): stopping as at
SIGTERM` — no terminal hung up then — and stops, exit 0 (`stopped delivered=True`): the reload is a stop, and every
line written after it waits, unshipped, until someone notices the agent is gone. 2 of 2 by hand (the shell living 8 s
and 2 s before its exit), the agent ended within 5 s of the SIGHUP both times. What should hold: a SIGHUP is a
hang-up only when it comes from the terminal's hang-up; one that comes long after the terminal went away without a
word is the operator's, a reload."""
from __future__ import annotations

import json
import os
import pty
import signal
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered
from tests.support import wait

pytestmark = pytest.mark.slow  # (a session's life and a reload: seconds of waits)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _controlling_tty(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[4])


def test_a_reload_long_after_the_terminal_went_away_quietly_is_a_reload(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(numbered(0, 5))
    cfg = tmp_path / "cfg.yaml"
    settings = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 10,
                "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")], "parser": "json",
                             "poll_interval": 0.2}],
                "outputs": [{"type": "stdout"}]}
    cfg.write_text(json.dumps(settings))
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    # The session's shell: job control on (`set -m`, as in an interactive shell), so the agent is a background job in
    # a process group of its own; it prints the job's pid, lives on a while, then exits without a SIGHUP to its jobs.
    script = 'set -m; "$0" run -c "$1" > "$2" 2> "$3" & echo "agent=$!"; sleep 3; exit 0'
    shell, master = pty.fork()
    if shell == 0:
        os.execv("/bin/bash", ["bash", "-c", script, SHIPPER, str(cfg), str(out), str(err)])
    agent = 0
    try:
        said = b""
        while b"\n" not in said.partition(b"agent=")[2]:
            said += os.read(master, 1024)
        agent = int(said.partition(b"agent=")[2].split()[0])
        os.waitpid(shell, 0)  # the shell's exit: the session ends
        os.close(master)  # sshd closes the terminal
        assert wait(lambda: out.exists() and out.read_bytes().count(b"\n") >= 5, 60), err.read_text()[-800:]
        assert wait(lambda: _controlling_tty(agent) == 0, 10), "the agent kept its terminal"
        time.sleep(2)
        settings["shutdown_timeout"] = 11  # the change the operator reloads for
        cfg.write_text(json.dumps(settings))
        os.kill(agent, signal.SIGHUP)  # `kill -HUP`: a reload
        time.sleep(3)
        with open(log, "a") as f:
            f.write(numbered(5, 8))
        shipped = wait(lambda: out.read_bytes().count(b"\n") >= 8, 30)
        running = _alive(agent)
    finally:
        if agent and _alive(agent):
            os.kill(agent, signal.SIGTERM)
            wait(lambda: not _alive(agent), 30)
    journal = err.read_text()
    assert "terminal hung up" not in journal, f"a reload was taken for a hang-up: {journal[-800:]}"
    assert running and shipped, f"the agent did not run on after a reload: {journal[-800:]}"
