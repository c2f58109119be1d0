"""A reload that really moves a file from one source to another says so, once (docs/operations.md: `… was followed by
source app until now (a reload moved it)`): the new source reads it from its own checkpoint or its start.

Beside tests/tail/test_attack19_reload_adds_sharing_source_says_moved.py (a source restarted by the reload that keeps
the file: nothing moved, nothing said), whose fix leaves the words about a file last followed by a restarted source
to that source's successor's first scan: these are the moves that must still be said, whichever source looks first.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest


def _line(n: int) -> bytes:
    return orjson.dumps({"seq": n, "msg": f"line {n}"}) + b"\n"


def _source(name: str, path: Path, tag: str) -> str:
    return f"  - name: {name}\n    type: file\n    paths: ['{path}']\n    parser: json\n    tags: [{tag}]\n"


def _config(d: Path, sources: str) -> str:
    return f"state_dir: {d}/state\nsources:\n{sources}outputs:\n  - type: stdout\n"


def _wait(cond, timeout: float, what: str, journal) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}; journal: {journal()[-2000:]}")
        time.sleep(0.05)


# After the reload: `s` removed and `t` over app.log (a rename), or `s` restarted on another file and `t` added
# over app.log by the same reload (t starts before s's successor looks: left to that look).
AFTER = {
    "renamed": lambda log, other: _source("t", log, "g0"),
    "restarted elsewhere": lambda log, other: _source("s", other, "g1") + _source("t", log, "g0"),
}


@pytest.mark.parametrize("after", sorted(AFTER))
def test_a_file_a_reload_moves_to_another_source_is_said_moved_once(tmp_path, after):
    logs = tmp_path / "logs"
    logs.mkdir()
    log, other = logs / "app.log", logs / "other.log"
    log.write_bytes(b"".join(_line(i) for i in range(100)))
    other.write_bytes(b"")
    out, err, cfg = tmp_path / "out.jsonl", tmp_path / "agent.log", tmp_path / "c.yaml"
    cfg.write_text(_config(tmp_path, _source("s", log, "g0")))
    with open(out, "wb") as so, open(err, "wb") as se:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=so, stderr=se)

    def journal() -> str:
        return err.read_text(errors="replace")

    def shipped() -> int:
        return len(out.read_bytes().splitlines())

    try:
        _wait(lambda: shipped() >= 100, 60, "the first 100 lines were not shipped", journal)
        cfg.write_text(_config(tmp_path, AFTER[after](log, other)))
        agent.send_signal(signal.SIGHUP)
        _wait(lambda: "msg=reloaded" in journal(), 60, "the reload did not end", journal)
        # t reads app.log from its start (read_from: beginning): the 100 lines again, as the warning says.
        _wait(lambda: shipped() >= 200, 60, "source t did not read app.log", journal)
        _wait(lambda: "a reload moved it" in journal(), 60, "the move was not said", journal)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    lines = journal().splitlines()
    moved = [ln for ln in lines if "a reload moved it" in ln]
    assert len(moved) == 1, moved
    assert f"{log} was followed by source s until now" in moved[0] and "source t reads it" in moved[0], moved[0]
    assert not [ln for ln in lines if "is followed by source(s)" in ln], "nothing is followed by two sources"
