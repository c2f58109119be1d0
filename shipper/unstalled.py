"""A descriptor of its own that never waits for a stalled reader: what stdout's, the journal's and the progress bar's
writes to a pipe or a terminal go through.

O_NONBLOCK is a flag of the open file description, which a descriptor inherited from the shell shares with it (and
with every process it started on the same terminal): set there, the shell's own writes would fail with EAGAIN. So the
file is opened again through /proc/self/fd: a description of its own, non-blocking, and (a terminal) without becoming
the process's controlling terminal."""
from __future__ import annotations

import os


def nonblocking_writer(fd: int) -> int:
    """A new write-only, non-blocking descriptor of what `fd` names (a pipe, a FIFO, a terminal), close-on-exec;
    OSError when it cannot be opened (no /proc; a pipe with no reader left: ENXIO)."""
    return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
