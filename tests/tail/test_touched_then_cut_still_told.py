"""A touch is not a cut (shipper/tail/touches.py), but a touch does not hide a cut made before or after it.

A live log holding only its header line, followed by a running agent, is touched (IN_ATTRIB: not taken for a cut at
the next safety rescan), and written and cut in place (before the touch or after it), given its header again (copytruncate with `rotate 0`, a
writer reopening it with O_TRUNC: the same bytes, the same size, no copy). The write (IN_MODIFY) drops the touch: the
scan still tells the cut by the mtime, and the lines cut away unread are named lost, naming the file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent and waits of seconds: handed out first)

SHIPPER = [sys.executable, "-m", "shipper.cli"]
HEADER = b'{"header": "time level logger message"}\n'  # (a layout header, in JSON for the parser)


def _cut(log) -> None:
    """Written and cut before the agent reads: the lines are in no file; the header again."""
    with open(log, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(b'{"n": 1}\n{"n": 2}\n')
        f.truncate(0)
        f.seek(0)
        f.write(HEADER)


@pytest.mark.parametrize("order", ["touch, then cut", "cut, then touch"])
def test_a_cut_before_or_after_a_touch_is_still_told(tmp_path, order):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(HEADER)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({  # JSON is YAML
        "state_dir": str(tmp_path / "state"),
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                     "read_from": "beginning", "rescan_interval": 5}],
        "outputs": [{"type": "stdout"}]}))
    out, journal = tmp_path / "out.jsonl", tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: out.read_bytes().count(b"\n") == 1, 120, "the header read")
        time.sleep(1.5)  # (a later mtime)
        if order == "touch, then cut":
            os.utime(log)  # touched: read by the agent as a touch, nothing written
            time.sleep(0.5)  # (its event read in a batch of its own, before the cut; the rescan after both, likely)
            _cut(log)
        else:
            _cut(log)
            time.sleep(0.5)  # (its events read in a batch before the touch's)
            os.utime(log)  # touched after: the mtime now is the touch's, which a write came before
        wait_until(lambda: b"lost" in journal.read_bytes(), 60, "the cut named")
    finally:
        assert stop_process(agent, 60) == 0, journal.read_text()
    text = journal.read_text()
    lost = [ln for ln in text.splitlines() if "lost" in ln]
    assert lost and str(log) in lost[0], text[-2000:]
    assert b'"n": 1' not in out.read_bytes()  # (cut away unread: in no file)
