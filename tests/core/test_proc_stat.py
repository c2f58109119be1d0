"""parse_workers.proc_stat: the fields of /proc/<pid>/stat after the process's name, which may hold
spaces and parentheses (a process names itself as it likes): the parse workers' CPU time and the
forkserver's stopped state are read by it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from shipper.parse_workers import proc_stat
from tests.support import wait_until


def test_the_fields_after_a_name_holding_spaces_and_parentheses():
    # It names itself what a split on the first ")", or on spaces, takes for fields.
    name = ") S 1 (x) "
    child = subprocess.Popen([sys.executable, "-c", f"import sys; open('/proc/self/comm', 'w').write({name!r}); "
                              "print(flush=True); sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"\n"  # (named)
        with open(f"/proc/{child.pid}/comm") as f:
            assert f.read() == name + "\n"
        fields = proc_stat(child.pid)
        assert fields[0] in (b"R", b"S")  # its state (field 3)
        assert int(fields[1]) == os.getpid()  # its parent (field 4)
        os.kill(child.pid, signal.SIGSTOP)
        wait_until(lambda: proc_stat(child.pid)[0] == b"T", 30, "the stopped state")
        assert int(proc_stat(child.pid)[1]) == os.getpid()
    finally:
        child.kill()
        child.wait()
    with pytest.raises(OSError):
        proc_stat(child.pid)  # reaped: gone
