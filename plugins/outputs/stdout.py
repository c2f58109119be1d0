"""`type: stdout` — one ECS JSON object per line (orjson), flushed per batch."""
from __future__ import annotations

import os
import sys
from typing import Literal

import orjson

from shipper.config_base import OutputConfig
from shipper.plugin import Batch, Output


class StdoutOutputConfig(OutputConfig):
    type: Literal["stdout"] = "stdout"
    # A kill -9 never loses what was written to the page cache; fsync only guards power cuts.
    fsync: bool = False


class StdoutOutput(Output):
    Config = StdoutOutputConfig

    def send(self, batch: Batch) -> None:
        # orjson writes each line's newline itself (no join copy of the batch); the lines go out
        # in one writev per IOV_MAX lines, so the lines of a batch reach the file together.
        # A batch from parse workers arrives as those same lines, already joined.
        if batch.lines is not None:
            lines = [batch.lines]
        else:
            dumps = orjson.dumps
            lines = [dumps(ev, option=NEWLINE) for ev in batch.events]
        out = sys.stdout.buffer
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1  # not a real file (a test's capture): through the buffer
        if fd < 0:
            out.write(b"".join(lines))
            out.flush()
            return
        out.flush()  # anything written through the buffer before goes first
        _write_all(fd, lines)
        if self.config.fsync:
            try:
                os.fsync(fd)
            except OSError:
                pass  # pipes and terminals cannot be synced

    def probe(self) -> str:
        """For `shipper check --outputs`: what stdout is, and that it is open for writing (nothing written)."""
        import fcntl
        import stat

        fd = sys.stdout.fileno()
        st = os.fstat(fd)  # OSError (EBADF) when stdout is closed: that is the failure
        kind = next((name for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a pipe"),
                                             (stat.S_ISCHR, "a terminal or device"), (stat.S_ISSOCK, "a socket"))
                     if test(st.st_mode)), "something else")
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(f"stdout is {kind} opened read-only")
        return f"stdout is {kind}, open for writing" + (" (fsync after each batch)" if self.config.fsync else "")


NEWLINE = orjson.OPT_APPEND_NEWLINE
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def _write_all(fd: int, parts: list[bytes]) -> None:
    """os.writev until every byte is written (a signal or a pipe may cut a write short)."""
    i = 0
    while i < len(parts):
        chunk = parts[i : i + IOV_MAX]
        want = sum(map(len, chunk))
        done = os.writev(fd, chunk)
        if done == want:
            i += len(chunk)
            continue
        # Short write: skip the whole parts written, finish the cut one, go on.
        for p in chunk:
            if done >= len(p):
                done -= len(p)
                i += 1
                continue
            rest = memoryview(p)[done:]
            while rest:
                rest = rest[os.write(fd, rest):]
            i += 1
            break
