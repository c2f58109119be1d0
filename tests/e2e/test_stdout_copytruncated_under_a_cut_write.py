"""stdout's own file cut under the agent (logrotate `copytruncate`, the copy on another disk) while a write that a full
disk cut short waits for its retry (exam25d's find, tests/e2e/test_attack25_stdout_full_disk_copytruncated_torn.py).
What an operator expects of a file output (Fluent Bit's out_file and Vector's file sink append, so they write at the
emptied file's start, but neither resumes a cut write): each event readable once in the copy or the file, nothing
twice, no hole of zeros. So: the lines of the batch written before the cut are in the copy and stay written; the line
the disk cut (its head ends the copy) is written again whole at the file's new end; the cut is named. Stopped while
the disk is full again (SIGTERM), the stop tells the agent those lines are stored and the next run writes only the
rest (the stop drains for its shutdown_timeout first, so a retry sees the cut before: a stop that comes before any
retry is tests/outputs/test_stdout_file_cut_under_a_cut_write.py's). Opened with `>` (no O_APPEND) the same: the
retry writes at the file's end, not at its old offset behind a hole."""
from __future__ import annotations

import collections
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent on a full disk: handed out first)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 20_000


@pytest.mark.parametrize("mode", ["ab", "wb"])  # `>>` and `>`
@pytest.mark.parametrize("then", ["resumed", "stopped_while_full"])
def test_a_file_cut_under_a_cut_write_has_each_event_once(tmp_path: Path, mode: str, then: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "x" * 50}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    journal = tmp_path / "agent.err"
    copy = tmp_path / "out.ndjson.1"
    with small_tmpfs(tmp_path / "out", 32768) as fs:
        filler = fill(fs, 3 * 1024 * 1024)
        out = fs / "out.ndjson"
        with open(out, mode) as of, open(journal, "ab") as ef:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=of, stderr=ef)
        try:
            wait_until(lambda: "No space left" in journal.read_text(), 120, "the disk to fill mid-batch")
            shutil.copyfile(out, copy)  # copytruncate
            with open(out, "r+b") as f:
                f.truncate(0)
            if then == "stopped_while_full":
                filler = fill(fs, 0)
                agent.send_signal(signal.SIGTERM)
                agent.wait(60)
                filler.unlink()
                with open(out, "ab") as of, open(journal, "ab") as ef:
                    subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=of, stderr=ef, timeout=300,
                                   check=True)
            else:
                filler.unlink()
                wait_until(lambda: copy.read_bytes().count(b"\n") + out.read_bytes().count(b"\n") >= EVENTS, 120,
                           "every event written")
        finally:
            stop_process(agent, 60)
        head, tail = copy.read_bytes(), out.read_bytes()
    said = journal.read_text()
    assert b"\0" not in tail, "a hole of zeros: the retry wrote at the old offset"
    counts: collections.Counter = collections.Counter()
    for line in head.splitlines()[:-1] + tail.splitlines():
        counts[json.loads(line)["generic"]["n"]] += 1  # every line whole but the copy's last
    assert not head.endswith(b"\n"), "the copy ends in the head of the line the disk cut"
    assert sorted(counts) == list(range(EVENTS)) and set(counts.values()) == {1}, (
        len(counts), [n for n, c in counts.items() if c > 1][:10])
    cut = re.search(rb'"n":(\d+),', head.splitlines()[-1])  # (where the disk cut it: after its number, or before)
    assert cut is None or int(cut[1]) in {json.loads(ln)["generic"]["n"] for ln in tail.splitlines()}
    assert "shrank under the agent" in said and "logrotate's copytruncate" in said, said[-3000:]
    assert "Traceback" not in said
