"""Attack 25 (exam25d, issue 13's "stdout resumes after a partial write from the bytes written; never a torn line"): the
stdout output's file (`>>`, `StandardOutput=append:`) fills its disk mid-batch (`295414 bytes of the batch written, the
retry resumes after them`); logrotate `copytruncate` then rotates that file (the usual way to rotate a daemon's output
it cannot make reopen; here the copy goes to another disk) and space is back. The retry resumes "after the bytes that
reached the file" — at the start of the now empty file: the new file begins with the rest of the line the disk cut,
and the copy ends with its head. That event is readable in neither file (29,999 of 30,000), and nothing is said.
Stopped instead (SIGTERM) while the disk is full again after the rotation: the stop cuts the emptied file back (it has
nothing of the batch now) and the next run writes the batch whole: the 755 events of the partial write that went into
the copy are there twice, named nowhere (`stopped with batches undelivered; they are read again next start`).

docs/operations.md ("stdout as an output"): "a write cut short by a full disk or an I/O error is resumed after the bytes
that reached the file, so no line is torn or written twice". The agent can see the file shrank under it (its size
below where the cut write ended) before it resumes. Found by hand 2 of 2 (30,000 events, a 32 MiB tmpfs filled to
4 MiB free; event 10,755 torn both times; stopped: 755 events twice, 2 of 2).
Now (out13b) the agent sees the file shorter than where the cut write ended: the lines written are in the copy and
stay written, the cut line is written again whole at the file's end, a stop tells the agent those lines are stored
(tests/outputs/test_stdout_file_cut_under_a_cut_write.py), and the cut is named.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent on a full disk: handed out first)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 30_000


@pytest.mark.parametrize("then", ["space_back", "stopped_still_full"])
def test_a_write_cut_by_a_full_disk_resumed_into_a_copytruncated_file_tears_no_line(tmp_path: Path, then: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "x" * 50}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    journal = tmp_path / "agent.err"
    copy = tmp_path / "out.ndjson.1"
    with small_tmpfs(tmp_path / "out", 32768) as fs:
        filler = fill(fs, 4 * 1024 * 1024)
        out = fs / "out.ndjson"
        with open(out, "ab") as of, open(journal, "ab") as ef:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=of, stderr=ef)
        try:
            wait_until(lambda: "No space left" in journal.read_text(), 120, "the disk to fill mid-batch")
            time.sleep(0.5)
            shutil.copyfile(out, copy)  # logrotate copytruncate, its copy on another disk
            os.truncate(out, 0)
            if then == "stopped_still_full":
                filler = fill(fs, 0)  # full again before the retry
                time.sleep(1.0)
                agent.send_signal(signal.SIGTERM)
                agent.wait(60)
                os.unlink(filler)
                with open(out, "ab") as of, open(journal, "ab") as ef:
                    subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=of, stderr=ef, timeout=300,
                                   check=True)
            else:
                os.unlink(filler)
                wait_until(lambda: copy.read_bytes().count(b"\n") + out.read_bytes().count(b"\n") >= EVENTS, 120,
                           "every event written")
                time.sleep(2.0)
        finally:
            stop_process(agent, 60)
        files = [copy.read_bytes(), out.read_bytes()]
    counts: collections.Counter = collections.Counter()
    pieces = []
    for data in files:
        for line in data.splitlines():
            try:
                counts[json.loads(line)["generic"]["n"]] += 1
            except ValueError:
                pieces.append(line[:40] + b" ... " + line[-40:])
    unreadable = sorted(set(range(EVENTS)) - set(counts))
    said = [ln for ln in journal.read_text().splitlines() if "level=warning" in ln and any(
        word in ln.split("msg=")[1].split('" ')[0] for word in ("torn", "cut line", "truncated", "shrank"))]
    assert not unreadable or said, (
        f"events readable in neither file: {unreadable}; pieces of lines: {pieces}; said nothing of it")
    repeated = sum(v - 1 for v in counts.values() if v > 1)
    named = [ln for ln in journal.read_text().splitlines()  # in the message, not a path
             if "msg=" in ln and any(w in ln.split("msg=")[1].split('" ')[0] for w in ("repeat", "written again"))]
    assert not repeated or named, f"{repeated} events written twice (in the copy and the file), named nowhere"
