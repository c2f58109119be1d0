"""Attack 8 (issue 13's "state_dir filled mid-run: ends, recovers" and issue 23's "reloads at the worst
moments", together): a SIGHUP while the state_dir is full.

docs/operations.md: "The state_dir fills up … The commit is retried with backoff …; reading pauses meanwhile
… Free some space: shipper carries on by itself (`checkpoints saved again; reading resumes`), nothing lost and
nothing sent twice." A reload meanwhile that changes a source "first delivers what it has in flight …, then
starts again from its checkpoint".

Found (attack13, 3 of 3 runs by hand with a Fluentd peer, with and without rotation): after the reload the
source waits for "1 batches not completed … held by no output" (its checkpoint commit), and when the space
returns nothing carries on: no `checkpoints saved again`, /health stays 503 with `checkpoints cannot be saved
… database or disk is full` although the disk has room, and the lines written meanwhile are never shipped
(55,000-57,000 of 60,000 within 90 s after the space returned). The same fill without the reload recovers
(60,000 of 60,000, no duplicate)."""
from __future__ import annotations

import signal

from tests.fs_faults import fill, small_tmpfs
from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered, exactly_once


def test_a_reload_while_the_state_dir_is_full_recovers_when_space_returns(tmp_path):
    log = tmp_path / "app.log"
    append_numbered(log, 0, 2000)
    agent = Agent(tmp_path, [log])

    def config(tag: str) -> None:
        agent.cfg.write_text(f"""
state_dir: {tmp_path}/state
http: {{listen: "127.0.0.1:{agent.port}"}}
shutdown_timeout: 3
sources:
  - name: app
    type: file
    paths: [{log}]
    parser: json
    tags: [{tag}]
outputs:
  - type: stdout
""")

    config("before")
    with small_tmpfs(tmp_path / "state", 4096) as state:
        agent.start()
        try:
            assert agent.wait_delivered(range(2000), 120), agent.errors()
            filler = fill(state, 0)
            append_numbered(log, 2000, 3000)
            wait_until(lambda: "checkpoint commit failed" in agent.errors(), 60, "the commit to fail on the full disk")
            config("after")
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reload:" in agent.errors(), 60, "the reload to begin")
            append_numbered(log, 3000, 4000)
            filler.unlink()  # space again: the agent carries on by itself
            delivered = agent.wait_delivered(range(4000), 45)  # backoff is at most 10 s
            code, health = agent.get("/health")
            assert delivered, (f"after the space returned: {exactly_once(agent.seqs(), range(4000))}; "
                               f"/health {code} {str(health)[:300]}")
            assert "checkpoints saved again" in agent.errors()
        finally:
            agent.stop()
    assert exactly_once(agent.seqs(), range(4000)) == ""
