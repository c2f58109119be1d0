"""The process that writes the journal to standard error's file (shipper.journal_file starts it, feeds it and watches it).

A write to a file whose filesystem is frozen (fsfreeze, a snapshot's backup) or whose disk or NFS server hangs sleeps in
the kernel until the thaw, where no signal reaches it: written by the threads that log, the journal held every one of
them, shipping stopped and a SIGTERM did not end the agent (exam29a). Only this process waits then.

It reads the journal's lines from its standard input (a pipe from the agent) and writes them to its standard error
(the journal's file, inherited from the agent: the same open file, so `>>`'s appending and the file's offset are the
agent's own). After each write it says on its standard output how many bytes the file took (`N\\n`); a write that
fails says `E errno\\n` and ends it (a full disk: the agent moves the journal elsewhere with the lines not written). It
ends when the agent closes its end of the pipe, having written what was in it, also after the agent's own end: one stuck
at the stop writes the lines it was given once the file takes them. Stop signals are not its to obey (systemd sends the
whole unit SIGTERM, a terminal's Ctrl-C the whole group): the agent's last lines, its stop's, come after them.
"""
from __future__ import annotations

import errno
import os
import signal

CHUNK = 65536  # bytes read from the pipe at once (a pipe holds 64 KiB)


def _say(text: bytes) -> None:
    """A word to the agent; none when it is gone (its lines are written all the same)."""
    try:
        os.write(1, text)
    except OSError:
        pass


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        data = os.read(0, CHUNK)
        if not data:
            return
        view = memoryview(data)
        while view:
            try:
                took = os.write(2, view)
            except OSError as e:
                _say(f"E {e.errno}\n".encode())
                return
            if not took:  # (a file that takes nothing and says nothing: never waited on forever)
                _say(f"E {errno.EIO}\n".encode())
                return
            _say(f"{took}\n".encode())
            view = view[took:]
