"""Black-box attack 30 (exam30a, stdout on a terminal, the journal at the exit): `shipper run` by hand in a terminal
(an ssh session, `docker run -t`) with its journal on that same terminal, on a host or container without a syslog
socket. docs/operations.md: at a terminal's hang-up "the last N lines written to it … may not have reached its
reader" is named once (test_attack28_terminal_hangup_loses_unread_pty_lines.py, whose journal is a file); the journal
whose reader broke goes to syslog, and with none "the kernel's log says so once"; a stalled journal's backlog left
at the exit "is counted in the kernel's log with its last warnings".

Found (by hand, 2 of 2; the kernel's log a file over /dev/kmsg in a mount namespace of the agent's own,
SHIPPER_SYSLOG_SOCKET naming no socket): the reader read 100 lines, stalled, 20 more were written into the
terminal, it hung up. The agent stopped (exit 0) and the next start did not write the 20 lines again: lost. The
kernel's log holds one line, `its standard error broke … and there is no syslog socket … its lines, and the losses
they name, go nowhere from here`; the warning naming the possibly unread lines is nowhere, though the agent ends
right after and writes its exit's weighty lines to the kernel's log in the stalled-journal case."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
import tty
from pathlib import Path

from tests.journal_sinks import SHIPPER, own_kmsg
from tests.stalled_reader import followed_log, unread, written_again
from tests.support import read_steady, stop_process, wait


def _numbers(data: bytes) -> list[int]:
    whole = data[:data.rfind(b"\n") + 1].replace(b"\r", b"")
    out = []
    for line in whole.splitlines():
        if line.strip().startswith(b'{"'):
            try:
                out.append(json.loads(line)["generic"]["n"])
            except (ValueError, KeyError):
                pass  # a journal line glued to a shipped one on the shared terminal
    return out


def test_a_hang_up_names_the_possibly_unread_lines_in_the_kernels_log_without_syslog(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    kmsg = tmp_path / "kmsg"

    def take_the_terminal() -> None:  # in the child, after setsid: a session leader opening a tty gets it
        os.close(os.open(name, os.O_RDWR))

    env = {**os.environ, "SHIPPER_SYSLOG_SOCKET": str(tmp_path / "no-syslog-here")}
    agent = subprocess.Popen(own_kmsg(kmsg, [SHIPPER, "run", "-c", str(cfg)]), stdout=slave, stderr=slave,
                             start_new_session=True, preexec_fn=take_the_terminal, env=env)
    os.close(slave)
    got = b""
    try:
        end = time.monotonic() + 60
        while len(_numbers(got)) < 100 and time.monotonic() < end:
            if select.select([master], [], [], 0.1)[0]:
                got += os.read(master, 65536)
        assert len(_numbers(got)) == 100, got[-800:]
        with open(log, "a") as f:
            f.write("".join(json.dumps({"n": i}) + "\n" for i in range(100, 120)))  # the reader stalls now
        assert read_steady(lambda: unread(master), lambda n: n > 0, 30) > 0, "nothing written to the terminal"
        os.close(master)  # the terminal hangs up with them unread
        master = -1
        wait(lambda: agent.poll() is not None, 30)
    finally:
        if master >= 0:
            os.close(master)
        stop_process(agent, 30)
    again = written_again(cfg, tmp_path / "again.jsonl")
    missing = sorted(set(range(120)) - set(_numbers(got) + _numbers(again)))
    said = got.decode(errors="replace") + kmsg.read_text(errors="replace")
    assert not missing or "may not have reached" in said, \
        f"{len(missing)} lines lost with the terminal ({missing[:5]}…), named nowhere; the kernel's log: " \
        f"{kmsg.read_text()[-600:]!r}"
