"""`shipper cat` holds no line whole: a long line is cut into flagged pieces, memory stays bounded."""
from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipper.cat import read_batches
from shipper.tail.lines import TRUNCATED

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


class _Trickle(io.RawIOBase):
    """A stream that returns at most `step` bytes per read (like a pipe)."""

    def __init__(self, data: bytes, step: int):
        self.data, self.pos, self.step = data, 0, step

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.integers(min_value=64, max_value=200), st.integers(min_value=1, max_value=500), st.booleans())
def test_pieces_rebuild_every_line(lines, max_line, step, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    got, flags_all, used = [], [], 0
    for records, flags, nbytes in read_batches(_Trickle(data, step), max_line):
        got += records
        flags_all += flags or [()] * len(records)
        used += nbytes
    assert used == len(data)
    assert all(len(r) <= max_line for r in got)
    # Join the flagged pieces back: the lines come back, in order (a CR before the newline dropped).
    rebuilt, cur = [], None
    for rec, fl in zip(got, flags_all):
        if cur is not None and TRUNCATED in fl:
            cur += rec
        else:
            if cur is not None:
                rebuilt.append(cur)
            cur = rec
    if cur is not None:
        rebuilt.append(cur)
    want = [l[:-1] if l.endswith(b"\r") else l for l in lines]
    if lines and not final_newline and lines[-1] == b"":
        want = want[:-1]
    # A piece cut right before a CR that ended its line: the CR is a piece's last byte, kept.
    assert [r.rstrip(b"\r") for r in rebuilt] == [w.rstrip(b"\r") for w in want]


FRESH_CHILD = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable] + sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"CHILD_MAXRSS {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_300mb_line_stays_bounded():
    size = 300 << 20
    # Linux keeps a process's peak RSS across exec, and a child forked from this (large, long-lived) test
    # process starts with its pages: `shipper cat` is forked from a fresh small Python instead, which
    # reports its child's peak on stderr.
    proc = subprocess.Popen([sys.executable, "-c", FRESH_CHILD, "-m", "shipper.cli", "cat", "-p", "json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(REPO))
    counts = {"events": 0, "truncated": 0, "ok": 0}

    def read_out():
        for line in proc.stdout:
            ev = orjson.loads(line)
            counts["events"] += 1
            counts["truncated"] += TRUNCATED in ev.get("tags", [])
            counts["ok"] += ev.get("generic") == {"after": 1}

    reader = threading.Thread(target=read_out)
    reader.start()
    chunk = b"y" * (1 << 20)
    for _ in range(size // len(chunk)):
        proc.stdin.write(chunk)
    proc.stdin.write(b'\n{"after": 1}\n')
    proc.stdin.close()
    proc.wait()
    reader.join(60)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    assert counts == {"events": 301, "truncated": 300, "ok": 1}
    maxrss = int(err.rsplit("CHILD_MAXRSS ", 1)[1])
    assert maxrss < 200 * 1024, f"peak RSS {maxrss} KiB for a 300 MiB line"
