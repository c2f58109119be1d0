"""A Ctrl-C in the terminal `shipper run` was started from goes to the terminal's whole foreground process group: the
agent, and its parse workers and their forkserver. The agent stops them itself (shipper.parse_workers); before, the
forkserver hit while it imported the agent ended with a KeyboardInterrupt traceback on the terminal, and the agent
said `cannot start parse workers; parsing in the agent … EOFError` (4 of 4 by hand); a worker hit while it started,
before it ignored SIGINT, printed its own. The terminal here is a real pseudo-terminal (its line discipline turns the
^C written to its master side into the SIGINT), the agent the leader of its session."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.support import wait

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _in_a_terminal(tmp_path: Path, lines: int) -> tuple[int, int, Path]:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, lines))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "parse_workers": 2}],
                               "outputs": [{"type": "stdout"}]}))
    out = tmp_path / "out.jsonl"
    pid, master = pty.fork()
    if pid == 0:  # the child: exec at once, SIGINT as a shell gives it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.execv(SHIPPER, [SHIPPER, "run", "-c", str(cfg)])
    return pid, master, out


def _session(pid: int) -> dict[int, bytes]:
    """The processes of the agent's session but the agent: their command lines ("shipper-parse" for a worker)."""
    found = {}
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != pid:
            try:
                if os.getsid(int(p)) == pid:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        found[int(p)] = f.read()
            except OSError:
                pass
    return found


def _blocked(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))


def _until_exit(pid: int, master: int, timeout: float) -> tuple[int | None, str]:
    """The agent's exit code (None: still running at timeout) and what the terminal showed."""
    seen = b""
    end = time.monotonic() + timeout
    code = None
    while time.monotonic() < end:
        if select.select([master], [], [], 0.1)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:  # (EIO: the session's last process ended)
                pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
    return code, seen.decode(errors="replace")


def _end(pid: int, master: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(master)


def test_a_ctrl_c_while_the_forkserver_starts_neither_ends_it_nor_the_workers(tmp_path: Path) -> None:
    pid, master, out = _in_a_terminal(tmp_path, 20_000)
    try:
        # the forkserver's Python starting (its site, then its preload of the agent: a second or more)
        assert wait(lambda: any(b"forkserver" in c for c in _session(pid).values()), 60, every=0.005)
        os.write(master, b"\x03")
        code, shown = _until_exit(pid, master, 60)
    finally:
        _end(pid, master)
    assert code == 0, shown[-2000:]
    assert "stopping signal=SIGINT" in shown, shown[-2000:]
    assert "KeyboardInterrupt" not in shown and "Traceback" not in shown, shown[-3000:]
    assert "cannot start parse workers" not in shown and "died" not in shown, shown[-2000:]
    again = subprocess.run([SHIPPER, "run", "--once", "-c", str(tmp_path / "cfg.yaml")], capture_output=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr.decode()[-800:]
    numbers = [json.loads(line)["generic"]["n"] for line in out.read_bytes().splitlines() + again.stdout.splitlines()]
    assert sorted(numbers) == list(range(20_000))  # what the stop delivered, then the rest, each once


def test_the_workers_and_their_forkserver_do_not_take_the_terminals_sigint(tmp_path: Path) -> None:
    pid, master, out = _in_a_terminal(tmp_path, 50_000)
    try:
        assert wait(lambda: sum(c.startswith(b"shipper-parse") or b"forkserver" in c
                                for c in _session(pid).values()) >= 3, 60)
        helpers = {p: c for p, c in _session(pid).items() if b"forkserver" in c or c.startswith(b"shipper-parse")}
        blocked = {c[:40]: bool(_blocked(p) & SIGINT_BIT) for p, c in helpers.items()}
        os.write(master, b"\x03")
        code, shown = _until_exit(pid, master, 60)
    finally:
        _end(pid, master)
    assert all(blocked.values()), blocked
    assert code == 0, shown[-2000:]
    assert "Traceback" not in shown and "died" not in shown and "parsing in the agent" not in shown, shown[-2000:]
