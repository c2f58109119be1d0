"""Black-box attack 30 (exam30a, stdout on a terminal): what a hang-up names as possibly unread when the lines are
long. docs/operations.md ("A terminal's hang-up is no reload"): the warning `stdout's terminal hung up: the last N
lines written to it … may not have reached its reader` names, once, "as many of the last lines as a terminal can
hold unread (about 72 KiB)".

Found (by hand, 2 of 2, raw and cooked terminal): with lines of ~30 KB (an audit record with a large request body),
the reader read the first 100 lines, stalled, 20 more were appended, the terminal hung up. The warning named `the
last 32 lines written to it (969696 bytes, what a terminal can hold unread)`: 13 times what a terminal holds, among
them lines its reader had read (nothing was lost: the 20 new lines met the hang-up and were written again at the
next start). A figure that says a terminal holds 0.9 MB sends the operator hunting for 32 lost lines that are
not lost; with small lines the count is right. Found beside test_attack28_terminal_hangup_loses_unread_pty_lines.py,
whose lines are small."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.stalled_reader import followed_log, on_a_terminal, read_terminal, shipped_numbers, unread, written_again
from tests.support import read_steady, stop_process, wait

PAD = 30_000  # bytes of each line's payload: ~30 KB a shipped line
TERMINAL_HOLDS = 72 * 1024  # what docs/operations.md says a terminal can hold unread


def numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"n": i, "p": "p" * PAD}) + "\n" for i in range(lo, hi))


def test_a_hang_up_names_no_more_long_lines_than_a_terminal_holds(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    log.write_text(numbered(0, 100))
    err = tmp_path / "first.err"
    agent, master = on_a_terminal(cfg, err)
    got = b""
    try:
        got = read_terminal(master, 100)
        assert len(shipped_numbers(got)) == 100, err.read_text()[-800:]
        with open(log, "a") as f:
            f.write(numbered(100, 120))  # the terminal's reader stalls now
        assert read_steady(lambda: unread(master), lambda n: n > 0, 30) > 0, "nothing written to the terminal"
        os.close(master)  # the terminal hangs up
        master = -1
        wait(lambda: agent.poll() is not None, 30)
    finally:
        if master >= 0:
            os.close(master)
        stop_process(agent, 30)
    again = written_again(cfg, tmp_path / "again.jsonl")
    missing = sorted(set(range(120)) - set(shipped_numbers(got) + shipped_numbers(again)))
    journal = err.read_text()
    named = re.findall(r"stdout's terminal hung up: the last (\d+) lines written to it \((\d+) bytes", journal)
    assert len(named) <= 1, journal
    lines, nbytes = (int(named[0][0]), int(named[0][1])) if named else (0, 0)
    assert len(missing) <= lines, f"{len(missing)} lines lost, {lines} named: {journal[-1500:]}"
    line_bytes = len(again.splitlines()[0]) + 1 if again else PAD
    assert nbytes <= TERMINAL_HOLDS + line_bytes, \
        f"named {lines} lines, {nbytes} bytes, as what a terminal can hold unread; {len(missing)} lost"
