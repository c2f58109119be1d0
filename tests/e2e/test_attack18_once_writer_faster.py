"""Examiner exam13 (session 20): `shipper run --once` on a log a writer appends to faster than the agent reads.

README: `--once` "reads what is there now, delivers it and exits 0". It reads on past what was there at its start,
for as long as the writer writes: with a writer faster than the agent it ends only at `--timeout`, with exit 1
(`run --once: timeout after 300s (--timeout); not delivered …: source app: … not read to the end`), having read
4,932,000 events of a log that held 5,000 lines when it started (2 of 2 runs; a writer at 2,000 lines/s, which
the agent outruns, ends in 5 s). A cron job running `--once` over a busy log so never succeeds. Here: 200,000 lines
before the start, then a writer at 200,000 lines/s from `started` on: exit 1 at `--timeout 40` (2 of 2). Now each file is
read up to the size it had when the run first met it (Tailer.read_bounds).
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

SHIPPER = str(Path(sys.executable).parent / "shipper")
AT_START = 200_000  # lines before the agent starts: seconds of reading, so the writer starts before it ends
RATE = 200_000  # lines/s the writer appends once the agent said `started`: more than the agent reads here

WRITER = r"""
import sys, time
i, rate, end = int(sys.argv[2]), int(sys.argv[3]), time.monotonic() + float(sys.argv[4])
t0, first = time.monotonic(), i
with open(sys.argv[1], "a", buffering=1 << 16) as f:
    while time.monotonic() < end:
        due = first + int((time.monotonic() - t0) * rate)
        while i < due:
            f.write('{"seq":%d}\n' % i)
            i += 1
        f.flush()
        time.sleep(0.01)
"""


def test_once_ends_with_what_was_there_while_a_writer_outpaces_it(tmp_path: Path) -> None:
    TIMEOUT = 40
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "app.log", "w") as f:
        for i in range(1, AT_START + 1):
            f.write('{"seq":%d}\n' % i)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n"
                   f"  - name: app\n    type: file\n    paths: [{logs}/app.log]\n    parser: json\n"
                   "outputs:\n  - type: stdout\n")
    journal = tmp_path / "agent.log"
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg), "--once", "--timeout", str(TIMEOUT)],
                             stdout=subprocess.DEVNULL, stderr=open(journal, "wb"))
    writer = None
    try:
        while "msg=started" not in journal.read_text(errors="replace") and agent.poll() is None:
            time.sleep(0.02)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(logs / "app.log"), str(AT_START + 1),
                                   str(RATE), str(TIMEOUT + 10)])
        rc = agent.wait(TIMEOUT + 60)
    finally:
        for p in (agent, writer):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    text = journal.read_text(errors="replace")
    assert rc == 0, f"exit {rc}: {text[-600:]}"
    read = re.search(r"run --once: read (\d+) events, shipped (\d+)", text)
    assert read and int(read.group(2)) >= AT_START, text[-600:]
