"""Attack 20 (exam23c, issue 13/21): a log holding one line, read, then replaced by a copy renamed over it (`sed -i`
to scrub it, or a sync tool's temp file + rename) with more lines in it.

docs/operations.md ("A live log trimmed or edited in place"): the agent reads on from where it was in the edited
copy; "When the agent cannot prove where it was in the new file … it reads the file from its start and warns the
repeat with its size", never silent. With two or more lines read it is proven and said (`… was replaced by a copy of
itself holding what was read …: read on from there`, nothing repeated). With one line read (the agent has read no
more than the file's head, which proves nothing) the new file is read from its start and the first line is shipped
again, and lines appended to the old file just before the replace are shipped twice too (read from the replaced file,
then again from the copy): the journal says nothing of that file. Seen 4 of 4 runs by hand (1 line and 6 lines
repeated), every time.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import stop_process, wait


def _line(n: int) -> str:
    return json.dumps({"n": n, "message": "z" * 60}) + "\n"


def _delivered(out: Path) -> collections.Counter:
    got: collections.Counter = collections.Counter()
    for raw in out.read_bytes().splitlines():
        got[(json.loads(raw).get("generic") or {}).get("n")] += 1
    return got


@pytest.mark.xfail(strict=True, reason=(
    "a one-line log replaced by an edited copy renamed over it (sed -i, a sync tool's rename) is read again from its "
    "start: its first line (and lines appended just before the replace) shipped twice with nothing in the journal; "
    "the repeat should be named with its size, as docs/operations.md says for an edit it cannot place"))
@pytest.mark.parametrize("how", ["sed_i", "rename_over"])
def test_one_line_log_replaced_by_a_longer_copy_repeats_nothing_unnamed(tmp_path: Path, how: str) -> None:
    log = tmp_path / "logs" / "audit.log"
    log.parent.mkdir()
    log.write_text(_line(0))
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
        assert wait(lambda: _delivered(out)[0] == 1, 60), err.read_text()
        time.sleep(1.0)  # the agent has read the line and looked again: nothing is pending
        if how == "sed_i":
            subprocess.run(["sed", "-i", f"$ a {_line(1).rstrip()}", str(log)], check=True)
        else:
            copy = log.with_name("audit.log.tmp")
            shutil.copyfile(log, copy)
            with open(copy, "a") as f:
                f.write(_line(1))
            os.replace(copy, log)
        with open(log, "a") as f:
            f.write(_line(2))
        assert wait(lambda: _delivered(out)[2] >= 1, 60), err.read_text()
        time.sleep(2.0)
    finally:
        stop_process(agent, 60)
    got = _delivered(out)
    repeated = {n: c for n, c in got.items() if c > 1}
    named = [ln for ln in err.read_text(errors="replace").splitlines()
             if "audit.log" in ln and ("again" in ln or "repeat" in ln)]
    assert sorted(got) == [0, 1, 2], got
    assert not repeated or named, f"repeated {repeated}, named nowhere"
