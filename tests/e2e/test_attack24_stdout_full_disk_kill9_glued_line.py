"""Attack 24 (exam24d, issue 13's "stdout on a briefly full disk (0 duplicates, 0 torn lines)"): the stdout output's
file fills its disk in the middle of a line; the agent, retrying (`299008 bytes of the batch written, the retry resumes
after them`), is killed (-9: an OOM kill, a reboot, an operator) while the disk is still full; space is freed and the
agent started again, appending to the same file (`>>`, as a unit's `StandardOutput=append:` does).

The briefly full disk alone holds (0 duplicates, 0 torn lines, daemon and `--once`: held by hand), and a kill -9 may
repeat what was in flight (README "Known limits"). But the cut line stays in the file, and the next start writes its
first line right onto it: `{"ecs":…,"data{"ecs":…}` — one line no reader can parse, holding the start of one event
and the whole of the next. With batches of one event (a live log followed line by line gives batches of a few lines)
that next event is written nowhere else: lost for the reader, and nothing says so. By hand 2 of 2 with batch_size 1
(29,999 of 30,000 events readable, 1 unparseable line); with batches of 1,000 the glued event is also in the batch's
first copy (668 repeated, 1 unparseable line). Expected: every event readable in some line (a start that finds its
stdout file ending in a cut line begins on a new line, or says so).

Fixed (session 25): the first write of a process into a regular file that does not end in a newline writes one first
and names the cut line by its offset (plugins/outputs/stdout.py, _begin_on_a_new_line).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.support import wait_until

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 20_000


def test_a_line_cut_by_a_full_disk_and_a_kill_does_not_swallow_the_next_event(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "m" * 80}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                                            "batch_size": 1}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    journal = tmp_path / "agent.err"
    with small_tmpfs(tmp_path / "out", 65536) as fs:
        filler = fill(fs, 300_000)
        out = fs / "out.ndjson"
        with open(out, "ab") as of, open(journal, "ab") as ef:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=of, stderr=ef)
        try:
            wait_until(lambda: "No space left" in journal.read_text(), 120, "the disk to fill mid-write")
            time.sleep(1.0)
        finally:
            agent.kill()
            agent.wait()
        cut_at = len(out.read_bytes())
        assert not out.read_bytes().endswith(b"\n"), "the disk did not cut a line: the premise did not occur"
        os.unlink(filler)
        with open(out, "ab") as of, open(journal, "ab") as ef:
            subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=of, stderr=ef, timeout=300, check=True)
        readable, unparseable = set(), []
        for line in out.read_bytes().splitlines():
            try:
                readable.add(json.loads(line)["generic"]["n"])
            except ValueError:
                unparseable.append(line[:60] + b" ... " + line[-60:])
    missing = sorted(set(range(EVENTS)) - readable)
    assert not missing, f"events readable in no line: {missing[:5]}; unparseable lines: {unparseable[:2]}"
    assert len(unparseable) == 1, unparseable  # the cut line alone, ended by a newline
    said = [ln for ln in journal.read_text().splitlines() if "ends in a cut line" in ln]
    assert len(said) == 1 and f"to {cut_at}," in said[0] and f"torn_end={cut_at}" in said[0], said
