"""`shipper run` started by hand in a terminal that then hangs up (the ssh session drops): the SIGHUP is a hang-up,
not a reload (shipper/hangup.py). Found by the lead (session 26): the agent took it for a reload and ran on, its stdout
a terminal answering EIO to every write (the batch retried for ever), and a SIGTERM then waited the whole
shutdown_timeout. The terminal here is a real pseudo-terminal whose master side the test closes: the kernel hangs it
up as it does when sshd closes a session. The journal goes to a syslog socket the test binds (stderr is the terminal
too, and breaks with it)."""
from __future__ import annotations

import json
import os
import pty
import signal
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, bound_syslog, followed_log, numbered, received
from tests.support import wait


def _exited(pid: int, timeout: float) -> int | None:
    """The child's exit code once it ended within timeout, else None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    return None


def _in_a_terminal(cfg: Path, syslog: Path, *, nohup_to: Path | None = None,
                   blocked: frozenset[int] = frozenset()) -> tuple[int, int]:
    """The agent as the leader of a new session whose controlling terminal is a fresh pseudo-terminal; under nohup
    (SIGHUP ignored, stdout on a file) when nohup_to is given; with the signals `blocked` blocked in the mask it
    inherits (none, as a shell gives it, by default). Returns its pid and the terminal's master side."""
    pid, master = pty.fork()
    if pid == 0:  # the child: exec at once (nothing of the test's runs here)
        # SIGHUP as a shell gives it: ignored only under nohup (a suite run under nohup passed SIG_IGN on, and the
        # hang-up was taken for nohup's: suite28's loaded runs failed 3 of 3 while the file alone passed)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if nohup_to is not None:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            out = os.open(nohup_to, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(out, 1)
        os.execve(SHIPPER, [SHIPPER, "run", "-c", str(cfg)], {**os.environ, "SHIPPER_SYSLOG_SOCKET": str(syslog)})
    return pid, master


def _read_terminal(master: int, until: bytes, timeout: float = 60) -> bytes:
    seen = b""
    end = time.monotonic() + timeout
    while until not in seen and time.monotonic() < end:
        try:
            seen += os.read(master, 65536)
        except OSError:
            break
    return seen


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# Blocked: a blocked signal stays blocked across exec. Started by a parent that blocked SIGHUP, the agent never
# received the hang-up's; it took the terminal's loss for a quiet one ('went away without a hang-up signal'), ran on,
# and ended at its next write to stdout ('stopping: cannot write to stdout …', exit 1): the journal of this test in
# suite28's loaded runs ('standard error cannot be written (Input/output error …)', no hang-up line).
@pytest.mark.parametrize("blocked", [frozenset(), frozenset({signal.SIGHUP, signal.SIGTERM, signal.SIGINT})],
                         ids=["as-a-shell-gives-it", "signals-blocked"])
def test_a_terminal_hang_up_stops_the_agent_and_loses_nothing(tmp_path: Path, blocked: frozenset[int]) -> None:
    cfg, log = followed_log(tmp_path, 5, shutdown_timeout=60)
    path = tmp_path / "syslog.sock"
    with bound_syslog(path) as syslog:
        pid, master = _in_a_terminal(cfg, path, blocked=blocked)
        try:
            seen = _read_terminal(master, b'"n":4}')
            assert b'"n":4}' in seen, seen[-500:]
            os.close(master)  # the terminal hangs up
            time.sleep(1)
            with open(log, "a") as f:
                f.write(numbered(5, 8))  # written after: nothing can show them; read again at the next start
            code = _exited(pid, 40)  # well inside shutdown_timeout (60 s): the stop did not wait on the dead terminal
        finally:
            _kill(pid)
        said = received(syslog)
    assert code is not None, f"the agent ran on after its terminal hung up; its journal: {said}"
    assert any("the terminal hung up (SIGHUP): stopping" in m for m in said), said
    assert not any("reload" in m for m in said), f"the hang-up was taken for a reload: {said}"
    again = tmp_path / "again.jsonl"
    with open(again, "wb") as out:  # the next start writes what the terminal could not take, once
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.execv(SHIPPER, [SHIPPER, "run", "--once", "-c", str(cfg)])
    assert _exited(pid, 120) == 0
    assert [json.loads(ln)["generic"]["n"] for ln in again.read_text().splitlines()] == [5, 6, 7]


def test_a_sighup_while_the_terminal_is_there_still_reloads(tmp_path: Path) -> None:
    cfg, _ = followed_log(tmp_path, 5)
    path = tmp_path / "syslog.sock"
    with bound_syslog(path) as syslog:
        pid, master = _in_a_terminal(cfg, path)
        try:
            assert b'"n":4}' in _read_terminal(master, b'"n":4}')
            os.kill(pid, signal.SIGHUP)  # kill -HUP from another terminal: the agent's own is still there
            journal = _read_terminal(master, b"reload", timeout=30)
            running = _exited(pid, 2) is None
        finally:
            _kill(pid)
            os.close(master)
        said = received(syslog)
    assert running, f"the agent ended at a SIGHUP with its terminal there: {journal[-800:]!r} {said}"
    assert b"reload" in journal and b"terminal hung up" not in journal, journal[-800:]


def test_under_nohup_a_hang_up_is_said_and_the_agent_runs_on(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path, 5)
    path = tmp_path / "syslog.sock"
    out = tmp_path / "nohup.out"
    with bound_syslog(path) as syslog:
        pid, master = _in_a_terminal(cfg, path, nohup_to=out)
        try:
            assert wait(lambda: out.exists() and out.read_bytes().count(b"\n") >= 5, 60)
            os.close(master)  # the terminal hangs up; nohup asked to outlive it
            time.sleep(1)
            os.kill(pid, signal.SIGHUP)  # what a shell passes on to its jobs at a hang-up
            with open(log, "a") as f:
                f.write(numbered(5, 8))
            shipped = wait(lambda: out.read_bytes().count(b"\n") >= 8, 60)
            running = _exited(pid, 1) is None
        finally:
            _kill(pid)
        said = received(syslog)
    assert running and shipped, f"under nohup the agent did not outlive its terminal: {said}"
    assert any("the terminal hung up (SIGHUP): started under nohup, the agent runs on" in m for m in said), said
