"""A stop while the agent lags behind its writer (a burst it has not read yet) right after a rotation that deleted
the file it was reading, still held open: what it had not read of that file is let go at the stop and named lost.

Found (session 14, suite14's attack6 run: "data lost: 497675 bytes" for ~60 lines missing; reproduced session 15 by
freezing the agent mid-read): with logrotate `compress` (and Log4j 2's .gz backups) the deleted file is whole in its
.gz, from which the next start reads on where the reading got to; every line arrived once, yet the stop warned
"data lost: 12942000 bytes … the agent stopped before they were read" (all it had not read, every byte in the .gz).
Now a deleted file that a file of its family holds whole is not called lost at the stop (info: where it is,
copies.whole_copy); without such a copy (`rotate 0`) the loss is named once, with exactly the bytes missing."""
from __future__ import annotations

import re
import signal
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once, logrotate_of, numbered

N = 300_000  # lines (~13 MB): the agent, frozen early, is far from their end


def reading(agent: Agent) -> bool:
    files = (agent.get("/status")[1].get("sources", {}).get("app", {}).get("status") or {}).get("files") or []
    return any(0 < f["position"] < f["size"] for f in files)


@pytest.mark.parametrize("rotation", ["compressed", "deleted"])
def test_a_stop_while_lagging_names_only_what_is_really_lost(tmp_path, rotation):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, N)
    rotate = logrotate_of(tmp_path, log, "create\nmissingok\n" + ("rotate 4\ncompress" if rotation == "compressed"
                                                                   else "rotate 0"), settle=0)
    agent = Agent(tmp_path, [log])
    agent.start()
    deadline = time.monotonic() + 120
    while not reading(agent):  # (lines of the burst read, most of it not yet)
        assert time.monotonic() < deadline, agent.errors()[-1500:]
        time.sleep(0.05)
    agent.proc.send_signal(signal.SIGSTOP)  # frozen mid-read: it lags, and the rotation comes now
    rotate()
    agent.proc.send_signal(signal.SIGTERM)
    agent.proc.send_signal(signal.SIGCONT)
    assert agent.proc.wait(60) == 0, agent.errors()[-1500:]
    append_numbered(log, N, N + 100)
    agent.start()
    try:
        assert agent.wait_delivered(range(N, N + 100), 180), exactly_once(agent.seqs(), range(N, N + 100))
        agent.get("/status")
    finally:
        agent.stop()
    journal = agent.errors()
    seqs = agent.seqs()
    lost = [line for line in journal.splitlines() if "data lost" in line]
    if rotation == "compressed":
        assert exactly_once(seqs, range(N + 100)) == "", journal[-1500:]
        assert lost == [], "\n".join(lost)
        assert "app.log.1.gz holds all of it" in journal, journal[-1500:]  # (the stop says where the rest is)
    else:
        missing = sorted(set(range(N)) - set(seqs))
        assert missing and missing == list(range(missing[0], N)), exactly_once(seqs, range(N + 100))
        assert exactly_once(seqs, sorted(set(range(N + 100)) - set(missing))) == ""
        assert len(lost) == 1, "\n".join(lost)
        named = int(re.search(r"bytes_lost=(\d+)", lost[0]).group(1))
        assert named == sum(len(numbered(i)) for i in missing), lost[0]
