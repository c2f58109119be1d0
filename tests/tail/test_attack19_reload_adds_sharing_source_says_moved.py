"""Examiner exam23b (session 21, docs only): a reload that adds a second source over a followed file says it "moved".

README ("Following files through rotation"): a file that two sources' `paths` both match is shipped by each (every
line twice), and a warning names the file and the other source. docs/operations.md: "a reload that moves a file to a
renamed source says so (`… was followed by source app until now (a reload moved it)`)".

Here nothing moves: source `s` follows app.log and keeps it; one reload adds source `t`, whose glob matches app.log
too, and changes `s`'s tags (so `s` restarts, same paths). The agent says, 4 of 4 runs (2 by hand with a Log4j-like
writer rotating, 2 here):

    source.t: …/app.log was followed by source s until now (a reload moved it): source t reads it from its own
    checkpoint or from its start (read_from), so lines source s shipped may be shipped again

(with `s` left unchanged the line is not said: 2 of 2) beside the right warning (`app.log is followed by
source(s) s too: each ships its lines (every line twice)`). `s` still follows app.log and ships every new line
(checked below): the "moved" line names a cause that did not happen, and "may be shipped again" understates what
the shared file does (every line twice, for as long as both match).

Fixed (moved23): the restarting `s` closed (its claim on app.log released) before `t` started, and `t`'s first scan took
the file for moved before the new `s` had looked. A file last followed by a source a reload restarted is decided by
that source's successor's first scan (plugins/sources/file.py, `_restarted`). The moves that are real are still said:
tests/tail/test_reload_moves_file_between_sources.py.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest


def _line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"u{n}", "file-path": f"/f/{n}"}) + b"\n"


def _config(d: Path, log: Path, with_t: bool) -> str:
    srcs = (f"  - name: s\n    type: file\n    paths: ['{log}']\n    parser: datameer\n    parse_workers: 0\n"
            f"    tags: [{'g1' if with_t else 'g0'}]\n")
    if with_t:
        srcs += f"  - name: t\n    type: file\n    paths: ['{log.parent}/*.log']\n    parser: datameer\n    parse_workers: 0\n"
    return f"state_dir: {d}/state\nsources:\n{srcs}outputs:\n  - type: stdout\n"


def _wait(cond, timeout: float, what: str, journal) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}; journal: {journal()[-2000:]}")
        time.sleep(0.05)


def test_a_reload_adding_a_second_source_over_a_file_does_not_say_it_moved(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(b"".join(_line(i) for i in range(100)))
    out, err, cfg = tmp_path / "out.jsonl", tmp_path / "agent.log", tmp_path / "c.yaml"
    cfg.write_text(_config(tmp_path, log, with_t=False))
    with open(out, "wb") as so, open(err, "wb") as se:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=so, stderr=se)

    def journal() -> str:
        return err.read_text(errors="replace")

    def lines() -> list[dict]:
        return [orjson.loads(ln) for ln in out.read_bytes().splitlines()]

    try:
        _wait(lambda: len(lines()) >= 100, 60, "the first 100 lines were not shipped", journal)
        cfg.write_text(_config(tmp_path, log, with_t=True))
        agent.send_signal(signal.SIGHUP)
        _wait(lambda: "msg=reloaded" in journal(), 60, "the reload did not end", journal)
        # t reads app.log from its start (read_from: beginning): 100 more; then a new line, shipped by both.
        _wait(lambda: len(lines()) >= 200, 60, "source t did not ship app.log", journal)
        with open(log, "ab") as f:
            f.write(_line(100))
        _wait(lambda: len(lines()) >= 202, 60, "the new line was not shipped by both sources", journal)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    shipped_by = Counter(ev.get("user", {}).get("name") for ev in lines())
    assert shipped_by["u100"] == 2, "s and t both ship the shared file's new line"
    text = journal()
    assert "is followed by source(s)" in text, "the shared file is named with the other source"
    moved = [ln for ln in text.splitlines() if "a reload moved it" in ln]
    assert not moved, moved[0]
