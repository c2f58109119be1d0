"""Attack 20 (exam23c, issue 13): an operator empties a quiet log the agent has read to its end and delivered
(`truncate -s0 app.log`, or the shell's `: > app.log`), then the writer appends.

Nothing is lost: every line is delivered once. The journal still says `data lost: an unknown number of bytes of
…/app.log written after the last read: the file was truncated in place and no copy of it was found (copytruncate
without a copy, …)` at level warning. With inotify working the agent saw no write after its last read (the file was
read to its end and quiet), so a loss is named where nothing was lost; at most a possible loss, or the info line
`file truncated: reading it again from its start` the agent gives elsewhere, fits. Seen every time (3 of 3 files in
the b_cw attack, 2 of 2 here).
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import stop_process, wait


def _line(n: int) -> str:
    return json.dumps({"n": n, "message": "t" * 60}) + "\n"


def _delivered(out: Path) -> collections.Counter:
    got: collections.Counter = collections.Counter()
    for raw in out.read_bytes().splitlines():
        got[(json.loads(raw).get("generic") or {}).get("n")] += 1
    return got


@pytest.mark.xfail(strict=True, reason=(
    "a log read to its end, delivered and quiet, emptied with truncate -s0 or ': >' and written again: nothing is lost, "
    "yet the journal warns 'data lost: an unknown number of bytes … written after the last read: the file was truncated "
    "in place'; no loss should be named when the agent saw no write after its last read"))
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
    said = [ln for ln in err.read_text(errors="replace").splitlines() if "data lost" in ln]
    assert not said, said
