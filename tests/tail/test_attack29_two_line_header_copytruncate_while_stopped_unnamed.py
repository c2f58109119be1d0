"""Attack 29 (issue 21, examiner exam29b): a log holding only a two-line header, copytruncated while the agent is
stopped and given its header again, loses the new header's lines and the copytruncate window, unnamed.

docs/design.md ("A live file of which only its head was read can be copied, truncated and given its head again"):
across a stop, a live file's own bytes cannot show such a cut, the copy does — a new file under a rotated name
holding exactly what was read — and the window is warned and counted naming the file and the copy
(`copies.head_copy_of_grown`, tests/tail/test_copytruncate_head_only_live.py). That holds for a header of one line
(the head). A layout header of two lines (a banner and a column line: W3C's `#Version`/`#Fields`, a Log4j
`header` with a line break, a comment above a CSV header) is all the agent read when it stopped; logrotate
copytruncates the log while the agent is down (`app.log.1` holds exactly those two lines) and the application,
restarted, writes its header again and 30 events. The restarted agent takes the live file for the content it read,
grown: it reads on after the old header, so the new header's two lines are never shipped, and nothing is said —
no copytruncate window (lines written between the copy and the truncation are lost), no repeat, no loss. With a
one-line header the same schedule names the window ("found by the copy, holding no more than the first line …").

Found by hand: 2 of 2 with a two-line header (the running agent having seen an earlier copytruncate first), 2 of 2
naming the window with a one-line header; in this test, the simplest shape (the header all that
the live file ever held), 2 of 2, and its one-line-header twin passes.
"""
from __future__ import annotations

import json
import time

from tests.support import wait
from tests.tail.attack_agent import Agent, logrotate_of

HEADER = b'{"banner": "app v1 starting"}\n{"columns": "time user action"}\n'
HEADER_LINES = HEADER.count(b"\n")


def _events(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


def test_two_line_header_copytruncated_while_stopped_is_read_again_or_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    logrotate = logrotate_of(tmp_path, live, "copytruncate\nrotate 3", settle=0)
    agent = Agent(tmp_path, [live])
    try:
        live.write_bytes(HEADER)  # the application started: its header, no event yet
        agent.start()
        assert wait(lambda: agent.lines() == HEADER_LINES), agent.errors()
        time.sleep(2)  # read and committed
        agent.stop()
        logrotate()  # app.log.1 holds exactly the header read
        with open(live, "ab") as f:  # the application restarted: its header again, then events
            f.write(HEADER + _events(0, 30))
        agent.start()
        assert agent.wait_delivered(range(30)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    restarted = [json.loads(line)["generic"] for line in (tmp_path / "out2.jsonl").read_bytes().splitlines()]
    headers_shipped = sum(1 for g in restarted if "seq" not in g)
    journal = (tmp_path / "out2.err").read_text(errors="replace")
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log.1" in ln]
    assert headers_shipped == HEADER_LINES or named, (
        f"the new header's lines shipped: {headers_shipped} of {HEADER_LINES}, and no loss named in the restarted "
        f"agent's journal:\n{journal}")
