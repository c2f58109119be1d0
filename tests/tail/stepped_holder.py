"""A Holder stepped by the test, as the torture harness steps it (tests/torture/harness.py): its thread held off
(Holder.paused), it handles the events of what happened only at turn(); the Follower's tailer it serves, over one
log, scanned and read as the file source does it (scan_and_read)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from shipper.tail.holder import Holder, generation
from tests.tail.conftest import Follower


class SteppedHolder:
    def __init__(self, holder: Holder, off: contextlib.ExitStack, f: Follower, log: str, folder: str) -> None:
        self.holder = holder
        self._off = off  # holds the holder paused
        self.f = f
        self.log = log
        self.folder = folder
        self.match = lambda p: p == log  # the source's globs

    def turn(self) -> None:
        """The holder's turn: it handles what happened since its last."""
        self._off.close()
        self._off.enter_context(self.holder.paused())

    def scan_and_read(self) -> None:
        """A scan and a read as the file source makes them: the holder told what the tailer follows after the scan."""
        t = self.f.tailer
        t.scan()
        opened = {k: (x.family, x.fh.fd) for k, x in t.files.items() if x.fh is not None}
        self.holder.follow({x.family for x in t.files.values()}, {k: fam for k, (fam, _) in opened.items()},
                           {self.folder}, self.match, {k: generation(fd) for k, (_, fd) in opened.items()})
        t.read_all(self.f.emit, self.f.stop)

    def close_followed(self) -> None:
        """Every followed file closed, as the descriptor budget closes a file, or idleness."""
        for x in self.f.tailer.files.values():
            if x.fh is not None:
                x.fh.close()
                x.fh = None

    def close(self) -> None:
        self._off.close()
        self.holder.stop()
        self.f.tailer.close()


@contextlib.contextmanager
def stepped_holder(log: str, folder: Path, **follower: object) -> Iterator[SteppedHolder]:
    """A started holder (16 files), held off, serving a Follower of `log` (its other settings `follower`), told to
    watch `log` in `folder`; the holder stopped and the tailer closed after."""
    holder = Holder(max_files=16)
    assert holder.start()
    off = contextlib.ExitStack()
    off.enter_context(holder.paused())
    s = SteppedHolder(holder, off, Follower([log], folder, **follower), log, str(folder))
    s.f.tailer.holder = holder
    try:
        holder.watch_more({log}, {str(folder)}, s.match)
        yield s
    finally:
        s.close()
