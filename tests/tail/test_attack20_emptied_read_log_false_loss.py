"""Attack 20 (exam23c, issue 13): an operator empties a quiet log the agent has read to its end and delivered
(`truncate -s0 app.log`, or the shell's `: > app.log`), then the writer appends.

Nothing is lost: every line is delivered once. The journal still says `data lost: an unknown number of bytes of
…/app.log written after the last read: the file was truncated in place and no copy of it was found (copytruncate
without a copy, …)` at level warning. With inotify working the agent saw no write after its last read (the file was
read to its end and quiet), so a loss is named where nothing was lost; at most a possible loss, or the info line
`file truncated: reading it again from its start` the agent gives elsewhere, fits. Seen every time (3 of 3 files in
the b_cw attack, 2 of 2 here).

Judged (session 23): a write and the truncation between two looks are one IN_MODIFY, so the agent cannot know whether
lines were written just before the cut (a copytruncate whose copy is gone, Log4j MaxBackupIndex=0). A file read to its
end at every look, truncated with no copy found, is said a possible loss ("data possibly lost … possibly none"),
warned, not counted; a truncation after the agent saw the file grow past what it read is a loss, named and counted
(the second test).
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipper.tail import scan_rules
from tests.support import stop_process, wait
from tests.tail.conftest import Follower


def _line(n: int) -> str:
    return json.dumps({"n": n, "message": "t" * 60}) + "\n"


def _delivered(out: Path) -> collections.Counter:
    got: collections.Counter = collections.Counter()
    for raw in out.read_bytes().splitlines():
        got[(json.loads(raw).get("generic") or {}).get("n")] += 1
    return got


@pytest.mark.parametrize("how", ["truncate", "shell_colon"])
def test_emptying_a_read_quiet_log_names_no_loss(tmp_path: Path, how: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text("".join(_line(n) for n in range(3)))
    state, out, err = tmp_path / "state", tmp_path / "out.ndjson", tmp_path / "agent.err"
    state.mkdir()
    cfg = {"state_dir": str(state), "shutdown_timeout": 5,
           "sources": [{"name": "a", "type": "file", "paths": [str(log)], "parser": "json"}],
           "outputs": [{"type": "stdout"}]}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))
    shipper = str(Path(sys.executable).with_name("shipper"))
    with open(out, "wb") as of, open(err, "wb") as ef:
        agent = subprocess.Popen([shipper, "run", "-c", str(tmp_path / "cfg.yaml")], stdout=of, stderr=ef)
    try:
        assert wait(lambda: _delivered(out)[2] == 1, 60), err.read_text()
        time.sleep(1.0)  # read to its end, delivered, quiet
        if how == "truncate":
            subprocess.run(["truncate", "-s0", str(log)], check=True)
        else:
            subprocess.run(["bash", "-c", f": > '{log}'"], check=True)
        time.sleep(0.5)
        with open(log, "a") as f:
            f.write(_line(3) + _line(4))
        assert wait(lambda: _delivered(out)[4] >= 1, 60), err.read_text()
        time.sleep(2.0)
    finally:
        stop_process(agent, 60)
    got = _delivered(out)
    assert got == {n: 1 for n in range(5)}, got  # nothing lost, nothing repeated
    journal = err.read_text(errors="replace").splitlines()
    said = [ln for ln in journal if "data lost" in ln]
    assert not said, said
    # (What cannot be known is said: lines written just before the cut, had there been any, would be gone.)
    assert [ln for ln in journal if "data possibly lost" in ln and "app.log" in ln], journal


def test_a_truncation_after_growth_seen_unread_is_named_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other side of the judgement: lines written after the last read, seen by a look (the file grew past what
    was read), then cut away before they were read, are lost, and named so (counted)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    log = tmp_path / "app.log"
    log.write_text("".join(_line(n) for n in range(3)))
    f = Follower([log], tmp_path)
    try:
        f.poll()
        with open(log, "a") as fh:
            fh.write(_line(3) + _line(4))
        f.tailer.scan()  # a look sees it grown, no read yet
        os.truncate(log, 0)
        f.poll(3)
        assert [json.loads(x)["n"] for x in f.lines()] == [0, 1, 2]
        assert f.tailer.losses == 1
        assert f.tailer.bytes_lost == len(_line(3) + _line(4))  # (named "N bytes or more": what the look saw)
    finally:
        f.tailer.close()
