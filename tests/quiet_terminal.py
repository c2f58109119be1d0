"""An agent that loses its terminal without a signal, as the attack28/29 reload tests set it up: `shipper run … &`
typed in an ssh session's shell (job control on, so the agent is a background job in a process group of its own),
then the shell's plain `exit` (bash sends no SIGHUP to its jobs: huponexit is off) — the kernel takes the controlling
terminal away from the agent when the session's leader ends. Then the operator's `kill -HUP`, a reload."""
from __future__ import annotations

import json
import os
import pty
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.support import wait

# The session's shell: prints the job's pid, lives on a while, then exits without a SIGHUP to its jobs.
SESSION = 'set -m; "$0" run -c "$1" > "$2" 2> "$3" & echo "agent=$!"; sleep 3; exit 0'


def alive(pid: int) -> bool:
    """The process runs (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def controlling_tty(pid: int) -> int:
    """The process's controlling terminal's device number (0: none)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[4])


@dataclass
class Session:
    """The agent (a background job of the session's shell), its config's settings and the files it uses."""

    agent: int
    shell: int
    master: int
    settings: dict
    cfg: Path
    log: Path
    out: Path
    err: Path

    def end(self) -> None:
        """The shell's exit (the session ends), then sshd closes the terminal."""
        os.waitpid(self.shell, 0)
        os.close(self.master)

    def shipped(self, lines: int, timeout: float) -> bool:
        return wait(lambda: self.out.exists() and self.out.read_bytes().count(b"\n") >= lines, timeout)

    def reload_then_append(self) -> tuple[bool, bool]:
        """The operator's config change and `kill -HUP` (a reload), 3 s, then lines 5-7 appended: (were all 8 lines
        shipped within 30 s, does the agent still run)."""
        self.settings["shutdown_timeout"] = 11  # the change the operator reloads for
        self.cfg.write_text(json.dumps(self.settings))
        os.kill(self.agent, signal.SIGHUP)  # `kill -HUP` from another session: a reload
        time.sleep(3)
        with open(self.log, "a") as f:
            f.write(numbered(5, 8))
        return self.shipped(8, 30), alive(self.agent)


@contextmanager
def agent_of_a_session(tmp_path: Path) -> Iterator[Session]:
    """A log of 5 numbered lines, and an agent following its folder to stdout, started as a background job of a shell
    on a pty; stopped (SIGTERM) at the end if it still runs."""
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
    shell, master = pty.fork()
    if shell == 0:
        os.execv("/bin/bash", ["bash", "-c", SESSION, SHIPPER, str(cfg), str(out), str(err)])
    agent = 0
    try:
        said = b""
        while b"\n" not in said.partition(b"agent=")[2]:
            said += os.read(master, 1024)
        agent = int(said.partition(b"agent=")[2].split()[0])
        yield Session(agent, shell, master, settings, cfg, log, out, err)
    finally:
        if agent and alive(agent):
            os.kill(agent, signal.SIGTERM)
            wait(lambda: not alive(agent), 30)
