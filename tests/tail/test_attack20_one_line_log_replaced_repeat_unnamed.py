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

Fixed (session 23): a first line alone proves nothing, so the new file is still read from its start, and the possible
repeat is warned with its size (copies._head_only_replaced): "N bytes of … may be shipped again". Not so for a new file
of a family whose files share their first line (a layout or CSV header another of its files begins with): that line
tells nothing of a copy, and a new file repeats nothing (the second test).
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
from tests.tail.conftest import Follower


def _line(n: int) -> str:
    return json.dumps({"n": n, "message": "z" * 60}) + "\n"


def _delivered(out: Path) -> collections.Counter:
    got: collections.Counter = collections.Counter()
    for raw in out.read_bytes().splitlines():
        got[(json.loads(raw).get("generic") or {}).get("n")] += 1
    return got


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


HEADER = "# time level message"


def test_a_new_file_of_a_family_sharing_its_header_is_named_no_repeat(tmp_path: Path, caplog) -> None:
    """The live file holds only the header every file of its family begins with (its backup, rolled over, does too);
    a new file (the header and new lines) is renamed over it: nothing of it was shipped, no repeat is named."""
    log = tmp_path / "app.log"
    log.write_text(f"{HEADER}\n{_line(0)}")
    f = Follower([log], tmp_path)
    try:
        f.poll()
        os.rename(log, tmp_path / "app.log.1")  # a rollover: the next file begins with the header
        log.write_text(f"{HEADER}\n")
        f.poll(2)
        new = tmp_path / "app.log.tmp"
        new.write_text(f"{HEADER}\n{_line(1)}{_line(2)}")
        os.replace(new, log)
        f.poll(3)
        got = collections.Counter(json.loads(x)["n"] for x in f.lines() if not x.startswith(b"#"))
        assert got == {0: 1, 1: 1, 2: 1}, got
        said = [m for m in caplog.messages if "shipped again" in m or "re-read" in m]
        assert not said, said
    finally:
        f.tailer.close()
