"""The process that writes the journal to standard error's file (shipper.journal_file starts it, feeds it and watches it).

A write to a file whose filesystem is frozen (fsfreeze, a snapshot's backup) or whose disk or NFS server hangs sleeps in
the kernel until the thaw, where no signal reaches it: written by the threads that log, the journal held every one of
them, shipping stopped and a SIGTERM did not end the agent (exam29a). Only this process waits then.

It reads the journal's lines from its standard input (a socket from the agent) and writes them to its standard error
(the journal's file, inherited from the agent: the same open file, so `>>`'s appending and the file's offset are the
agent's own). After each write it says on its standard output (the same socket) how many bytes the file took (`N\\n`); a write that
fails says `E errno\\n` and ends it (a full disk: the agent moves the journal elsewhere with the lines not written). It
ends when the agent closes its end of the socket, having written what was in it, also after the agent's own end: one stuck
at the stop writes the lines it was given once the file takes them. Stop signals are not its to obey (systemd's stop,
a terminal's Ctrl-C to the whole group): the agent's last lines, its stop's, come after them.

Given the file's name (`--reopen PATH`), at its start and at each SIGHUP (the agent's reload) it looks whether the name
is still its file's: a file rotated away by logrotate `create`, or deleted, is left for the file at that name now
(made if there is none), between two writes. It says `R\\n` when it opened it, `W errno\\n` when it could not (it
writes on where it was).
"""
from __future__ import annotations

import errno
import os
import signal
import sys

CHUNK = 65536  # bytes read from the socket at once
FILE_MODE = 0o640  # a journal file made again where the old one was deleted (logrotate `create` makes its own)


def _say(text: bytes) -> None:
    """A word to the agent; none when it is gone (its lines are written all the same)."""
    try:
        os.write(1, text)
    except OSError:
        pass


def reopen_if_moved(path: str) -> None:
    """Descriptor 2 made the file at `path` if that is another file now (or none: made), said to the agent."""
    try:
        now = os.stat(path)
        ours = os.fstat(2)
        if (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino):
            return
    except FileNotFoundError:
        pass
    except OSError as e:
        _say(f"W {e.errno}\n".encode())
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as e:
        _say(f"W {e.errno}\n".encode())
        return
    os.dup2(fd, 2)
    os.close(fd)
    _say(b"R\n")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[2:] if argv is None else argv
    path = args[1] if len(args) == 2 and args[0] == "--reopen" else None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if path is not None:
        reopen_if_moved(path)
        # At once, between two writes: a reload with no line after it still finds the file made again.
        signal.signal(signal.SIGHUP, lambda *_: reopen_if_moved(path))
    while True:
        try:
            data = os.read(0, CHUNK)
        except OSError:  # ECONNRESET: the agent ended (kill -9) with words of ours unread; what it sent was read first
            return
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
