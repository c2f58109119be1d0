"""A log holding only its header, read, copytruncated while the agent is stopped and given its header again with 30
events (attack 29's two-line header, attack 30's over 1 KiB): the new header's lines must be shipped again, or the
copytruncate window named."""
from __future__ import annotations

import json
import time

from tests.support import wait
from tests.tail.attack_agent import Agent, logrotate_of


def _events(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


def assert_header_read_again_or_window_named(tmp_path, header: bytes) -> None:
    header_lines = header.count(b"\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    logrotate = logrotate_of(tmp_path, live, "copytruncate\nrotate 3", settle=0)
    agent = Agent(tmp_path, [live])
    try:
        live.write_bytes(header)  # the application started: its header, no event yet
        agent.start()
        assert wait(lambda: agent.lines() == header_lines), agent.errors()
        time.sleep(2)  # read and committed
        agent.stop()
        logrotate()  # app.log.1 holds exactly the header read
        with open(live, "ab") as f:  # the application restarted: its header again, then events
            f.write(header + _events(0, 30))
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
    assert headers_shipped == header_lines or named, (
        f"the new header's lines shipped: {headers_shipped} of {header_lines}, and no loss named in the restarted "
        f"agent's journal:\n{journal}")
